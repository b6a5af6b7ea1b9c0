//! keptn-adapters: one module per integration (Prometheus, JMeter, the local platform, Helm,
//! Istio, SQLite, PostgreSQL, NATS, git, ...), each implementing a trait of `keptn-core`.
//!
//! Not built out yet (issues 4 and 5): this crate compiles and holds no adapter so far.
