//! Reading what JMeter leaves behind: the results file (JTL, CSV with a header line, as the
//! runner asks for with `-Jjmeter.save.saveservice.print_field_names=true`), the `summary =`
//! line of its standard output, and the lines of its log that explain a failure.
//!
//! Every data row of the JTL is one sample and counts: nothing is discarded, not the slow
//! first sample of each thread either (JMeter's own summary counts it too).

use std::path::Path;

use super::Error;

/// What one JMeter run measured, from its results file.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Samples (rows of the results file).
    pub samples: u64,
    /// Failed samples (`success` is `false`).
    pub errors: u64,
    /// Average response time (`elapsed`), milliseconds, exact.
    pub avg_ms: f64,
    /// The average as JMeter's summary prints it and jmeter-service compared it: whole
    /// milliseconds, rounded down (sum of `elapsed` divided by samples).
    pub avg_whole_ms: u64,
    /// Fastest sample, milliseconds.
    pub min_ms: u64,
    /// Slowest sample, milliseconds.
    pub max_ms: u64,
    /// Median response time (nearest rank), milliseconds.
    pub p50_ms: u64,
    /// 90th percentile (nearest rank), milliseconds.
    pub p90_ms: u64,
    /// 95th percentile (nearest rank), milliseconds.
    pub p95_ms: u64,
    /// 99th percentile (nearest rank), milliseconds.
    pub p99_ms: u64,
    /// When the first sample started, milliseconds since the Unix epoch (`timeStamp`).
    pub first_sample_ms: u64,
    /// When the last sample ended (`timeStamp` + `elapsed`), milliseconds since the epoch.
    pub last_sample_end_ms: u64,
    /// The first failed sample, for the report (`POST /carts/1/items: 500 Internal Server
    /// Error`).
    pub first_failure: Option<String>,
    /// The last `summary =` line of JMeter's standard output, when there is one.
    pub summary_line: Option<String>,
    /// Wall-clock time of the JMeter process, JVM start included (zero when only the file
    /// was read).
    pub wall_time: std::time::Duration,
}

impl Stats {
    /// Failed samples as a share of all samples (0 without samples).
    pub fn error_rate(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.errors as f64 / self.samples as f64
        }
    }
}

/// The numbers of a `summary =` line: `summary =  6 in 1s = 5.9/s Avg: 41 Min: 5 Max: 104
/// Err: 0 (0.00%)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Samples.
    pub samples: u64,
    /// Average response time, whole milliseconds.
    pub avg_ms: u64,
    /// Failed samples.
    pub errors: u64,
}

/// The last line of JMeter's standard output that starts with `summary =`, as jmeter-service
/// read it.
pub fn last_summary_line(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .rev()
        .map(str::trim_end)
        .find(|line| line.starts_with("summary ="))
}

/// Parses a `summary =` line; `None` when it is not one.
pub fn parse_summary(line: &str) -> Option<Summary> {
    let rest = line.strip_prefix("summary =")?;
    let mut words = rest.split_whitespace();
    let samples = words.next()?.parse().ok()?;
    let mut avg_ms = None;
    let mut errors = None;
    while let Some(word) = words.next() {
        match word {
            "Avg:" => avg_ms = words.next().and_then(|value| value.parse().ok()),
            "Err:" => errors = words.next().and_then(|value| value.parse().ok()),
            _ => {}
        }
    }
    Some(Summary {
        samples,
        avg_ms: avg_ms?,
        errors: errors?,
    })
}

/// Splits CSV text into records: fields separated by `,`, a field in double quotes may hold
/// commas, line breaks and doubled quotes (`""`), as JMeter writes them. Each record comes
/// with the 1-based line it starts on. Empty lines are skipped.
/// A CSV record: the line it starts on and its fields.
type Record = (usize, Vec<String>);
/// A CSV syntax error: the line and what is wrong.
type CsvError = (usize, String);

