//! `keptn shipyard validate|simulate|convert` (issue 3; being built).

use crate::Exit;

/// Arguments of `keptn shipyard`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `keptn shipyard`.
pub fn run(_args: &Args) -> anyhow::Result<Exit> {
    anyhow::bail!("keptn shipyard is not available yet")
}
