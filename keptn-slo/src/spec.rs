//! The validated SLO: enums instead of strings, parsed criteria, every default applied.
//!
//! [`parse`] reads an SLO file: YAML → raw types (`raw.rs`) → [`Slo`]. Defaults are applied
//! in one place, the conversion of the `comparison` block and of each objective, and
//! documented there. What Keptn misread is rejected here with clear errors: an unknown
//! `aggregate_function` (Keptn aggregated it to 0), a criterion that does not parse (Keptn
//! ignored a bad warning criterion and scored a bad pass criterion as an ordinary fail), an
//! unknown `include_result_with_score` (Keptn read it as `all`) and a fractional weight
//! (Keptn truncated it).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::aggregate::Aggregate;
use crate::criteria::Criterion;
use crate::diagnostic::{Diagnostic, Error, Problem, Severity, suggest};
use crate::raw::{self, Integer, RawComparison, RawCriteriaSet, RawObjective, RawSlo, Text};
use crate::yaml::{Location, PathSegment, SourceMap, YamlPath};

/// A validated service-level objective file.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// `spec_version` as written (`1.0`, `0.1.1`, ...); informational only.
    pub spec_version: Option<String>,
    /// `filter`: key/value pairs for SLI providers' query placeholders.
    pub filter: BTreeMap<String, String>,
    /// How earlier results are chosen and aggregated.
    pub comparison: Comparison,
    /// The objectives, in file order.
    pub objectives: Vec<Objective>,
    /// The score thresholds. `None` only when every objective is informational (no pass
    /// criteria) and there is at least one: such an SLO always scores 100 and passes.
    pub total_score: Option<TotalScore>,
}

/// `comparison:` with defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// `compare_with`.
    pub compare_with: CompareWith,
    /// `include_result_with_score`: which earlier evaluations may serve as baseline.
    pub include_result_with_score: IncludeResults,
    /// How many earlier evaluations form the baseline window (N): 1 for `single_result`.
    pub number_of_comparison_results: usize,
    /// `aggregate_function`.
    pub aggregate_function: Aggregate,
}

/// `compare_with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareWith {
    /// Compare with the newest eligible earlier evaluation.
    SingleResult,
    /// Compare with the newest N eligible earlier evaluations.
    SeveralResults,
}

/// `include_result_with_score`: which earlier evaluations count, by their overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncludeResults {
    /// Only passed evaluations.
    Pass,
    /// Passed evaluations and warnings.
    PassOrWarn,
    /// Every evaluation, failed ones included.
    All,
}

/// One objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// The SLI name, matched exactly against SLI results and earlier results; shared with the
    /// values of the results (no copy per evaluation).
    pub sli: Arc<str>,
    /// `displayName`, shared with the results (empty when not set).
    pub display_name: Arc<str>,
    /// OR of AND-sets. Empty: the objective is informational.
    pub pass: Vec<Vec<Criterion>>,
    /// OR of AND-sets; consulted only when pass is not met.
    pub warning: Vec<Vec<Criterion>>,
    /// Points for a pass (half for a warning). Default 1; 0 counts as 1; negative kept.
    pub weight: i64,
    /// A failure of this objective fails the whole evaluation.
    pub key_sli: bool,
}

impl Objective {
    /// Whether the objective only reports its value (no pass criteria).
    pub fn is_informational(&self) -> bool {
        self.pass.is_empty()
    }
}

/// `total_score:` thresholds in percent, inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TotalScore {
    /// A score at or above this passes.
    pub pass: f64,
    /// A score at or above this (and below pass) is a warning; without it, below pass fails.
    pub warning: Option<f64>,
}

/// A parsed SLO file.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The SLO; `None` when the file is empty, which Keptn treats as "no evaluation
    /// configured" (see [`crate::no_evaluation`]).
    pub slo: Option<Slo>,
    /// Findings that do not stop the file from being used (unknown keys, ignored settings).
    pub warnings: Vec<Diagnostic>,
}

