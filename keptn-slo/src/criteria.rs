//! The criteria grammar of Keptn SLOs: `<600`, `<=+10%`, `>-5`, `=0`.
//!
//! One criterion is an operator, an optional sign, a number and an optional `%`. It is parsed
//! once, when the SLO is validated; nobody else parses criteria strings.
//!
//! Rules kept from Keptn (lighthouse-service):
//! - every U+0020 space is removed first (tabs are not, and then fail);
//! - the operator is the first of `<=`, `<`, `=`, `>=`, `>` that is a prefix;
//! - a trailing `%` makes the criterion relative to the baseline, increasing unless the number
//!   starts with `-` (`<=10%` means `<=+10%`);
//! - a leading `+` or `-` makes it relative, as an absolute delta unless `%` follows;
//! - the number accepts exponents, `inf` and `NaN`, `.5` and `5.`.

use std::fmt;
use std::sync::Arc;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `=`: exact float equality.
    Equal,
    /// `>=`
    GreaterOrEqual,
    /// `>`
    Greater,
}

impl Operator {
    /// Whether `measured OP target` holds.
    #[inline]
    pub fn holds(self, measured: f64, target: f64) -> bool {
        match self {
            Operator::Less => measured < target,
            Operator::LessOrEqual => measured <= target,
            Operator::Equal => measured == target,
            Operator::GreaterOrEqual => measured >= target,
            Operator::Greater => measured > target,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Less => "<",
            Operator::LessOrEqual => "<=",
            Operator::Equal => "=",
            Operator::GreaterOrEqual => ">=",
            Operator::Greater => ">",
        }
    }
}

/// What a criterion compares the measured value with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// A fixed number: `<600`.
    Fixed(f64),
    /// The baseline (aggregated earlier results) changed by a percentage: `<=+10%`, `>=-5%`.
    Percent {
        /// `true` for `+` (or no sign), `false` for `-`.
        increase: bool,
        /// The percentage, as written after the sign.
        percent: f64,
    },
    /// The baseline changed by an absolute amount: `<=+100`, `>-5`.
    Delta {
        /// `true` for `+`, `false` for `-`.
        increase: bool,
        /// The amount, as written after the sign.
        amount: f64,
    },
}

impl Threshold {
    /// Whether this threshold depends on earlier results.
    pub fn is_relative(&self) -> bool {
        !matches!(self, Threshold::Fixed(_))
    }

    /// The target value for a given baseline, computed in Keptn's order of operations.
    /// A fixed threshold ignores the baseline.
    #[inline]
    pub fn target(&self, baseline: f64) -> f64 {
        match *self {
            Threshold::Fixed(value) => value,
            Threshold::Percent {
                increase: true,
                percent,
            } => baseline * (100.0 + percent) / 100.0,
            Threshold::Percent {
                increase: false,
                percent,
            } => baseline * (100.0 - percent) / 100.0,
            Threshold::Delta {
                increase: true,
                amount,
            } => baseline + amount,
            Threshold::Delta {
                increase: false,
                amount,
            } => baseline - amount,
        }
    }
}

/// One parsed criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// The criterion exactly as written in the file (spaces kept); reported in targets, shared
    /// with them rather than copied into every evaluation.
    pub text: Arc<str>,
    /// The comparison.
    pub operator: Operator,
    /// What the measured value is compared with.
    pub threshold: Threshold,
}

/// Why a criterion string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CriterionError {
    /// The string does not start with an operator character.
    #[error("expected it to start with one of <, <=, =, >=, > (e.g. \"<600\" or \"<=+10%\")")]
    MissingOperator,
    /// What follows the operator and sign is not a number.
    #[error(
        "'{0}' is not a number; expected e.g. 600, +10, -5 or 10% after the operator (units such as ms are not allowed)"
    )]
    InvalidNumber(String),
}

impl Criterion {
    /// Parses one criterion string with Keptn's rules (see the module doc).
    pub fn parse(text: &str) -> Result<Criterion, CriterionError> {
        let compact: String = text.chars().filter(|character| *character != ' ').collect();
        let starts_with_operator_char = compact
            .chars()
            .next()
            .is_some_and(|first| matches!(first, '<' | '=' | '>' | '|'));
        if !starts_with_operator_char {
            return Err(CriterionError::MissingOperator);
        }
        let (operator, rest) = [
            ("<=", Operator::LessOrEqual),
            ("<", Operator::Less),
            ("=", Operator::Equal),
            (">=", Operator::GreaterOrEqual),
            (">", Operator::Greater),
        ]
        .into_iter()
        .find_map(|(prefix, operator)| compact.strip_prefix(prefix).map(|rest| (operator, rest)))
        .ok_or_else(|| CriterionError::InvalidNumber(compact.clone()))?;

        let (is_percent, rest) = match rest.strip_suffix('%') {
            Some(number) => (true, number),
            None => (false, rest),
        };
        let (sign, number_text) = if let Some(number) = rest.strip_prefix('-') {
            (Some(false), number)
        } else if let Some(number) = rest.strip_prefix('+') {
            (Some(true), number)
        } else {
            (None, rest)
        };
        let number = parse_go_float(number_text)
            .ok_or_else(|| CriterionError::InvalidNumber(number_text.to_owned()))?;
        let threshold = match (is_percent, sign) {
            (true, sign) => Threshold::Percent {
                increase: sign.unwrap_or(true),
                percent: number,
            },
            (false, Some(increase)) => Threshold::Delta {
                increase,
                amount: number,
            },
            (false, None) => Threshold::Fixed(number),
        };
        Ok(Criterion {
            text: Arc::from(text),
            operator,
            threshold,
        })
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a number the way Go's `strconv.ParseFloat(s, 64)` accepts it for decimal input:
/// optional sign, digits with an optional fraction and exponent, or `inf`/`infinity`/`nan`
/// in any case. Rust's parser agrees on all of these; the empty string and `.` fail in both.
fn parse_go_float(text: &str) -> Option<f64> {
    if text.is_empty() || text.contains('_') {
        return None;
    }
    text.parse::<f64>().ok()
}

#[cfg(test)]
mod tests;
