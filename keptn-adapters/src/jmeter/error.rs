//! Errors of the JMeter test runner.
//!
//! A failing test is not an error: it is a [`super::Run`] whose report did not pass. These are
//! the cases where the test could not be run or its result could not be read (Keptn's
//! jmeter-service answered them with status `errored`).

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use keptn_core::Diagnostic;
use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the JMeter test runner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runner's configuration is invalid; every problem is listed.
    #[error("invalid jmeter configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with its field (`healthcheck.tries`).
        problems: Vec<String>,
    },
    /// The `jmeter/jmeter.conf.yaml` does not parse or validate; every error is listed.
    #[error("invalid jmeter.conf.yaml: {}", describe_errors(diagnostics))]
    InvalidWorkloads {
        /// All findings (errors and warnings), located.
        diagnostics: Vec<Diagnostic>,
    },
    /// The target is not an `http://` or `https://` URL with a host.
    #[error("invalid test target '{url}': {reason}")]
    InvalidTarget {
        /// The target as given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// Neither the jmeter.conf.yaml nor jmeter-service's defaults have a workload for the
    /// strategy.
    #[error("no workload for test strategy '{strategy}' (defined: {})", defined.join(", "))]
    UnknownStrategy {
        /// The requested strategy.
        strategy: String,
        /// The strategies that have a workload.
        defined: Vec<String>,
    },
    /// A workload's script path cannot be used as a file below the run directory.
    #[error("invalid script path '{script}' of test strategy '{strategy}': {reason}")]
    InvalidScript {
        /// The workload's strategy.
        strategy: String,
        /// The script path.
        script: String,
        /// Why it is refused.
        reason: String,
    },
    /// Reading the plan from its source failed (a missing plan is not an error: the workload
    /// is skipped).
    #[error("cannot read the jmeter plan '{script}'")]
    Plan {
        /// The script path.
        script: String,
        /// Why.
        source: AdapterError,
    },
    /// A program the runner needs is not installed (or not at the configured path).
    #[error("'{program}' not found at '{}': install it with 'apt-get install -y {package}'", path.display())]
    ToolMissing {
        /// Which program (`jmeter`, `javac`, `jar`).
        program: &'static str,
        /// The configured path.
        path: PathBuf,
        /// The Debian packages providing it, separated by spaces.
        package: &'static str,
    },
    /// A file JMeter's installation should have is missing (`bin/saveservice.properties`,
    /// `xstream.jar`).
    #[error("'{}' not found: install the Debian package {package}, or set {field}", path.display())]
    InstallationFile {
        /// The missing file.
        path: PathBuf,
        /// The Debian package providing it.
        package: &'static str,
        /// The configuration field naming its location.
        field: &'static str,
    },
    /// A program could not be started for another reason than its absence.
    #[error("cannot start '{}'", path.display())]
    Spawn {
        /// The program.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or directory operation failed.
    #[error("cannot {action} '{}'", path.display())]
    Io {
        /// What was attempted (`write the plan`, `create the run directory`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Building the XStream fix (javac or jar) failed.
    #[error("building the xstream fix failed: '{program}' exited with {status}: {output}")]
    FixBuild {
        /// `javac` or `jar`.
        program: &'static str,
        /// Its exit status.
        status: ExitStatus,
        /// Its stdout and stderr (shortened).
        output: String,
    },
    /// JMeter (or a build step) did not finish in time; it was killed.
    #[error("'{what}' did not finish within {timeout:?} and was killed")]
    Timeout {
        /// What ran (`jmeter jmeter/load.jmx`).
        what: String,
        /// The limit.
        timeout: Duration,
    },
    /// JMeter could not load the plan (it exits 0 all the same and writes no results).
    #[error("jmeter could not load the plan '{script}'{}: {}", hint_text(hint), log_lines.join(" | "))]
    PlanNotLoaded {
        /// The script path.
        script: String,
        /// The relevant lines of JMeter's log and output.
        log_lines: Vec<String>,
        /// What probably helps, when the log shows a known cause.
        hint: Option<String>,
    },
    /// JMeter ran but recorded no sample (no results file, or an empty one).
    #[error("jmeter recorded no sample for '{script}' (exit status {status}){}: {}", hint_text(hint), log_lines.join(" | "))]
    NoSamples {
        /// The script path.
        script: String,
        /// JMeter's exit status.
        status: ExitStatus,
        /// The relevant lines of JMeter's log and output.
        log_lines: Vec<String>,
        /// What probably helps, when the log shows a known cause.
        hint: Option<String>,
    },
    /// The results file (JTL) is not the CSV JMeter writes.
    #[error("invalid jmeter results file '{}' at line {line}: {reason}", path.display())]
    InvalidJtl {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. }
            | Error::InvalidWorkloads { .. }
            | Error::InvalidTarget { .. }
            | Error::InvalidScript { .. }
            | Error::PlanNotLoaded { .. } => AdapterErrorKind::Invalid,
            Error::UnknownStrategy { .. } => AdapterErrorKind::NotFound,
            Error::Plan { source, .. } => source.kind,
            Error::Timeout { .. } => AdapterErrorKind::Timeout,
            Error::ToolMissing { .. }
            | Error::InstallationFile { .. }
            | Error::Spawn { .. }
            | Error::Io { .. }
            | Error::FixBuild { .. }
            | Error::NoSamples { .. }
            | Error::InvalidJtl { .. } => AdapterErrorKind::Failed,
        }
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let message = error.to_string();
        // The message says what failed; the source chain continues below it, so the
        // underlying error is not printed twice.
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match error {
            Error::Plan { source, .. } => Some(Box::new(source)),
            Error::Spawn { source, .. } | Error::Io { source, .. } => Some(Box::new(source)),
            _ => None,
        };
        AdapterError {
            kind,
            message,
            source,
        }
    }
}

fn hint_text(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|hint| format!(" ({hint})"))
        .unwrap_or_default()
}

fn describe_errors(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.severity == keptn_core::Severity::Error)
        .map(ToString::to_string)
        .collect();
    if errors.is_empty() {
        "no errors".to_owned()
    } else {
        errors.join("; ")
    }
}