/// Reads and validates an SLO file. Every problem is reported at once, each with its YAML
/// path and line:column.
pub fn parse(source: &str) -> Result<Parsed, Error> {
    if source.is_empty() {
        return Ok(Parsed {
            slo: None,
            warnings: Vec::new(),
        });
    }
    let value: serde_yaml::Value = serde_yaml::from_str(source).map_err(|err| {
        Error::Syntax(Diagnostic {
            severity: Severity::Error,
            path: YamlPath::root(),
            location: err.location().map(|location| Location {
                line: location.line(),
                column: location.column(),
            }),
            problem: Problem::Syntax(err.to_string()),
        })
    })?;
    // A document of only whitespace or comments is an SLO with nothing in it (Keptn then
    // reports the missing total_score), not a type error.
    let value = match value {
        serde_yaml::Value::Null => serde_yaml::Value::Mapping(serde_yaml::Mapping::new()),
        other => other,
    };
    let mut checker = Checker::new(source);
    checker.unknown_keys(&value);
    let raw: RawSlo = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = to_yaml_path(err.path());
        let location = checker.source_map().value_location(&path);
        Error::Syntax(Diagnostic {
            severity: Severity::Error,
            path,
            location,
            problem: Problem::Type(err.into_inner().to_string()),
        })
    })?;
    let slo = checker.slo(raw);
    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by_key(|diagnostic| {
        diagnostic
            .location
            .map_or((usize::MAX, usize::MAX), |location| {
                (location.line, location.column)
            })
    });
    let (errors, warnings): (Vec<_>, Vec<_>) = diagnostics
        .into_iter()
        .partition(|diagnostic| diagnostic.severity == Severity::Error);
    if errors.is_empty() {
        Ok(Parsed {
            slo: Some(slo),
            warnings,
        })
    } else {
        let mut all = errors;
        all.extend(warnings);
        Err(Error::Invalid(all))
    }
}

