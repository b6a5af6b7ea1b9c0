//! The `keptn` binary: parse arguments, run the command, map the outcome to an exit code.
//! All logic lives in the `keptn_cli` library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = keptn_cli::Cli::parse();
    match keptn_cli::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("{}", keptn_cli::render_error(&err));
            keptn_cli::exit_code_for(&err)
        }
    }
}
