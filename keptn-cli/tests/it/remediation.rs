//! Closed-loop remediation on the real binary: carts runs in production on the local platform;
//! its `promotion` feature slows it down; a real Prometheus evaluates the alerting rules that
//! `keptn configure monitoring prometheus` generated from the SLO; a real Alertmanager posts the
//! alert to the control plane; the remediation loop scales (no help), re-evaluates, toggles the
//! feature off, re-evaluates and ends with pass; the resolved alert closes the problem. And a
//! problem whose actions never help escalates with `fail`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{Scratch, Server, TOKEN, free_port};
use crate::support::have;

const SHIPYARD: &str = r#"apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata:
  name: remediation
spec:
  stages:
    - name: production
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties:
                deploymentstrategy: blue_green_service
            - name: release
        - name: remediation
          triggeredOn:
            - event: production.remediation.finished
              selector:
                match:
                  evaluation.result: fail
          tasks:
            - name: get-action
            - name: action
            - name: evaluation
              triggeredAfter: "4s"
              properties:
                timeframe: "3s"
"#;

const LOCAL: &str = r#"command: keptn
args: ["demo", "carts", "--listen", "127.0.0.1:{port}", "--version", "{tag}", "--latency-ms", "50"]
health_path: /health
"#;

const SLO: &str = r#"spec_version: "1.0"
comparison:
  compare_with: single_result
  include_result_with_score: pass
objectives:
  - sli: response_time_p95
    pass:
      - criteria:
          - "<400"
total_score:
  pass: "90%"
  warning: "75%"
"#;

const SLI: &str = r#"spec_version: "1.0"
indicators:
  response_time_p95: histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket{destination_service_namespace="$PROJECT-$STAGE",destination_service_name="$SERVICE",destination_workload=~"$SERVICE(-$DEPLOYMENT)?"}[$DURATION_SECONDS])) by (le))
"#;

const REMEDIATION: &str = r#"apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: carts-remediation
spec:
  remediations:
    - problemType: response_time_p95
      actionsOnOpen:
        - action: scaling
          name: Scale up
          value: "1"
        - action: toggle-feature
          name: Switch off the promotion
          value:
            EnablePromotion: "off"
    - problemType: Needs a restart
      actionsOnOpen:
        - action: restart
          name: Restart script
    - problemType: Bad release
      actionsOnOpen:
        - action: rollback
          name: Back to the previous version
    - problemType: default
      actionsOnOpen:
        - action: scaling
          name: Scale up
          value: "1"
"#;

