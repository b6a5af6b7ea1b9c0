//! Log lines of the libraries (keptn-service logs through `tracing`) on stderr, as
//! `<prefix>: <message>` lines like the ones the commands print themselves.

use std::fmt;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `<prefix>: ` then the event's message and fields.
struct Prefixed(&'static str);

impl<S, N> FormatEvent<S, N> for Prefixed
where
    S: tracing::Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        write!(writer, "{}: ", self.0)?;
        context.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Sends log events of level info and above to stderr, prefixed; a no-op when a logger is
/// set already (a second control plane in one process, tests).
pub fn init(prefix: &'static str) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .event_format(Prefixed(prefix))
        .try_init();
}
