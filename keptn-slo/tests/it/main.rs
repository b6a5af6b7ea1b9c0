//! Integration tests of keptn-slo: golden cases as data, and property tests.

mod evaluate;
mod properties;
