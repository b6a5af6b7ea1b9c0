//! Progressive delivery on the local platform (strategy `canary`): the new version gets 10 %,
//! then 50 % of the traffic, then is promoted; a manual approval holds each step so the test
//! can look at the router in between. Declining a step ends the sequence and the rollback
//! sequence returns all traffic to the primary.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve::{Scratch, Server, free_port};

const SHIPYARD: &str = r#"apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata:
  name: canary
spec:
  stages:
    - name: production
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties:
                deploymentstrategy: canary
                canaryweight: 10
            - name: approval
              properties: { pass: manual, warning: manual }
            - name: release
              properties:
                canaryweight: 50
            - name: approval
              properties: { pass: manual, warning: manual }
            - name: release
        - name: rollback
          triggeredOn:
            - event: production.delivery.finished
              selector:
                match:
                  result: fail
          tasks:
            - name: rollback
"#;

const LOCAL: &str = r#"command: keptn
args: ["demo", "carts", "--listen", "127.0.0.1:{port}", "--version", "{tag}"]
"#;

fn uniform() -> String {
    format!(
        "integrations:
  - name: approval-service
    subscriptions:
      - event: sh.keptn.event.approval.triggered
  - name: local-platform
    config:
      router_base_port: 0
      telemetry_listen: \"127.0.0.1:{}\"
    subscriptions:
      - event: sh.keptn.event.deployment.triggered
      - event: sh.keptn.event.release.triggered
      - event: sh.keptn.event.rollback.triggered
",
        free_port()
    )
}

fn setup(name: &str) -> (Scratch, Server) {
    let scratch = Scratch::new(name);
    let server = Server::start_with(&scratch, &uniform());
    server.setup_project(&scratch, SHIPYARD);
    server.add_resource(
        &scratch,
        "local.yaml",
        LOCAL,
        Some("production"),
        Some("carts"),
    );
    (scratch, server)
}

fn trigger(server: &Server, tag: &str) -> String {
    let (code, stdout, stderr) = server.keptn(&[
        "trigger",
        "delivery",
        "--project",
        "sockshop",
        "--service",
        "carts",
        "--image",
        &format!("docker.io/keptnexamples/carts:{tag}"),
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).expect("JSON");
    answer["keptnContext"]
        .as_str()
        .expect("a context")
        .to_owned()
}

/// Waits until the delivery of `keptn_context` waits for approval number `n` (1-based).
fn wait_approval(server: &Server, keptn_context: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = server.get(&format!(
            "/api/v1/event?keptnContext={keptn_context}&type=sh.keptn.event.approval.started"
        ));
        if events["events"].as_array().map_or(0, Vec::len) >= n {
            return;
        }
        assert!(Instant::now() < deadline, "approval {n} never came");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn decide(server: &Server, approve: bool) {
    let verb = if approve { "approve" } else { "decline" };
    let (code, _, stderr) = server.keptn(&[verb, "--project", "sockshop", "--stage", "production"]);
    assert_eq!(code, 0, "{stderr}");
}

fn wait_finished(server: &Server, keptn_context: &str, sequence: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = server.get(&format!(
            "/api/v1/event?keptnContext={keptn_context}&type=sh.keptn.event.production.{sequence}.finished"
        ));
        if let Some(result) = events["events"]
            .as_array()
            .and_then(|events| events.first())
            .and_then(|event| event["data"]["result"].as_str())
        {
            return result.to_owned();
        }
        assert!(Instant::now() < deadline, "{sequence} never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The carts service's router state.
fn carts(server: &Server) -> Value {
    server.get("/api/v1/platform")["services"][0].clone()
}

/// Which version answers 100 requests through the router, counted.
fn versions(server: &Server) -> (usize, usize) {
    let url = carts(server)["url"].as_str().expect("a router").to_owned();
    let client = reqwest::blocking::Client::new();
    let (mut old, mut new) = (0, 0);
    for _ in 0..100 {
        let body = client
            .get(format!("{url}/version"))
            .send()
            .expect("the router answers")
            .text()
            .expect("a body");
        if body.contains("0.9.1") {
            old += 1;
        } else {
            new += 1;
        }
    }
    (old, new)
}

/// Delivers 0.9.1 (the first version is primary and canary at once) and promotes it.
fn baseline(server: &Server) {
    let keptn_context = trigger(server, "0.9.1");
    for step in 1..=2 {
        wait_approval(server, &keptn_context, step);
        decide(server, true);
    }
    assert_eq!(wait_finished(server, &keptn_context, "delivery"), "pass");
}

#[test]
fn canary_steps_10_50_then_promotion() {
    let (_scratch, server) = setup("canary-steps");
    baseline(&server);
    let keptn_context = trigger(&server, "0.9.3");

    wait_approval(&server, &keptn_context, 1);
    assert_eq!(carts(&server)["canaryWeight"], 10);
    assert_eq!(versions(&server), (90, 10), "exactly 10 % to the canary");
    decide(&server, true);

    wait_approval(&server, &keptn_context, 2);
    assert_eq!(carts(&server)["canaryWeight"], 50);
    assert_eq!(versions(&server), (50, 50));
    decide(&server, true);

    assert_eq!(wait_finished(&server, &keptn_context, "delivery"), "pass");
    let service = carts(&server);
    assert_eq!(service["serving"], "0.9.3", "{service}");
    assert_eq!(service["primary"]["tag"], "0.9.3", "promoted: {service}");
    assert_eq!(service["canary"], Value::Null);
    assert_eq!(versions(&server), (0, 100));
}

#[test]
fn a_declined_canary_step_rolls_back_to_the_primary() {
    let (_scratch, server) = setup("canary-decline");
    baseline(&server);
    let keptn_context = trigger(&server, "0.9.2");
    wait_approval(&server, &keptn_context, 1);
    assert_eq!(carts(&server)["canaryWeight"], 10);
    decide(&server, false);
    assert_eq!(wait_finished(&server, &keptn_context, "delivery"), "fail");
    wait_finished(&server, &keptn_context, "rollback");
    let service = carts(&server);
    assert_eq!(service["serving"], "0.9.1", "{service}");
    assert_eq!(
        service["canary"],
        Value::Null,
        "the canary stopped: {service}"
    );
    assert_eq!(versions(&server), (100, 0));
}
