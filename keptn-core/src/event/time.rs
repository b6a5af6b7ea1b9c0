//! Time as a value: milliseconds since the Unix epoch, passed in by the caller.

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z. keptn-core never reads a
/// clock: the caller passes `now` in.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This time plus a duration (saturating).
    pub fn plus(self, duration: std::time::Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// Milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Formats a timestamp as RFC 3339 UTC with milliseconds (`2021-01-15T15:09:46.268Z`), the form
/// Keptn's services write.
pub fn format_rfc3339(timestamp: Timestamp) -> String {
    let millis = timestamp.0 % 1000;
    let total_seconds = timestamp.0 / 1000;
    let days = total_seconds / 86_400;
    let seconds_of_day = total_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    // Written digit by digit: this runs for every event the orchestrator emits.
    let mut res = String::with_capacity(24);
    push_digits(&mut res, year, 4);
    let parts = [
        ('-', month, 2),
        ('-', day, 2),
        ('T', seconds_of_day / 3600, 2),
        (':', (seconds_of_day / 60) % 60, 2),
        (':', seconds_of_day % 60, 2),
        ('.', millis, 3),
    ];
    for (separator, value, width) in parts {
        res.push(separator);
        push_digits(&mut res, value, width);
    }
    res.push('Z');
    res
}

/// Parses an RFC 3339 time (`2021-01-15T15:09:46.268Z`, any offset); `None` when the text is
/// not one or names a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(time.timestamp_millis()).ok().map(Timestamp)
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(res: &mut String, value: u64, width: u32) {
    for position in (0..width).rev() {
        let digit = (value / 10_u64.pow(position)) % 10;
        res.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
