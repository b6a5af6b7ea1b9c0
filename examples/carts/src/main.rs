//! `carts`: the sockshop tutorial's carts service, by version.
//!
//! Run it with `cargo run -p keptn-example-carts -- --listen 127.0.0.1:8080 --version 0.9.2`
//! (or `CARTS_VERSION=0.9.2 carts`), then `curl -X POST -d '{"itemId":"a","unitPrice":"9.99"}'
//! -H 'content-type: application/json' 127.0.0.1:8080/carts/1/items` and
//! `curl 127.0.0.1:8080/metrics`. Versions 0.9.1 and 0.9.3 answer in a few milliseconds;
//! 0.9.2 adds one second to every `/carts` request. See the library for every route.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use keptn_example_carts::{Carts, app};

/// The sockshop carts service.
#[derive(Debug, Parser)]
#[command(name = "carts", version = None)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The version to behave like (0.9.2 is the slow build).
    #[arg(long, env = "CARTS_VERSION", default_value = "0.9.1")]
    version: String,
    /// Milliseconds every `/carts` request takes on top of the version's own delay.
    #[arg(long, env = "CARTS_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let carts = match Carts::with_latency(
        &args.version,
        std::time::Duration::from_millis(args.latency_ms),
    ) {
        Ok(carts) => carts,
        Err(error) => {
            eprintln!("carts: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("carts: cannot listen on '{}': {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map_or_else(|_| args.listen.to_string(), |addr| addr.to_string());
    println!("carts {} listening on {local}", args.version);
    match axum::serve(listener, app(carts)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("carts: {error}");
            ExitCode::FAILURE
        }
    }
}
