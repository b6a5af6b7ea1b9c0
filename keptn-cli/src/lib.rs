//! keptn-cli: the `keptn` command.
//!
//! Offline commands (`keptn evaluate`, `keptn shipyard validate|simulate|convert`) run the
//! pure libraries on local files; the client commands (`keptn auth`, `create`, `trigger`,
//! `get`, `send`, `approve`, ...) talk to a control plane's API; `keptn serve` runs the control
//! plane of keptn-service behind that API, with the integrations of the uniform wired to the
//! adapters of keptn-adapters; `keptn quickstart` runs the tutorial end to end. `main.rs` only
//! parses arguments and maps [`Exit`] and errors to exit codes.
//!
//! Exit codes: 0 success; 1 an unexpected failure; 2 invalid input (with a located message on
//! stderr); 3 a result at or below `--fail-on`.

pub mod client;
pub mod demo;
pub mod evaluate;
pub mod log;
pub mod monitoring;
pub mod quickstart;
pub mod serve;
pub mod shipyard;
pub mod source;

use clap::{Parser, Subcommand};

/// How a successful command wants the process to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit code 0.
    Success,
    /// Exit code 3: the evaluation result is at or below the `--fail-on` threshold.
    ResultBelowThreshold,
    /// Exit code 1: the run completed but did not go as expected (the quickstart's tutorial).
    Failed,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::Success => std::process::ExitCode::SUCCESS,
            Exit::ResultBelowThreshold => std::process::ExitCode::from(3),
            Exit::Failed => std::process::ExitCode::FAILURE,
        }
    }
}

/// An error caused by the user's input (a file that does not parse or validate, a bad flag
/// value). It maps to exit code 2; every other error maps to 1.
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// The exit code for an error returned by [`run`].
pub fn exit_code_for(err: &anyhow::Error) -> std::process::ExitCode {
    if err.chain().any(|cause| cause.is::<InvalidInput>()) {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::from(1)
    }
}

/// Renders an error and its causes for stderr.
pub fn render_error(err: &anyhow::Error) -> String {
    if let Some(invalid) = err.downcast_ref::<InvalidInput>() {
        // Already rendered with its severity and location.
        let text = invalid.to_string();
        return if text.starts_with("error: ") {
            text
        } else {
            format!("error: {text}")
        };
    }
    format!("error: {err:#}")
}

/// Prints to stdout. A closed pipe (`keptn ... | head`) ends the output quietly instead of
/// panicking.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(err).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

/// keptn-rs: event-based continuous delivery and automated operations.
#[derive(Debug, Parser)]
#[command(name = "keptn", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `keptn`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score SLIs against an SLO file exactly as Keptn's quality gates do.
    Evaluate(evaluate::Args),
    /// Validate, simulate or convert a shipyard file.
    Shipyard(shipyard::Args),
    /// Run the control plane: HTTP API, event intake, orchestration, in-process integrations.
    Serve(serve::Args),
    /// Save the control plane's endpoint and API token for the client commands.
    Auth(client::AuthArgs),
    /// Create a project or a service.
    #[command(subcommand)]
    Create(client::CreateCommand),
    /// Trigger a sequence.
    #[command(subcommand)]
    Trigger(client::TriggerCommand),
    /// List projects, sequences or events.
    #[command(subcommand)]
    Get(client::GetCommand),
    /// Send an event.
    #[command(subcommand)]
    Send(client::SendCommand),
    /// Abort, pause or resume the sequences of a Keptn context.
    Sequence(client::SequenceArgs),
    /// Add a file to a project's configuration repository (project, stage or service level).
    AddResource(client::AddResourceArgs),
    /// Approve the approval task that waits in a stage.
    Approve(client::ApprovalArgs),
    /// Decline the approval task that waits in a stage.
    Decline(client::ApprovalArgs),
    /// Run a service of the tutorial (the sockshop's carts) as the local platform deploys it.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// The sockshop tutorial end to end on this machine: 0.9.1, the slow 0.9.2 (stopped in
    /// staging and rolled back), 0.9.3 (promoted to production).
    Quickstart(quickstart::Args),
    /// Configure monitoring: Prometheus alerting rules from the SLOs and the Alertmanager route
    /// that starts remediation.
    #[command(subcommand)]
    Configure(monitoring::ConfigureCommand),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Shipyard(args) => shipyard::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Auth(args) => client::auth(&args),
        Command::Create(command) => client::create(&command),
        Command::Trigger(command) => client::trigger(&command),
        Command::Get(command) => client::get(&command),
        Command::Send(command) => client::send(&command),
        Command::Sequence(args) => client::sequence(&args),
        Command::AddResource(args) => client::add_resource(&args),
        Command::Approve(args) => client::approval(&args, true),
        Command::Decline(args) => client::approval(&args, false),
        Command::Demo(command) => demo::run(&command),
        Command::Quickstart(args) => quickstart::run(&args),
        Command::Configure(command) => monitoring::run(&command),
    }
}
