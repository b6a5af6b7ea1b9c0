//! Cross-crate scenarios for keptn-rs live in `tests/it/`: the control plane of keptn-service
//! embedded with the durable adapters of keptn-adapters (SQLite, git), as a custom controller
//! would run it. This library is empty on purpose.
