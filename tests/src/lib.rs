//! End-to-end tests for keptn-rs live in `tests/it/`: they run the `keptn` binary that cargo
//! builds for the workspace against the files in `examples/`. This library is empty on purpose.
