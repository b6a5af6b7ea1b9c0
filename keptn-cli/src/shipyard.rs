//! `keptn shipyard validate|simulate|convert`: offline tools for shipyard files.
//!
//! - `validate FILE`: parse and validate either form (spec.keptn.sh/0.2.x or the 2020
//!   `keptn: v1` form); warnings go to stderr, errors make the command exit 2. Every finding
//!   reads `FILE:LINE:COL: severity: message (at yaml.path)`.
//! - `simulate --shipyard F --stage S --sequence Q [--outcome stage.task=result]...`: run
//!   the deterministic simulation model of `keptn_core::simulate` and print the events the
//!   orchestrator emits (`--output json`: an array of `{type, result?}`; `text`: a timeline).
//! - `convert FILE`: print the shipyard as spec.keptn.sh/0.2 YAML (the v1 form converted).

use std::path::{Path, PathBuf};

use keptn_core::shipyard::{self, Parsed};
use keptn_core::simulate::{self, Outcomes};
use keptn_core::{Diagnostic, Error};

use crate::{Exit, InvalidInput};

/// Arguments of `keptn shipyard`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do with the shipyard.
    #[command(subcommand)]
    pub command: ShipyardCommand,
}

/// The `keptn shipyard` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ShipyardCommand {
    /// Validate a shipyard; print located warnings, exit 2 on errors.
    Validate {
        /// The shipyard file.
        file: PathBuf,
    },
    /// Simulate a sequence run, every integration answering at once (deterministic order).
    Simulate(SimulateArgs),
    /// Print the shipyard as spec.keptn.sh/0.2 YAML (converts the 2020 `keptn: v1` form).
    Convert {
        /// The shipyard file.
        file: PathBuf,
    },
}

/// Arguments of `keptn shipyard simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The shipyard file.
    #[arg(long, value_name = "FILE")]
    pub shipyard: PathBuf,
    /// The stage whose sequence is triggered.
    #[arg(long)]
    pub stage: String,
    /// The sequence to trigger.
    #[arg(long)]
    pub sequence: String,
    /// The outcome of a task in a stage, `stage.task=pass|warning|fail|errored` (default
    /// pass); may repeat.
    #[arg(long, value_name = "STAGE.TASK=RESULT")]
    pub outcome: Vec<String>,
    /// How to print the transcript.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Stop with an error after this many events (self-triggering sequences loop forever).
    #[arg(long, default_value_t = simulate::DEFAULT_EVENT_LIMIT, hide = true)]
    pub max_events: usize,
}

/// Output formats of `simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A readable timeline.
    Text,
    /// The ordered JSON array of emitted events.
    Json,
}

/// Runs `keptn shipyard`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    match &args.command {
        ShipyardCommand::Validate { file } => {
            let parsed = load(file)?;
            let n_warnings = parsed.warnings.len();
            let form = match parsed.form {
                shipyard::Form::V02 => parsed.shipyard.api_version.clone(),
                shipyard::Form::V1 => "keptn v1 form, converted to spec.keptn.sh/0.2".to_owned(),
            };
            println!(
                "{}: valid shipyard ({form}; {} stage{}, {n_warnings} warning{})",
                file.display(),
                parsed.shipyard.stages.len(),
                if parsed.shipyard.stages.len() == 1 {
                    ""
                } else {
                    "s"
                },
                if n_warnings == 1 { "" } else { "s" },
            );
            Ok(Exit::Success)
        }
        ShipyardCommand::Convert { file } => {
            let parsed = load(file)?;
            print!("{}", shipyard::to_yaml(&parsed.shipyard));
            Ok(Exit::Success)
        }
        ShipyardCommand::Simulate(simulate_args) => run_simulate(simulate_args),
    }
}

fn run_simulate(args: &SimulateArgs) -> anyhow::Result<Exit> {
    let parsed = load(&args.shipyard)?;
    let mut outcomes = Outcomes::default();
    for assignment in &args.outcome {
        outcomes
            .insert_assignment(assignment)
            .map_err(|err| InvalidInput(format!("--outcome: {}", core_message(&err))))?;
    }
    outcomes
        .check_against(&parsed.shipyard)
        .map_err(|err| InvalidInput(format!("--outcome: {}", core_message(&err))))?;
    let events = simulate::simulate(
        &parsed.shipyard,
        &args.stage,
        &args.sequence,
        &outcomes,
        args.max_events,
    )
    .map_err(|err| match err {
        Error::InvalidSimulation { message } => anyhow::Error::new(InvalidInput(message)),
        other => anyhow::Error::new(other)
            .context(format!("cannot simulate {}.{}", args.stage, args.sequence)),
    })?;
    match args.output {
        Output::Json => println!("{}", simulate::to_json(&events)),
        Output::Text => print!("{}", simulate::to_text(&events)),
    }
    Ok(Exit::Success)
}

fn core_message(err: &Error) -> String {
    match err {
        Error::InvalidSimulation { message } => message.clone(),
        other => other.to_string(),
    }
}

/// `FILE:LINE:COL: severity: message (at path)`.
fn render(file: &Path, diagnostic: &Diagnostic) -> String {
    format!("{}:{diagnostic}", file.display())
}

/// Reads and validates a shipyard; prints warnings to stderr; errors become [`InvalidInput`].
fn load(file: &Path) -> anyhow::Result<Parsed> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| InvalidInput(format!("cannot read {}: {err}", file.display())))?;
    match shipyard::parse(&text) {
        Ok(parsed) => {
            for warning in &parsed.warnings {
                eprintln!("{}", render(file, warning));
            }
            Ok(parsed)
        }
        Err(Error::InvalidShipyard { diagnostics }) => {
            let (n_errors, n_warnings) =
                diagnostics
                    .iter()
                    .fold((0, 0), |(errors, warnings), diagnostic| {
                        match diagnostic.severity {
                            keptn_core::Severity::Error => (errors + 1, warnings),
                            keptn_core::Severity::Warning => (errors, warnings + 1),
                        }
                    });
            let mut lines = vec![format!(
                "invalid shipyard {} ({n_errors} error{}, {n_warnings} warning{})",
                file.display(),
                if n_errors == 1 { "" } else { "s" },
                if n_warnings == 1 { "" } else { "s" },
            )];
            lines.extend(
                diagnostics
                    .iter()
                    .map(|diagnostic| render(file, diagnostic)),
            );
            Err(InvalidInput(lines.join("\n")).into())
        }
        Err(other) => Err(InvalidInput(format!("{}: {other}", file.display())).into()),
    }
}
