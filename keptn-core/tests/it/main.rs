//! Integration tests of keptn-core, written as data: every file under `tests/data/<group>/`
//! is one case and its result is an insta snapshot under `tests/it/snapshots/`.

mod events;
mod orchestrator;
mod shipyard;
mod simulate;
