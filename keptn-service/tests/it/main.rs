//! keptn-service end to end, in process: control planes on the in-memory store and
//! configuration repository, with the built-in integrations and small fakes of the ports.

mod control_plane;
mod integrations;
mod support;
