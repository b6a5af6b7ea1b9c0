//! The wall clock, for the adapters that stamp what they measured (test runs, router
//! records): the one place in keptn-adapters that reads it.

use std::time::{SystemTime, UNIX_EPOCH};

use keptn_core::event::Timestamp;

/// The current time, in milliseconds since the Unix epoch.
#[cfg_attr(
    not(any(feature = "jmeter", feature = "loadgen", feature = "local")),
    allow(dead_code)
)]
pub(crate) fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}
