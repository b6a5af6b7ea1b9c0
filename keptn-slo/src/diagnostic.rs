//! Diagnostics: what is wrong with an SLO file, where (YAML path and line:column), and how bad.

use std::fmt;

use crate::aggregate::Aggregate;
use crate::criteria::CriterionError;
use crate::yaml::{Location, YamlPath};

/// Whether a diagnostic stops the file from being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is used; the user should still look at this.
    Warning,
}

/// What is wrong, with the data a caller may branch on.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The text is not YAML. The message comes from the YAML parser.
    Syntax(String),
    /// A value has the wrong type (a string where a number belongs, a list where a mapping
    /// belongs). The message comes from the deserializer.
    Type(String),
    /// A key the format does not know. Keptn ignored such keys silently.
    UnknownKey {
        /// The key as written.
        key: String,
        /// A known key that is close, when there is one.
        suggestion: Option<&'static str>,
    },
    /// A pass or warning criterion that does not parse (Keptn ignored a bad warning criterion
    /// and reported a bad pass criterion as an ordinary fail with score 0).
    InvalidCriterion {
        /// The criterion as written.
        criterion: String,
        /// Why it does not parse.
        reason: CriterionError,
    },
    /// `aggregate_function` names no known function (Keptn aggregated such names to 0).
    UnknownAggregate {
        /// The name as written.
        name: String,
    },
    /// `compare_with` is neither `single_result` nor `several_results`.
    UnknownCompareWith {
        /// The value as written.
        name: String,
    },
    /// `include_result_with_score` is not `pass`, `pass_or_warn` or `all` (Keptn read such
    /// values as `all`).
    UnknownIncludeResult {
        /// The value as written.
        name: String,
    },
    /// `number_of_comparison_results` is negative.
    NegativeComparisonResults(i64),
    /// A weight that is not a whole number (Keptn's YAML decoder truncated it, `2.7` to 2).
    FractionalWeight(f64),
    /// An objective without an `sli` name.
    MissingSli,
    /// `total_score.pass` is missing although some objective is scored.
    MissingPassThreshold,
    /// A `total_score` threshold that is not a number or a percentage.
    InvalidThreshold {
        /// The threshold as written.
        text: String,
    },
    /// A `pass` or `warning` list entry that is empty (`- ~`).
    EmptyCriteriaEntry,
    /// Warning: the warning threshold is above the pass threshold, so a `warning` result
    /// can never happen.
    WarningAbovePass {
        /// The pass threshold in percent.
        pass: f64,
        /// The warning threshold in percent.
        warning: f64,
    },
    /// Warning: `number_of_comparison_results` is ignored with `single_result`.
    IgnoredComparisonResults(i64),
    /// Warning: a `spec_version` this implementation was not written against.
    UnknownSpecVersion(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Syntax(message) => write!(f, "not valid YAML: {message}"),
            Problem::Type(message) => f.write_str(message),
            Problem::UnknownKey { key, suggestion } => {
                write!(f, "unknown key '{key}' (ignored)")?;
                if let Some(suggestion) = suggestion {
                    write!(f, "; did you mean '{suggestion}'?")?;
                }
                Ok(())
            }
            Problem::InvalidCriterion { criterion, reason } => {
                write!(f, "invalid criterion '{criterion}': {reason}")
            }
            Problem::UnknownAggregate { name } => write!(
                f,
                "unknown aggregate function '{name}', expected one of {}",
                Aggregate::NAMES.join(", ")
            ),
            Problem::UnknownCompareWith { name } => write!(
                f,
                "unknown compare_with '{name}', expected 'single_result' or 'several_results'"
            ),
            Problem::UnknownIncludeResult { name } => write!(
                f,
                "unknown include_result_with_score '{name}', expected 'pass', 'pass_or_warn' or 'all'"
            ),
            Problem::NegativeComparisonResults(n) => write!(
                f,
                "number_of_comparison_results is {n}, expected a whole number of 1 or more"
            ),
            Problem::FractionalWeight(weight) => write!(
                f,
                "weight {weight} is not a whole number (Keptn truncated it), expected an integer such as 1 or 2"
            ),
            Problem::MissingSli => f.write_str("objective has no 'sli' name"),
            Problem::MissingPassThreshold => f.write_str(
                "no target score defined: total_score.pass is required when an objective has pass criteria, e.g. pass: \"90%\"",
            ),
            Problem::InvalidThreshold { text } => write!(
                f,
                "invalid score threshold '{text}', expected a number or a percentage such as 90 or \"90%\""
            ),
            Problem::EmptyCriteriaEntry => {
                f.write_str("empty entry, expected a mapping with a 'criteria' list")
            }
            Problem::WarningAbovePass { pass, warning } => write!(
                f,
                "warning threshold {warning}% is above the pass threshold {pass}%, so no evaluation can end in 'warning'"
            ),
            Problem::IgnoredComparisonResults(n) => write!(
                f,
                "number_of_comparison_results: {n} is ignored because compare_with is single_result"
            ),
            Problem::UnknownSpecVersion(version) => write!(
                f,
                "spec_version '{version}' is not one this implementation knows (1.0, 0.1.x); reading it as 1.0"
            ),
        }
    }
}

/// One finding about an SLO file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the document.
    pub path: YamlPath,
    /// Where in the text, when it could be found.
    pub location: Option<Location>,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = self.location {
            write!(f, "{location}: ")?;
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.path.0.is_empty() {
            write!(f, "{severity}: {}", self.problem)
        } else {
            write!(f, "{severity}: at {}: {}", self.path, self.problem)
        }
    }
}

/// Why an SLO file could not be used. Every problem found is reported at once.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The text is not YAML, or a value has the wrong type; nothing further was checked.
    #[error("{0}")]
    Syntax(Diagnostic),
    /// The file parsed but broke one or more rules; warnings found on the way are included.
    #[error("{}", display_all(.0))]
    Invalid(Vec<Diagnostic>),
}

impl Error {
    /// Every diagnostic of this error, errors and warnings, in document order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Syntax(diagnostic) => std::slice::from_ref(diagnostic),
            Error::Invalid(diagnostics) => diagnostics,
        }
    }
}

fn display_all(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let lowered = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| (strsim::levenshtein(&lowered, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}
