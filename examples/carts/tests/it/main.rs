//! The `carts` binary on a real socket.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Kills the child when the test ends, whatever the outcome.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on a free loopback port and returns it with its address.
fn start(version: &str) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_carts"))
        .args(["--listen", "127.0.0.1:0", "--version", version])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the carts binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("carts prints its address");
    let address = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("the line ends with the address")
        .to_owned();
    assert!(
        line.starts_with(&format!("carts {version} listening on 127.0.0.1:")),
        "{line}"
    );
    (running, address)
}

#[test]
fn serves_on_a_real_socket() {
    let (_carts, address) = start("0.9.3");
    let client = reqwest::blocking::Client::new();
    let health: serde_json::Value = client
        .get(format!("http://{address}/health"))
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("/health answers JSON");
    assert_eq!(health["version"], "0.9.3");
    let response = client
        .post(format!("http://{address}/carts/1/items"))
        .header("content-type", "application/json")
        .body(r#"{"itemId":"03fef6ac-1896-4ce8-bd69-b798f85c6e0b","unitPrice":"99.99"}"#)
        .send()
        .expect("POST /carts/1/items answers");
    assert_eq!(response.status().as_u16(), 201);
    let metrics = client
        .get(format!("http://{address}/metrics"))
        .send()
        .and_then(reqwest::blocking::Response::text)
        .expect("/metrics answers");
    assert!(
        metrics.contains(
            r#"http_requests_total{handler="ItemsController.addToCart",method="POST",status="201"} 1"#
        ),
        "{metrics}"
    );
}

#[test]
fn refuses_an_invalid_version() {
    let output = Command::new(env!("CARGO_BIN_EXE_carts"))
        .args(["--listen", "127.0.0.1:0", "--version", "a b"])
        .output()
        .expect("the carts binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "carts: invalid version 'a b': must be non-empty and without whitespace\n"
    );
}
