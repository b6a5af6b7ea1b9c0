//! keptn-core: the control-plane model of keptn-rs.
//!
//! Not built out yet (issue 3): shipyard and uniform specs, Keptn CloudEvents, the sequence
//! orchestrator as a pure state machine and the adapter traits will live here.
//!
//! Invariant: nothing in this crate touches the clock, the filesystem or the network.