fn uniform(telemetry_port: u16) -> String {
    format!(
        "integrations:
  - name: lighthouse-service
    subscriptions:
      - event: sh.keptn.event.evaluation.triggered
      - event: sh.keptn.event.get-sli.finished
  - name: local-platform
    config:
      router_base_port: 0
      telemetry_listen: \"127.0.0.1:{telemetry_port}\"
    subscriptions:
      - event: sh.keptn.event.deployment.triggered
      - event: sh.keptn.event.release.triggered
      - event: sh.keptn.event.rollback.triggered
      - event: sh.keptn.event.action.triggered
  - name: local-sli
    subscriptions:
      - event: sh.keptn.event.get-sli.triggered
  - name: remediation-service
    subscriptions:
      - event: sh.keptn.event.get-action.triggered
  - name: scripts
    kind: script-action
    config:
      commands:
        restart: scripts/restart.sh
      timeout_seconds: 10
    subscriptions:
      - event: sh.keptn.event.action.triggered
"
    )
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reqwest::blocking::get(url).is_ok_and(|response| response.status().is_success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not get ready at {url}");
}

/// The project with carts delivered to production (0.9.1), and the router's URL.
fn deliver_carts(server: &Server, scratch: &Scratch) -> String {
    server.setup_project(scratch, SHIPYARD);
    for (uri, text, stage, service) in [
        ("local.yaml", LOCAL, Some("production"), Some("carts")),
        ("slo.yaml", SLO, Some("production"), Some("carts")),
        (
            "remediation.yaml",
            REMEDIATION,
            Some("production"),
            Some("carts"),
        ),
        ("prometheus/sli.yaml", SLI, None, None),
    ] {
        server.add_resource(scratch, uri, text, stage, service);
    }
    deliver(server, "0.9.1");
    let platform = server.get("/api/v1/platform");
    platform["services"][0]["url"]
        .as_str()
        .expect("carts has a router")
        .to_owned()
}

/// Delivers carts `tag` to production and waits for the sequence to pass.
fn deliver(server: &Server, tag: &str) {
    let image = format!("docker.io/keptnexamples/carts:{tag}");
    let (code, stdout, stderr) = server.keptn(&[
        "trigger",
        "delivery",
        "--project",
        "sockshop",
        "--service",
        "carts",
        "--image",
        &image,
        "--watch",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("\"pass\""),
        "{tag} reached production: {stdout}"
    );
}

/// Posts a problem as `production.remediation.triggered`; returns its Keptn context.
fn problem(server: &Server, title: &str) -> String {
    let event = json!({
        "specversion": "1.0",
        "source": "test",
        "type": "sh.keptn.event.production.remediation.triggered",
        "data": {
            "project": "sockshop",
            "stage": "production",
            "service": "carts",
            "problem": { "problemTitle": title, "State": "OPEN" },
        },
    });
    let answer: Value = server
        .http()
        .post(format!("{}/api/v1/event", server.endpoint))
        .header("x-token", TOKEN)
        .json(&event)
        .send()
        .expect("POST")
        .json()
        .expect("JSON");
    answer["keptnContext"]
        .as_str()
        .expect("a context")
        .to_owned()
}

/// Requests to carts from 4 threads until dropped, so that there is traffic to measure.
struct Load(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Load {
    fn start(url: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..4)
            .map(|customer| {
                let stop = Arc::clone(&stop);
                let url = format!("{url}/carts/{customer}/items");
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    while !stop.load(Ordering::Relaxed) {
                        let _ = client.get(&url).send();
                    }
                })
            })
            .collect();
        Load(stop, threads)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for thread in self.1.drain(..) {
            let _ = thread.join();
        }
    }
}

fn promotion(router: &str, enabled: bool) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{router}/admin/feature/promotion"))
        .json(&json!({ "enabled": enabled }))
        .send()
        .expect("carts answers");
    assert!(response.status().is_success(), "{}", response.status());
}

