//! `keptn evaluate`: score SLI values against an SLO file, offline, exactly as Keptn's
//! quality gates do (the engine is `keptn-slo`).
//!
//! Inputs: `--slo` an SLO file; `--sli` a JSON array of `{metric, value, success, message?}`,
//! or the data (or whole CloudEvent) of Keptn's `sh.keptn.event.get-sli.finished`; `--history`
//! a JSON array of earlier evaluations, newest first, in any shape `keptn_slo::PastEvaluation`
//! reads (this command's JSON output, Keptn's evaluation object, `evaluation.finished` data or
//! event).

use std::path::PathBuf;

use anyhow::Context as _;
use keptn_slo::{Evaluation, EvaluationResult, PastEvaluation, Severity, SliValue};
use serde::Deserialize;

use crate::source::SourceFile;
use crate::{Exit, InvalidInput};

/// Arguments of `keptn evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SLO file (Keptn's slo.yaml).
    #[arg(long, value_name = "FILE")]
    pub slo: PathBuf,
    /// The SLI values: a JSON array of {metric, value, success, message?}, or Keptn's
    /// get-sli.finished event (or its data).
    #[arg(long, value_name = "FILE")]
    pub sli: PathBuf,
    /// Earlier evaluations, newest first: a JSON array of evaluation results or Keptn's
    /// evaluation.finished events (or their data).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// How to print the evaluation.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Exit with code 3 when the result is at or below this.
    #[arg(long, value_enum, value_name = "RESULT")]
    pub fail_on: Option<FailOn>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A table for people.
    Text,
    /// Keptn's evaluation object as JSON.
    Json,
    /// The same as YAML.
    Yaml,
}

/// Results that `--fail-on` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Exit 3 on warning or fail.
    Warning,
    /// Exit 3 on fail.
    Fail,
}

/// Runs `keptn evaluate`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    let slo_file = SourceFile::read(&args.slo)?;
    let parsed = keptn_slo::parse(&slo_file.text).map_err(|err| {
        let rendered: Vec<String> = err
            .diagnostics()
            .iter()
            .map(|diagnostic| render_diagnostic(&slo_file, diagnostic))
            .collect();
        InvalidInput(rendered.join("\n"))
    })?;
    for warning in &parsed.warnings {
        eprintln!("{}", render_diagnostic(&slo_file, warning));
    }
    let sli_values = read_sli_values(&SourceFile::read(&args.sli)?)?;
    let history: Vec<PastEvaluation> = match &args.history {
        Some(path) => SourceFile::read(path)?.json("history file")?,
        None => Vec::new(),
    };

    let evaluation = match &parsed.slo {
        Some(slo) => keptn_slo::evaluate(slo, &sli_values, &history),
        None => keptn_slo::no_evaluation(),
    };
    let rendered = match args.output {
        Output::Json => serde_json::to_string_pretty(&evaluation)
            .context("cannot write the evaluation as JSON")?,
        Output::Yaml => {
            serde_yaml::to_string(&evaluation).context("cannot write the evaluation as YAML")?
        }
        Output::Text => render_text(&evaluation, parsed.slo.as_ref()),
    };
    crate::print_stdout(rendered.trim_end())?;

    let verdict = evaluation.verdict();
    let failed = match args.fail_on {
        Some(FailOn::Warning) => verdict <= EvaluationResult::Warning,
        Some(FailOn::Fail) => verdict == EvaluationResult::Fail,
        None => false,
    };
    Ok(if failed {
        Exit::ResultBelowThreshold
    } else {
        Exit::Success
    })
}

fn render_diagnostic(file: &SourceFile, diagnostic: &keptn_slo::Diagnostic) -> String {
    let severity = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let message = if diagnostic.path.0.is_empty() {
        diagnostic.problem.to_string()
    } else {
        format!("at {}: {}", diagnostic.path, diagnostic.problem)
    };
    file.render(
        severity,
        &message,
        diagnostic
            .location
            .map(|location| (location.line, location.column)),
    )
}

/// The shapes an SLI file may have.
#[derive(Deserialize)]
#[serde(untagged)]
enum SliFile {
    Values(Vec<SliValue>),
    Event { data: GetSliData },
    Data(GetSliData),
}