fn records(text: &str) -> Result<Vec<Record>, CsvError> {
    let mut res = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start_line = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(next) = chars.next() else {
                if quoted {
                    return Err((start_line, "a quoted field is not closed".to_owned()));
                }
                fields.push(std::mem::take(&mut field));
                break;
            };
            if quoted {
                match next {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        field.push('\n');
                    }
                    other => field.push(other),
                }
                continue;
            }
            match next {
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                '"' => {
                    return Err((
                        line,
                        "a quote inside an unquoted field (quote the whole field)".to_owned(),
                    ));
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                other if was_quoted => {
                    return Err((
                        line,
                        format!("'{other}' after a closing quote (expected ',' or a line end)"),
                    ));
                }
                other => field.push(other),
            }
        }
        if !(fields.len() == 1 && fields[0].is_empty() && !was_quoted) {
            res.push((start_line, fields));
        }
    }
    Ok(res)
}

/// Reads the text of a JTL file (CSV with a header line) into [`Stats`]; `path` only names
/// the file in errors. An empty text gives zero samples. Required columns: `timeStamp`
/// (milliseconds since the epoch), `elapsed` and `success`; `label`, `responseCode`,
/// `responseMessage` and `failureMessage` describe the first failure when present.
pub fn parse_jtl(path: &Path, text: &str) -> Result<Stats, Error> {
    let invalid = |line: usize, reason: String| Error::InvalidJtl {
        path: path.to_owned(),
        line,
        reason,
    };
    let rows = records(text).map_err(|(line, reason)| invalid(line, reason))?;
    let mut rows = rows.into_iter();
    let Some((header_line, header)) = rows.next() else {
        return Ok(empty_stats());
    };
    let column = |name: &str| header.iter().position(|field| field == name);
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            invalid(
                header_line,
                format!(
                    "no '{name}' column in the header '{}' (JMeter writes it with -Jjmeter.save.saveservice.print_field_names=true)",
                    header.join(",")
                ),
            )
        })
    };
    let timestamp_column = required("timeStamp")?;
    let elapsed_column = required("elapsed")?;
    let success_column = required("success")?;
    let label_column = column("label");
    let code_column = column("responseCode");
    let message_column = column("responseMessage");
    let failure_column = column("failureMessage");
    let mut elapsed_values = Vec::new();
    let mut total_elapsed: u128 = 0;
    let mut errors = 0;
    let mut first_sample_ms = u64::MAX;
    let mut last_sample_end_ms = 0;
    let mut first_failure = None;
    for (line, fields) in rows {
        if fields.len() != header.len() {
            return Err(invalid(
                line,
                format!(
                    "{} fields, but the header has {} columns",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        let number = |column: usize, name: &str| {
            fields[column].trim().parse::<u64>().map_err(|_| {
                invalid(
                    line,
                    format!("'{name}' must be a whole number, got '{}'", fields[column]),
                )
            })
        };
        let timestamp = number(timestamp_column, "timeStamp")?;
        let elapsed = number(elapsed_column, "elapsed")?;
        let success = match fields[success_column].trim() {
            "true" => true,
            "false" => false,
            other => {
                return Err(invalid(
                    line,
                    format!("'success' must be 'true' or 'false', got '{other}'"),
                ));
            }
        };
        total_elapsed += u128::from(elapsed);
        elapsed_values.push(elapsed);
        first_sample_ms = first_sample_ms.min(timestamp);
        last_sample_end_ms = last_sample_end_ms.max(timestamp.saturating_add(elapsed));
        if !success {
            errors += 1;
            if first_failure.is_none() {
                let field = |column: Option<usize>| {
                    column
                        .map(|column| fields[column].trim())
                        .filter(|text| !text.is_empty())
                };
                let mut text = field(label_column).unwrap_or("sample").to_owned();
                text.push(':');
                for part in [
                    field(code_column),
                    field(message_column),
                    field(failure_column),
                ]
                .into_iter()
                .flatten()
                {
                    text.push(' ');
                    text.push_str(part);
                }
                first_failure = Some(text);
            }
        }
    }
    let samples = elapsed_values.len() as u64;
    if samples == 0 {
        return Ok(empty_stats());
    }
    elapsed_values.sort_unstable();
    let avg_whole_ms = u64::try_from(total_elapsed / u128::from(samples)).unwrap_or(u64::MAX);
    Ok(Stats {
        samples,
        errors,
        avg_ms: total_elapsed as f64 / samples as f64,
        avg_whole_ms,
        min_ms: elapsed_values[0],
        max_ms: elapsed_values[elapsed_values.len() - 1],
        p50_ms: nearest_rank(&elapsed_values, 0.50),
        p90_ms: nearest_rank(&elapsed_values, 0.90),
        p95_ms: nearest_rank(&elapsed_values, 0.95),
        p99_ms: nearest_rank(&elapsed_values, 0.99),
        first_sample_ms,
        last_sample_end_ms,
        first_failure,
        summary_line: None,
        wall_time: std::time::Duration::ZERO,
    })
}

fn empty_stats() -> Stats {
    Stats {
        samples: 0,
        errors: 0,
        avg_ms: 0.0,
        avg_whole_ms: 0,
        min_ms: 0,
        max_ms: 0,
        p50_ms: 0,
        p90_ms: 0,
        p95_ms: 0,
        p99_ms: 0,
        first_sample_ms: 0,
        last_sample_end_ms: 0,
        first_failure: None,
        summary_line: None,
        wall_time: std::time::Duration::ZERO,
    }
}

/// The nearest-rank percentile of sorted, non-empty values.
fn nearest_rank(sorted: &[u64], quantile: f64) -> u64 {
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The most lines of JMeter's output an error message quotes.
const MAX_LOG_LINES: usize = 12;
/// The longest line an error message quotes, in characters.
const MAX_LINE_CHARS: usize = 300;

/// The lines of JMeter's log and output that explain a failure: errors, fatal errors and
/// their causes. When none matches, the last lines of the log (or of the output).
pub(super) fn relevant_lines(log: &str, output: &str) -> Vec<String> {
    let shorten = |line: &str| {
        let line = line.trim();
        if line.chars().count() > MAX_LINE_CHARS {
            let short: String = line.chars().take(MAX_LINE_CHARS).collect();
            format!("{short}...")
        } else {
            line.to_owned()
        }
    };
    let mut res: Vec<String> = Vec::new();
    let interesting = |line: &str| {
        line.contains(" ERROR ")
            || line.contains(" FATAL ")
            || line.trim_start().starts_with("Caused by:")
            || line.starts_with("Error ")
            || line.contains("Exception:")
            || line.starts_with("An error occurred")
    };
    for line in log.lines().chain(output.lines()) {
        if interesting(line) {
            let line = shorten(line);
            if !res.contains(&line) {
                res.push(line);
            }
        }
        if res.len() == MAX_LOG_LINES {
            return res;
        }
    }
    if res.is_empty() {
        let source = if log.trim().is_empty() { output } else { log };
        let lines: Vec<&str> = source
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        let start = lines.len().saturating_sub(5);
        res = lines[start..].iter().map(|line| shorten(line)).collect();
    }
    res
}

/// Whether the log says the plan could not be loaded (JMeter then runs nothing and still
/// exits 0).
pub(super) fn plan_not_loaded(log: &str, output: &str) -> bool {
    let says = |text: &str| {
        text.contains("Error in NonGUIDriver")
            || text.contains("Failed to load")
            || text.contains("Problem loading XML")
    };
    says(log) || says(output)
}

/// What probably helps, judging by the log: the known causes of a plan that does not load.
pub(super) fn hint(log: &str, output: &str) -> Option<String> {
    let says = |needle: &str| log.contains(needle) || output.contains(needle);
    if says("ForbiddenClassException") {
        Some(
            "xstream refused the plan's classes: keep xstream_fix on, and check that the fix's \
             saveservice.properties is the one jmeter loaded"
                .to_owned(),
        )
    } else if says("Can't register a converter")
        || (says("HTTPSamplerProxy") && says("CannotResolveClassException"))
    {
        Some("jmeter has no http sampler: install the Debian package jmeter-http".to_owned())
    } else if says("CannotResolveClassException") || says("ConversionException") {
        Some(
            "the plan uses an element this jmeter does not know (a plugin, or a newer jmeter's \
             element)"
                .to_owned(),
        )
    } else {
        None
    }
}
