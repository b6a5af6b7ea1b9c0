//! The errors of keptn-service.

use std::sync::Arc;

use keptn_core::ports::AdapterError;

/// What can go wrong in the control plane.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The control plane has stopped (shut down, or its loop ended on a failed commit).
    #[error("the control plane has stopped")]
    Stopped,
    /// A store call failed.
    #[error("cannot {action}")]
    Store {
        /// What the control plane was doing (`commit an orchestrator transition`).
        action: &'static str,
        /// The store's error.
        #[source]
        source: Arc<AdapterError>,
    },
    /// An event-bus call failed.
    #[error("the event bus cannot {action}")]
    Bus {
        /// What the control plane was doing (`subscribe integration 'noop'`).
        action: String,
        /// The bus's error.
        #[source]
        source: Arc<AdapterError>,
    },
    /// Two integrations of one control plane have the same name (names are their event
    /// sources and bus groups, so they must be unique).
    #[error("two integrations are named '{name}'")]
    DuplicateIntegration {
        /// The name.
        name: String,
    },
}

impl Error {
    pub(crate) fn store(action: &'static str) -> impl FnOnce(AdapterError) -> Error {
        move |source| Error::Store {
            action,
            source: Arc::new(source),
        }
    }
}