fn to_yaml_path(path: &serde_path_to_error::Path) -> YamlPath {
    YamlPath(
        path.iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(PathSegment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(PathSegment::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(PathSegment::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect(),
    )
}

/// Collects diagnostics while converting raw types; locates them lazily.
struct Checker<'source> {
    source: &'source str,
    source_map: Option<SourceMap>,
    diagnostics: Vec<Diagnostic>,
}

impl<'source> Checker<'source> {
    fn new(source: &'source str) -> Self {
        Checker {
            source,
            source_map: None,
            diagnostics: Vec::new(),
        }
    }

    fn source_map(&mut self) -> &SourceMap {
        self.source_map
            .get_or_insert_with(|| SourceMap::new(self.source))
    }

    fn report(&mut self, severity: Severity, path: YamlPath, problem: Problem) {
        let location = match problem {
            Problem::UnknownKey { .. } => self.source_map().key_location(&path),
            _ => self.source_map().value_location(&path),
        };
        self.diagnostics.push(Diagnostic {
            severity,
            path,
            location,
            problem,
        });
    }

    fn error(&mut self, path: YamlPath, problem: Problem) {
        self.report(Severity::Error, path, problem);
    }

    fn warning(&mut self, path: YamlPath, problem: Problem) {
        self.report(Severity::Warning, path, problem);
    }

    /// Warns about every key the format does not know, with a "did you mean" when close.
    fn unknown_keys(&mut self, document: &serde_yaml::Value) {
        let root = YamlPath::root();
        self.unknown_keys_in(document, &root, raw::SLO_KEYS);
        if let Some(comparison) = document.get("comparison") {
            self.unknown_keys_in(comparison, &root.key("comparison"), raw::COMPARISON_KEYS);
        }
        if let Some(total_score) = document.get("total_score") {
            self.unknown_keys_in(total_score, &root.key("total_score"), raw::TOTAL_SCORE_KEYS);
        }
        let Some(serde_yaml::Value::Sequence(objectives)) = document.get("objectives") else {
            return;
        };
        for (objective_idx, objective) in objectives.iter().enumerate() {
            let objective_path = root.key("objectives").index(objective_idx);
            self.unknown_keys_in(objective, &objective_path, raw::OBJECTIVE_KEYS);
            for list in ["pass", "warning"] {
                if let Some(serde_yaml::Value::Sequence(sets)) = objective.get(list) {
                    for (set_idx, set) in sets.iter().enumerate() {
                        let set_path = objective_path.key(list).index(set_idx);
                        self.unknown_keys_in(set, &set_path, raw::CRITERIA_SET_KEYS);
                    }
                }
            }
        }
    }

    fn unknown_keys_in(
        &mut self,
        node: &serde_yaml::Value,
        path: &YamlPath,
        known: &[&'static str],
    ) {
        let serde_yaml::Value::Mapping(mapping) = node else {
            return;
        };
        for key in mapping.keys() {
            let Some(key) = key.as_str() else { continue };
            if !known.contains(&key) {
                let suggestion = suggest(key, known);
                self.warning(
                    path.key(key),
                    Problem::UnknownKey {
                        key: key.to_owned(),
                        suggestion,
                    },
                );
            }
        }
    }

    fn slo(&mut self, raw: RawSlo) -> Slo {
        let root = YamlPath::root();
        let spec_version = raw.spec_version.map(|Text(version)| version);
        if let Some(version) = &spec_version
            && version != "1.0"
            && !version.starts_with("0.1.")
        {
            self.warning(
                root.key("spec_version"),
                Problem::UnknownSpecVersion(version.clone()),
            );
        }
        let filter = raw
            .filter
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (key, value.map(|Text(text)| text).unwrap_or_default()))
            .collect();
        let comparison = self.comparison(raw.comparison);
        let objectives: Vec<Objective> = raw
            .objectives
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(objective_idx, objective)| {
                // Null entries are dropped, as Keptn did.
                let path = root.key("objectives").index(objective_idx);
                objective.map(|objective| self.objective(objective, &path))
            })
            .collect();
        let needs_thresholds = objectives.is_empty()
            || objectives
                .iter()
                .any(|objective| !objective.is_informational());
        let total_score = self.total_score(raw.total_score, needs_thresholds);
        Slo {
            spec_version,
            filter,
            comparison,
            objectives,
            total_score,
        }
    }

    /// Defaults, as Keptn applied them except where noted:
    /// - no `comparison` block, or no `compare_with`: `single_result` (Keptn used 3 results
    ///   when the block was present without `compare_with`, 1 without the block);
    /// - `several_results` without `number_of_comparison_results` (or 0): 3;
    /// - `single_result`: 1 whatever `number_of_comparison_results` says;
    /// - `include_result_with_score`: `all` (matched case-insensitively);
    /// - `aggregate_function`: `avg` (matched case-sensitively).
    fn comparison(&mut self, raw: Option<RawComparison>) -> Comparison {
        let path = YamlPath::root().key("comparison");
        let Some(raw) = raw else {
            return Comparison {
                compare_with: CompareWith::SingleResult,
                include_result_with_score: IncludeResults::All,
                number_of_comparison_results: 1,
                aggregate_function: Aggregate::Avg,
            };
        };
        let compare_with = match raw.compare_with.as_ref().map(|Text(text)| text.as_str()) {
            None | Some("single_result") => CompareWith::SingleResult,
            Some("several_results") => CompareWith::SeveralResults,
            Some(other) => {
                self.error(
                    path.key("compare_with"),
                    Problem::UnknownCompareWith {
                        name: other.to_owned(),
                    },
                );
                CompareWith::SingleResult
            }
        };
        let include_result_with_score = match raw
            .include_result_with_score
            .as_ref()
            .map(|Text(text)| text.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("all") => IncludeResults::All,
            Some("pass") => IncludeResults::Pass,
            Some("pass_or_warn") => IncludeResults::PassOrWarn,
            Some(_) => {
                let Text(name) = raw
                    .include_result_with_score
                    .clone()
                    .unwrap_or(Text(String::new()));
                self.error(
                    path.key("include_result_with_score"),
                    Problem::UnknownIncludeResult { name },
                );
                IncludeResults::All
            }
        };
        let requested = match raw.number_of_comparison_results {
            None => None,
            Some(Integer::Whole(n)) if n < 0 => {
                self.error(
                    path.key("number_of_comparison_results"),
                    Problem::NegativeComparisonResults(n),
                );
                None
            }
            Some(Integer::Whole(n)) => Some(n),
            Some(Integer::Fraction(fraction)) => {
                self.error(
                    path.key("number_of_comparison_results"),
                    Problem::Type(format!(
                        "invalid type: floating point `{fraction}`, expected a whole number"
                    )),
                );
                None
            }
        };
        let number_of_comparison_results = match compare_with {
            CompareWith::SingleResult => {
                if let Some(n) = requested.filter(|n| *n > 1) {
                    self.warning(
                        path.key("number_of_comparison_results"),
                        Problem::IgnoredComparisonResults(n),
                    );
                }
                1
            }
            CompareWith::SeveralResults => match requested {
                None | Some(0) => 3,
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            },
        };
        let aggregate_function = match raw
            .aggregate_function
            .as_ref()
            .map(|Text(text)| text.as_str())
        {
            None => Aggregate::Avg,
            Some(name) => Aggregate::from_name(name).unwrap_or_else(|| {
                self.error(
                    path.key("aggregate_function"),
                    Problem::UnknownAggregate {
                        name: name.to_owned(),
                    },
                );
                Aggregate::Avg
            }),
        };
        Comparison {
            compare_with,
            include_result_with_score,
            number_of_comparison_results,
            aggregate_function,
        }
    }

    /// Defaults: `displayName` empty, `weight` 1 (0 also becomes 1; negative weights are kept
    /// as Keptn kept them), `key_sli` false, no pass criteria = informational.
    fn objective(&mut self, raw: RawObjective, path: &YamlPath) -> Objective {
        let sli = match raw.sli {
            Some(Text(sli)) if !sli.is_empty() => Arc::from(sli),
            _ => {
                self.error(path.key("sli"), Problem::MissingSli);
                Arc::default()
            }
        };
        let weight = match raw.weight {
            None | Some(Integer::Whole(0)) => 1,
            Some(Integer::Whole(weight)) => weight,
            Some(Integer::Fraction(weight)) => {
                self.error(path.key("weight"), Problem::FractionalWeight(weight));
                1
            }
        };
        let pass = self.criteria_sets(raw.pass, &path.key("pass"));
        let warning = self.criteria_sets(raw.warning, &path.key("warning"));
        Objective {
            sli,
            display_name: raw
                .display_name
                .map_or_else(Arc::default, |Text(name)| Arc::from(name)),
            pass,
            warning,
            weight,
            key_sli: raw.key_sli.is_some_and(|flag| flag.0),
        }
    }

    fn criteria_sets(
        &mut self,
        raw: Option<Vec<Option<RawCriteriaSet>>>,
        path: &YamlPath,
    ) -> Vec<Vec<Criterion>> {
        let mut sets = Vec::new();
        for (set_idx, set) in raw.unwrap_or_default().into_iter().enumerate() {
            let set_path = path.index(set_idx);
            let Some(set) = set else {
                self.error(set_path, Problem::EmptyCriteriaEntry);
                continue;
            };
            let mut criteria = Vec::new();
            for (criterion_idx, Text(text)) in
                set.criteria.unwrap_or_default().into_iter().enumerate()
            {
                match Criterion::parse(&text) {
                    Ok(criterion) => criteria.push(criterion),
                    Err(reason) => self.error(
                        set_path.key("criteria").index(criterion_idx),
                        Problem::InvalidCriterion {
                            criterion: text,
                            reason,
                        },
                    ),
                }
            }
            sets.push(criteria);
        }
        sets
    }

    fn total_score(
        &mut self,
        raw: Option<raw::RawTotalScore>,
        needs_thresholds: bool,
    ) -> Option<TotalScore> {
        let path = YamlPath::root().key("total_score");
        let (raw_pass, raw_warning) = match raw {
            Some(raw) => (raw.pass, raw.warning),
            None => (None, None),
        };
        let pass = match raw_pass.filter(|Text(text)| !text.is_empty()) {
            Some(Text(text)) => self.threshold(&text, path.key("pass")),
            None => {
                if needs_thresholds {
                    self.error(path.key("pass"), Problem::MissingPassThreshold);
                }
                None
            }
        };
        let warning = raw_warning
            .filter(|Text(text)| !text.is_empty())
            .and_then(|Text(text)| self.threshold(&text, path.key("warning")));
        let pass = pass?;
        if let Some(warning) = warning.filter(|warning| *warning > pass) {
            self.warning(
                path.key("warning"),
                Problem::WarningAbovePass { pass, warning },
            );
        }
        Some(TotalScore { pass, warning })
    }

    /// Keptn's threshold parsing: strip one trailing `%`, then a float.
    fn threshold(&mut self, text: &str, path: YamlPath) -> Option<f64> {
        let number = text.strip_suffix('%').unwrap_or(text);
        match number.parse::<f64>() {
            Ok(value) if !number.contains('_') => Some(value),
            _ => {
                self.error(
                    path,
                    Problem::InvalidThreshold {
                        text: text.to_owned(),
                    },
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