#[derive(Deserialize)]
struct GetSliData {
    #[serde(rename = "get-sli")]
    get_sli: IndicatorValues,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndicatorValues {
    #[serde(default)]
    indicator_values: Vec<SliValue>,
}

fn read_sli_values(file: &SourceFile) -> Result<Vec<SliValue>, InvalidInput> {
    // An array is read strictly, so that a bad entry is reported where it is; an object is one
    // of Keptn's event shapes.
    if file.text.trim_start().starts_with('[') {
        return file.json("SLI file");
    }
    let shape: SliFile = file.json("SLI file").map_err(|_| {
        InvalidInput(file.render(
            "error",
            "SLI file is not valid: expected a JSON array of {metric, value, success, message?} or Keptn's get-sli.finished event (with data.\"get-sli\".indicatorValues)",
            None,
        ))
    })?;
    Ok(match shape {
        SliFile::Values(values) => values,
        SliFile::Event { data } | SliFile::Data(data) => data.get_sli.indicator_values,
    })
}

/// A table of objectives, then the total.
fn render_text(evaluation: &Evaluation, slo: Option<&keptn_slo::Slo>) -> String {
    let Some(indicators) = &evaluation.indicator_results else {
        return format!(
            "result: {} (score {})\n{}",
            evaluation.result.as_str(),
            evaluation.score,
            evaluation.message
        );
    };
    let mut rows = vec![[
        "OBJECTIVE".to_owned(),
        "VALUE".to_owned(),
        "BASELINE".to_owned(),
        "PASS".to_owned(),
        "WARNING".to_owned(),
        "STATUS".to_owned(),
        "SCORE".to_owned(),
    ]];
    let objectives = slo.map(|slo| slo.objectives.as_slice()).unwrap_or_default();
    for (objective_idx, indicator) in indicators.iter().enumerate() {
        let name = match objectives.get(objective_idx) {
            Some(objective) if !objective.display_name.is_empty() => objective.display_name.clone(),
            Some(objective) => objective.sli.clone(),
            None => indicator.display_name.clone(),
        };
        let informational = indicator.status == keptn_slo::Status::Info;
        let (value, baseline) = match &indicator.value {
            Some(value) if value.success && informational => {
                (format_number(value.value), "-".to_owned())
            }
            Some(value) if value.success => (
                format_number(value.value),
                format_number(value.compared_value),
            ),
            Some(_) => ("failed".to_owned(), "-".to_owned()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let max_weight = objectives
            .get(objective_idx)
            .map(|objective| objective.weight)
            .unwrap_or(1);
        rows.push([
            name.to_string(),
            value,
            baseline,
            format_targets(indicator.pass_targets.as_deref()),
            format_targets(indicator.warning_targets.as_deref()),
            indicator.status.as_str().to_owned(),
            if informational {
                "-".to_owned()
            } else {
                format!("{}/{}", format_number(indicator.score), max_weight)
            },
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (column_idx, cell) in row.iter().enumerate() {
            widths[column_idx] = widths[column_idx].max(cell.chars().count());
        }
    }
    let mut res = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        res.push_str(cells.join("  ").trim_end());
        res.push('\n');
    }
    res.push('\n');
    let thresholds = slo
        .and_then(|slo| slo.total_score)
        .map(|total| match total.warning {
            Some(warning) => format!(" (pass >= {}, warning >= {})", total.pass, warning),
            None => format!(" (pass >= {})", total.pass),
        })
        .unwrap_or_default();
    res.push_str(&format!(
        "score: {}{thresholds}\nresult: {}\n",
        format_number(evaluation.score),
        evaluation.verdict().as_str()
    ));
    if !evaluation.message.is_empty() {
        res.push_str(&evaluation.message);
        res.push('\n');
    }
    let reasons: Vec<String> = indicators
        .iter()
        .zip(&rows[1..])
        .filter(|(indicator, _)| {
            matches!(
                indicator.status,
                keptn_slo::Status::Fail | keptn_slo::Status::Warning
            )
        })
        .map(|(indicator, row)| format!("  {}: {}", row[0], indicator.reason))
        .collect();
    if !reasons.is_empty() {
        res.push_str("why:\n");
        res.push_str(&reasons.join("\n"));
        res.push('\n');
    }
    res
}

fn format_targets(targets: Option<&[keptn_slo::Target]>) -> String {
    match targets {
        None | Some([]) => "-".to_owned(),
        Some(targets) => targets
            .iter()
            .map(|target| {
                let mark = if target.violated { "✗" } else { "✓" };
                let criteria = target.criteria.replace(' ', "");
                if criteria.trim_start_matches(['<', '>', '='])
                    == format_number(target.target_value)
                {
                    format!("{criteria} {mark}")
                } else {
                    format!("{criteria}={} {mark}", format_number(target.target_value))
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Numbers for people: at most 3 decimals, no trailing zeros.
fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let rounded = format!("{value:.3}");
    let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}