fn events(server: &Server, keptn_context: &str) -> Vec<Value> {
    server.get(&format!("/api/v1/event?keptnContext={keptn_context}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `done` holds for the events of `keptn_context` (or panics with them).
fn wait_for(
    server: &Server,
    keptn_context: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = events(server, keptn_context);
        if done(&seen) {
            return seen;
        }
        if Instant::now() > deadline {
            let types: Vec<String> = seen
                .iter()
                .map(|event| {
                    format!(
                        "{} {} {}",
                        event["type"].as_str().unwrap_or(""),
                        event["data"]["result"].as_str().unwrap_or(""),
                        event["data"]["message"].as_str().unwrap_or("")
                    )
                })
                .collect();
            panic!(
                "timed out waiting for {what}; events:\n{}",
                types.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn of_type<'events>(events: &'events [Value], event_type: &str) -> Vec<&'events Value> {
    events
        .iter()
        .filter(|event| event["type"] == event_type)
        .collect()
}

fn remediation_context(server: &Server, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let answer =
            server.get("/api/v1/event?type=sh.keptn.event.production.remediation.triggered");
        if let Some(context) = answer["events"]
            .as_array()
            .and_then(|events| events.first())
            .and_then(|event| event["shkeptncontext"].as_str())
        {
            return context.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no alert reached the control plane within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn alert_to_remediation_scaling_then_feature_toggle_resolves() {
    let _exclusive = crate::support::exclusive();
    if !(have("prometheus") && have("prometheus-alertmanager")) {
        return;
    }
    let scratch = Scratch::new("remediation-loop");
    let telemetry = free_port();
    let server = Server::start_with(&scratch, &uniform(telemetry));
    let router = deliver_carts(&server, &scratch);
    let _load = Load::start(&router);

    // Alerting rules and the Alertmanager route, generated from the SLO and sli.yaml.
    let monitoring = scratch.0.join("monitoring");
    let (code, stdout, stderr) = server.keptn(&[
        "configure",
        "monitoring",
        "prometheus",
        "--project",
        "sockshop",
        "--service",
        "carts",
        "--output-dir",
        monitoring.to_str().expect("utf-8"),
        "--for",
        "1s",
        "--window",
        "3s",
        "--group-wait",
        "1s",
        "--group-interval",
        "1s",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("production"), "{stdout}");
    let rules = std::fs::read_to_string(monitoring.join("rules.yml")).expect("rules written");
    assert!(rules.contains("alert: response_time_p95"), "{rules}");

    let alertmanager_port = free_port();
    let _alertmanager = Process(
        Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                monitoring.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", scratch.0.join("am").display()))
            .arg(format!(
                "--web.listen-address=127.0.0.1:{alertmanager_port}"
            ))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager starts"),
    );
    wait_ready(
        &format!("http://127.0.0.1:{alertmanager_port}/-/ready"),
        "alertmanager",
    );
    std::fs::write(
        monitoring.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [\"127.0.0.1:{alertmanager_port}\"]
scrape_configs:
  - job_name: keptn-local-platform
    static_configs:
      - targets: [\"127.0.0.1:{telemetry}\"]
"
        ),
    )
    .expect("prometheus.yml written");
    let prometheus_port = free_port();
    let _prometheus = Process(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                monitoring.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                scratch.0.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    wait_ready(
        &format!("http://127.0.0.1:{prometheus_port}/-/ready"),
        "prometheus",
    );

    // The slowdown: the alert fires, Alertmanager posts it, a remediation sequence starts.
    std::thread::sleep(Duration::from_secs(3));
    promotion(&router, true);
    let keptn_context = remediation_context(&server, Duration::from_secs(90));

    let seen = wait_for(
        &server,
        &keptn_context,
        "a remediation that passes",
        Duration::from_secs(120),
        |events| {
            of_type(events, "sh.keptn.event.production.remediation.finished")
                .iter()
                .any(|event| event["data"]["result"] == "pass")
        },
    );
    let actions: Vec<&str> = of_type(&seen, "sh.keptn.event.action.finished")
        .iter()
        .map(|event| event["data"]["message"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions.len(), 2, "two actions ran: {actions:?}");
    assert!(actions[0].starts_with("Scale up"), "{actions:?}");
    assert!(
        actions[1].starts_with("Switch off the promotion"),
        "{actions:?}"
    );
    let evaluations: Vec<&str> = of_type(&seen, "sh.keptn.event.evaluation.finished")
        .iter()
        .map(|event| event["data"]["result"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        evaluations,
        ["fail", "pass"],
        "re-evaluated after each action"
    );
    let endings: Vec<&str> = of_type(&seen, "sh.keptn.event.production.remediation.finished")
        .iter()
        .map(|event| event["data"]["result"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(endings, ["fail", "pass"]);
    let platform = server.get("/api/v1/platform");
    assert_eq!(
        platform["services"][0]["primary"]["replicas"], 2,
        "the scaling action added a replica: {platform}"
    );

    // Healthy again: the alert resolves and the problem is closed in the same context.
    wait_for(
        &server,
        &keptn_context,
        "the resolved alert",
        Duration::from_secs(60),
        |events| {
            of_type(events, "sh.keptn.events.problem")
                .iter()
                .any(|event| event["data"]["problem"]["State"] == "RESOLVED")
        },
    );
    // Exactly one loop: repeated notifications of the firing alert were duplicates.
    let triggers = server.get("/api/v1/event?type=sh.keptn.event.production.remediation.triggered");
    let contexts: std::collections::BTreeSet<&str> = triggers["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["shkeptncontext"].as_str())
        .collect();
    assert_eq!(contexts.len(), 1, "one problem, one loop: {contexts:?}");
}

#[test]
fn remediation_escalates_when_the_actions_run_out() {
    let _exclusive = crate::support::exclusive();
    let scratch = Scratch::new("remediation-escalates");
    let server = Server::start_with(&scratch, &uniform(free_port()));
    let router = deliver_carts(&server, &scratch);
    let _load = Load::start(&router);
    promotion(&router, true);
    std::thread::sleep(Duration::from_secs(1));
    let keptn_context = problem(&server, "Something nobody planned for");
    let seen = wait_for(
        &server,
        &keptn_context,
        "the escalation",
        Duration::from_secs(90),
        |events| {
            of_type(events, "sh.keptn.event.get-action.finished")
                .iter()
                .any(|event| event["data"]["result"] == "fail")
                && of_type(events, "sh.keptn.event.production.remediation.finished").len() == 2
        },
    );
    let escalation = of_type(&seen, "sh.keptn.event.get-action.finished")
        .into_iter()
        .find(|event| event["data"]["result"] == "fail")
        .expect("escalated");
    assert!(
        escalation["data"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("escalated")),
        "{escalation}"
    );
    let endings: Vec<&str> = of_type(&seen, "sh.keptn.event.production.remediation.finished")
        .iter()
        .map(|event| event["data"]["result"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        endings,
        ["fail", "fail"],
        "the default action did not help, then none was left"
    );
    assert_eq!(
        of_type(&seen, "sh.keptn.event.action.finished").len(),
        1,
        "the one default action ran once"
    );
}

#[test]
fn rollback_action_brings_back_the_previous_version() {
    let _exclusive = crate::support::exclusive();
    let scratch = Scratch::new("remediation-rollback");
    let server = Server::start_with(&scratch, &uniform(free_port()));
    let router = deliver_carts(&server, &scratch);
    // 0.9.2 (a second per request) reaches production: this shipyard has no quality gate.
    deliver(&server, "0.9.2");
    assert_eq!(
        server.get("/api/v1/platform")["services"][0]["serving"],
        "0.9.2"
    );
    let _load = Load::start(&router);
    std::thread::sleep(Duration::from_secs(1));
    let keptn_context = problem(&server, "Bad release");
    let seen = wait_for(
        &server,
        &keptn_context,
        "the remediation",
        Duration::from_secs(90),
        |events| !of_type(events, "sh.keptn.event.production.remediation.finished").is_empty(),
    );
    let finished = of_type(&seen, "sh.keptn.event.production.remediation.finished");
    assert_eq!(finished[0]["data"]["result"], "pass", "{seen:#?}");
    let action = of_type(&seen, "sh.keptn.event.action.finished");
    assert!(
        action[0]["data"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("0.9.1 serves again")),
        "{action:?}"
    );
    let platform = server.get("/api/v1/platform");
    assert_eq!(platform["services"][0]["serving"], "0.9.1", "{platform}");
}

#[test]
fn script_action_runs_a_script_from_the_config_repo() {
    let _exclusive = crate::support::exclusive();
    let scratch = Scratch::new("remediation-script");
    let server = Server::start_with(&scratch, &uniform(free_port()));
    let router = deliver_carts(&server, &scratch);
    server.add_resource(
        &scratch,
        "scripts/restart.sh",
        "#!/bin/sh\necho \"restarting $KEPTN_SERVICE in $KEPTN_STAGE: $KEPTN_PROBLEM_TITLE\"\n",
        Some("production"),
        Some("carts"),
    );
    let _load = Load::start(&router);
    std::thread::sleep(Duration::from_secs(1));
    let keptn_context = problem(&server, "Needs a restart");
    let seen = wait_for(
        &server,
        &keptn_context,
        "the remediation",
        Duration::from_secs(90),
        |events| !of_type(events, "sh.keptn.event.production.remediation.finished").is_empty(),
    );
    let action = of_type(&seen, "sh.keptn.event.action.finished");
    assert_eq!(action.len(), 1, "{seen:#?}");
    assert_eq!(action[0]["source"], "scripts", "the script runner answered");
    assert!(
        action[0]["data"]["message"].as_str().is_some_and(
            |message| message.contains("restarting carts in production: Needs a restart")
        ),
        "{action:?}"
    );
    let finished = of_type(&seen, "sh.keptn.event.production.remediation.finished");
    assert_eq!(finished[0]["data"]["result"], "pass", "{seen:#?}");
}
