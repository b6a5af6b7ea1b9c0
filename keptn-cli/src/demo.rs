//! `keptn demo carts`: the sockshop tutorial's carts service (the `keptn-example-carts`
//! library), built into the keptn binary so that the quickstart's local platform can deploy it
//! with nothing else installed: `local.yaml` runs `keptn demo carts --listen 127.0.0.1:{port}
//! --version {tag}` once per replica.

use std::net::SocketAddr;

use anyhow::Context as _;
use keptn_example_carts::{Carts, app};

use crate::{Exit, InvalidInput};

/// The demo services.
#[derive(Debug, clap::Subcommand)]
pub enum DemoCommand {
    /// The carts service: versions 0.9.1 and 0.9.3 are fast, 0.9.2 adds 1 s to every request.
    Carts(CartsArgs),
}

/// Arguments of `keptn demo carts`.
#[derive(Debug, clap::Args)]
pub struct CartsArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The version to behave like (0.9.2 is the slow build).
    #[arg(long, env = "CARTS_VERSION", default_value = "0.9.1")]
    pub version: String,
    /// Milliseconds every `/carts` request takes on top of the version's own delay.
    #[arg(long, env = "CARTS_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
}

/// Runs a demo service until it is killed.
pub fn run(command: &DemoCommand) -> anyhow::Result<Exit> {
    let DemoCommand::Carts(args) = command;
    let carts = Carts::with_latency(
        &args.version,
        std::time::Duration::from_millis(args.latency_ms),
    )
    .map_err(|err| InvalidInput(err.to_string()))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local = listener.local_addr()?;
        println!("carts {} listening on http://{local}", args.version);
        axum::serve(listener, app(carts))
            .await
            .context("the carts service failed")
    })?;
    Ok(Exit::Success)
}
