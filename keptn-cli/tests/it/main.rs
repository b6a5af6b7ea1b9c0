//! Integration tests of the `keptn` binary: each module drives one command end to end.

mod canary;
mod duplicates;
mod evaluate;
mod postgres;
mod quickstart;
mod remediation;
mod serve;
mod shipyard;
mod support;
