//! keptn-service: the keptn-rs control plane as a library.
//!
//! A [`ControlPlane`] runs Keptn's sequences for the projects it is given: it takes in events
//! ([`ControlPlane::accept`]), runs them through the orchestrator of keptn-core, commits each
//! step to a [`keptn_core::ports::Store`] before it answers (state, the events taken in, the
//! events emitted: one transaction), publishes what it committed on a
//! [`keptn_core::ports::EventBus`], and runs the [`Integration`]s subscribed to those events.
//! Everything it touches comes in through keptn-core's ports, so the same loop runs on
//! SQLite or PostgreSQL, with the in-process bus or a broker, embedded in a custom controller
//! or behind `keptn serve`'s HTTP API.
//!
//! - [`ControlPlane::builder`]: store, configuration repository, bus ([`InProcessBus`] by
//!   default), [`Clock`], orchestrator timeouts, integrations; [`Builder::start`] recovers
//!   after a crash (outbox, open task triggers, events of earlier versions' inboxes).
//! - [`Integration`] with its [`Registration`] (name and subscriptions) and the [`Context`] it
//!   answers through; [`integrations`] holds the built-in ones, written over the ports:
//!   `noop`, Keptn's approval-service, lighthouse-service, remediation-service (get-action),
//!   deployments/releases/rollbacks over a `Deployer`, tests over a `TestRunner`, get-sli over
//!   an `SliProvider`, actions over an `ActionRunner`.
//! - [`MetricsSnapshot`]: what it counted, as data.
//!
//! Invariants: an event is acknowledged only once the transition it caused is committed; a
//! failed commit stops the loop (the state in memory would be ahead of the store) and
//! [`ControlPlane::stopped`] says why; events it emitted are published at least once (after a
//! crash, again), so consumers deduplicate by event id. This crate never depends on an
//! adapter or on the CLI: it knows tools only through the ports.
//!
//! ```
//! use std::sync::Arc;
//! use keptn_core::memory::{MemoryConfigRepo, MemoryStore};
//! use keptn_service::{ControlPlane, Registration, integrations::Noop};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let control_plane = ControlPlane::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .config_repo(Arc::new(MemoryConfigRepo::new()))
//!     .integration(Arc::new(Noop::new(
//!         Registration::for_events("noop", &["sh.keptn.event.*.triggered"]).unwrap(),
//!     )))
//!     .start()
//!     .await
//!     .expect("starts");
//! assert_eq!(control_plane.integrations(), ["noop"]);
//! control_plane.shutdown().await.expect("stops cleanly");
//! # });
//! ```

#![deny(missing_docs)]

mod bus;
mod clock;
mod control_plane;
mod engine;
mod error;
mod integration;
pub mod integrations;
mod metrics;

pub use bus::{DEFAULT_CAPACITY as BUS_CAPACITY, InProcessBus};
pub use clock::{Clock, ManualClock, SystemClock};
pub use control_plane::{Builder, ControlPlane, StartError};
pub use engine::{Received, normalise};
pub use error::Error;
pub use integration::{Context, Integration, Registration};
pub use metrics::{Histogram, MetricsSnapshot};

/// The README's embedding examples (the control plane and the quality gate), compiled and run
/// as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
