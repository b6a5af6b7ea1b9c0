//! `keptn serve` end to end: the real binary on a loopback port with a temporary data dir,
//! driven through the CLI client and plain HTTP.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "test-token-0123456789";

/// Every task answered by `noop`, approvals by the approval service.
pub(crate) const UNIFORM: &str = "\
integrations:
  - name: noop
    subscriptions:
      - event: sh.keptn.event.deployment.triggered
      - event: sh.keptn.event.test.triggered
      - event: sh.keptn.event.evaluation.triggered
      - event: sh.keptn.event.release.triggered
      - event: sh.keptn.event.rollback.triggered
  - name: approval-service
    subscriptions:
      - event: sh.keptn.event.approval.triggered
";

const SHIPYARD: &str = "\
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata:
  name: shipyard-sockshop
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: test
    - name: staging
      sequences:
        - name: delivery
          triggeredOn:
            - event: dev.delivery.finished
          tasks:
            - name: deployment
            - name: test
            - name: evaluation
            - name: release
    - name: production
      sequences:
        - name: delivery
          triggeredOn:
            - event: staging.delivery.finished
          tasks:
            - name: approval
              properties:
                pass: automatic
                warning: manual
            - name: deployment
            - name: release
";

/// A scratch directory removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("keptn-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `keptn serve`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) endpoint: String,
    data_dir: PathBuf,
    uniform: PathBuf,
    port: u16,
    /// Flags after the usual ones, kept for restarts.
    extra_args: Vec<String>,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Server {
    fn start(scratch: &Scratch) -> Server {
        Server::start_with(scratch, UNIFORM)
    }

    pub(crate) fn start_with(scratch: &Scratch, uniform_text: &str) -> Server {
        Server::start_with_args(scratch, uniform_text, &[])
    }

    pub(crate) fn start_with_args(
        scratch: &Scratch,
        uniform_text: &str,
        extra_args: &[&str],
    ) -> Server {
        let uniform = scratch.0.join("uniform.yaml");
        std::fs::write(&uniform, uniform_text).expect("uniform written");
        let port = free_port();
        Server::spawn(scratch.0.join("data"), uniform, port, extra_args)
    }

    fn spawn(data_dir: PathBuf, uniform: PathBuf, port: u16, extra_args: &[&str]) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_keptn"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&data_dir)
            .arg("--uniform")
            .arg(&uniform)
            .args(extra_args)
            .env("KEPTN_API_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keptn serve starts");
        let server = Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            data_dir,
            uniform,
            port,
            extra_args: extra_args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if reqwest::blocking::get(format!("{}/health", self.endpoint))
                .is_ok_and(|response| response.status().is_success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("keptn serve did not become healthy on {}", self.endpoint);
    }

    /// `kill -9`, then start again on the same data dir and port.
    pub(crate) fn crash_and_restart(&mut self) {
        self.child.kill().expect("SIGKILL delivered");
        self.child.wait().expect("killed server reaped");
        let extra_args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        let restarted = Server::spawn(
            self.data_dir.clone(),
            self.uniform.clone(),
            self.port,
            &extra_args,
        );
        let old = std::mem::replace(self, restarted);
        std::mem::forget(old);
    }

    pub(crate) fn keptn(&self, args: &[&str]) -> (i32, String, String) {
        let run = crate::support::keptn_with_env(
            args,
            &[
                ("KEPTN_ENDPOINT", self.endpoint.as_str()),
                ("KEPTN_API_TOKEN", TOKEN),
            ],
        );
        (run.code, run.stdout, run.stderr)
    }

    pub(crate) fn http(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }

    pub(crate) fn get(&self, path: &str) -> Value {
        let response = self
            .http()
            .get(format!("{}{path}", self.endpoint))
            .header("x-token", TOKEN)
            .send()
            .expect("GET");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().expect("JSON answer")
    }

    fn setup_sockshop(&self, scratch: &Scratch) {
        self.setup_project(scratch, SHIPYARD);
    }

    /// `keptn add-resource` of `text` as `uri` (project level without a stage).
    pub(crate) fn add_resource(
        &self,
        scratch: &Scratch,
        uri: &str,
        text: &str,
        stage: Option<&str>,
        service: Option<&str>,
    ) {
        let file = scratch.0.join(uri.replace('/', "-"));
        std::fs::write(&file, text).expect("resource written");
        let mut args = vec![
            "add-resource",
            "--project",
            "sockshop",
            "--resource",
            file.to_str().expect("utf-8"),
            "--resourceUri",
            uri,
        ];
        if let Some(stage) = stage {
            args.extend(["--stage", stage]);
        }
        if let Some(service) = service {
            args.extend(["--service", service]);
        }
        let (code, _, stderr) = self.keptn(&args);
        assert_eq!(code, 0, "{stderr}");
    }

    pub(crate) fn setup_project(&self, scratch: &Scratch, shipyard_text: &str) {
        let shipyard = scratch.0.join("shipyard.yaml");
        std::fs::write(&shipyard, shipyard_text).expect("shipyard written");
        let (code, _, stderr) = self.keptn(&[
            "create",
            "project",
            "sockshop",
            "--shipyard",
            shipyard.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, stderr) =
            self.keptn(&["create", "service", "carts", "--project", "sockshop"]);
        assert_eq!(code, 0, "{stderr}");
    }

    fn finished_stages(&self, keptn_context: &str) -> Vec<(String, String)> {
        let answer = self.get(&format!(
            "/api/v1/sequence/sockshop?keptnContext={keptn_context}"
        ));
        let mut stages: Vec<(String, String)> = answer["sequences"]
            .as_array()
            .expect("sequences")
            .iter()
            .filter(|sequence| sequence["state"] == "finished")
            .map(|sequence| {
                (
                    sequence["stage"].as_str().unwrap_or("").to_owned(),
                    sequence["result"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        stages.sort();
        stages
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn all_stages_passed() -> Vec<(String, String)> {
    ["dev", "production", "staging"]
        .iter()
        .map(|stage| ((*stage).to_owned(), "pass".to_owned()))
        .collect()
}

#[test]
fn delivery_runs_through_three_stages_with_noop_integrations() {
    let scratch = Scratch::new("delivery");
    let server = Server::start(&scratch);
    server.setup_sockshop(&scratch);
    let (code, stdout, stderr) = server.keptn(&[
        "trigger",
        "delivery",
        "--project",
        "sockshop",
        "--service",
        "carts",
        "--image",
        "carts",
        "--tag",
        "0.9.1",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let keptn_context = serde_json::from_str::<Value>(&stdout).expect("JSON")["keptnContext"]
        .as_str()
        .expect("context")
        .to_owned();
    wait_for(
        "the delivery to finish in production",
        Duration::from_secs(30),
        || server.finished_stages(&keptn_context) == all_stages_passed(),
    );
    // Every task of every stage was triggered exactly once.
    let events = server.get(&format!("/api/v1/event?keptnContext={keptn_context}"));
    let triggered: Vec<String> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["type"].as_str().unwrap_or("").to_owned())
        .filter(|event_type| event_type.ends_with(".triggered"))
        .collect();
    let expected = [
        "sh.keptn.event.dev.delivery.triggered",
        "sh.keptn.event.deployment.triggered",
        "sh.keptn.event.test.triggered",
        "sh.keptn.event.staging.delivery.triggered",
        "sh.keptn.event.deployment.triggered",
        "sh.keptn.event.test.triggered",
        "sh.keptn.event.evaluation.triggered",
        "sh.keptn.event.release.triggered",
        "sh.keptn.event.production.delivery.triggered",
        "sh.keptn.event.approval.triggered",
        "sh.keptn.event.deployment.triggered",
        "sh.keptn.event.release.triggered",
    ];
    assert_eq!(triggered, expected);
    // Metrics: every task's duration was observed, the sequences counted by result.
    let metrics = server
        .http()
        .get(format!("{}/metrics", server.endpoint))
        .header("x-token", TOKEN)
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("keptn_task_duration_seconds_count{task=\"deployment\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keptn_sequences_finished_total{result=\"pass\"} 3"),
        "{metrics}"
    );
    // `get sequences --watch` follows the chain and returns once it has ended.
    let (code, stdout, stderr) = server.keptn(&[
        "get",
        "sequences",
        "--project",
        "sockshop",
        "--keptn-context",
        &keptn_context,
        "--watch",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let watched: Value = serde_json::from_str(&stdout).expect("JSON");
    let states: Vec<&str> = watched["sequences"]
        .as_array()
        .expect("sequences")
        .iter()
        .map(|sequence| sequence["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["finished", "finished", "finished"]);
    // The client's text listing shows the three stages.
    let (code, stdout, _) = server.keptn(&["get", "sequences", "--project", "sockshop"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout
            .lines()
            .filter(|line| line.contains("finished") && line.contains("pass"))
            .count(),
        3,
        "{stdout}"
    );
}

#[test]
fn requests_without_the_token_get_401() {
    let scratch = Scratch::new("auth");
    let server = Server::start(&scratch);
    let http = server.http();
    for (method, path) in [
        ("GET", "/api/v1/project"),
        ("POST", "/api/v1/event"),
        ("GET", "/metrics"),
    ] {
        let request = http.request(
            method.parse().expect("method"),
            format!("{}{path}", server.endpoint),
        );
        assert_eq!(
            request.send().expect("answer").status(),
            401,
            "{method} {path} without token"
        );
        let request = http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", server.endpoint),
            )
            .header("x-token", "wrong");
        assert_eq!(
            request.send().expect("answer").status(),
            401,
            "{method} {path} with a wrong token"
        );
    }
    assert_eq!(
        http.get(format!("{}/health", server.endpoint))
            .send()
            .expect("answer")
            .status(),
        200
    );
}

#[test]
fn malformed_or_unknown_events_are_400_and_not_stored() {
    let scratch = Scratch::new("malformed");
    let server = Server::start(&scratch);
    server.setup_sockshop(&scratch);
    let http = server.http();
    let bodies = [
        "not json".to_owned(),
        json!({"specversion": "1.0", "source": "t", "data": {"project": "sockshop"}}).to_string(),
        json!({"specversion": "1.0", "type": "com.example.thing", "source": "t", "data": {"project": "sockshop"}}).to_string(),
        json!({"specversion": "1.0", "type": "sh.keptn.event.dev.delivery.triggered", "source": "t", "data": {"stage": "dev"}}).to_string(),
        json!({"specversion": "1.0", "type": "sh.keptn.event.dev.delivery.triggered", "source": "t", "data": {"project": "sockshop", "stage": "dev"}}).to_string(),
        json!({"specversion": "1.0", "type": "sh.keptn.event.dev.del.ivery.x.triggered", "source": "t", "data": {"project": "sockshop"}}).to_string(),
    ];
    for body in bodies {
        let response = http
            .post(format!("{}/api/v1/event", server.endpoint))
            .header("x-token", TOKEN)
            .header("content-type", "application/cloudevents+json")
            .body(body.clone())
            .send()
            .expect("answer");
        assert_eq!(response.status(), 400, "body {body}");
        let answer: Value = response.json().expect("JSON error");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty()),
            "{answer}"
        );
    }
    let events = server.get("/api/v1/event");
    assert_eq!(events["events"], json!([]), "nothing was stored");
}

#[test]
fn binary_mode_events_are_accepted() {
    let scratch = Scratch::new("binary");
    let server = Server::start(&scratch);
    server.setup_sockshop(&scratch);
    let response = server
        .http()
        .post(format!("{}/api/v1/event", server.endpoint))
        .header("x-token", TOKEN)
        .header("ce-specversion", "1.0")
        .header("ce-id", "binary-1")
        .header("ce-source", "test")
        .header("ce-type", "sh.keptn.event.dev.delivery.triggered")
        .header("ce-shkeptncontext", "ctx-binary")
        .header("content-type", "application/json")
        .body(json!({"project": "sockshop", "stage": "dev", "service": "carts"}).to_string())
        .send()
        .expect("answer");
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().expect("JSON");
    assert_eq!(answer["keptnContext"], "ctx-binary");
    wait_for(
        "the binary-mode delivery to finish",
        Duration::from_secs(30),
        || server.finished_stages("ctx-binary") == all_stages_passed(),
    );
}

/// The crash test: 100 deliveries answered by `noop`, the server killed with SIGKILL
/// three times while they run, restarted each time; every delivery must reach the end of
/// production and every task must have been triggered exactly once.
#[test]
fn kill_9_loses_no_event_and_triggers_no_task_twice() {
    let _exclusive = crate::support::exclusive();
    let scratch = Scratch::new("crash");
    let mut server = Server::start(&scratch);
    deliveries_survive_kill_9(&mut server, &scratch, 100, &[15, 45, 80]);
}

/// Sets up sockshop, posts `n_deliveries` deliveries answered by `noop` and `kill -9`s the
/// server after each delivery number in `kill_after` (restarting it on the same data), then
/// checks that all reach the end of production with every task triggered exactly once.
pub(crate) fn deliveries_survive_kill_9(
    server: &mut Server,
    scratch: &Scratch,
    n_deliveries: usize,
    kill_after: &[usize],
) {
    server.setup_sockshop(scratch);
    for delivery_idx in 0..n_deliveries {
        let event = json!({
            "specversion": "1.0",
            "id": format!("delivery-{delivery_idx}"),
            "source": "crash-test",
            "type": "sh.keptn.event.dev.delivery.triggered",
            "shkeptncontext": format!("context-{delivery_idx}"),
            "data": {"project": "sockshop", "stage": "dev", "service": "carts"},
        });
        // Retry until accepted: the id makes a repeat after a lost answer a no-op.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let sent = server
                .http()
                .post(format!("{}/api/v1/event", server.endpoint))
                .header("x-token", TOKEN)
                .json(&event)
                .send();
            if sent.is_ok_and(|response| response.status() == 202) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "delivery {delivery_idx} was never accepted"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        if kill_after.contains(&delivery_idx) {
            server.crash_and_restart();
        }
    }
    wait_for(
        "all deliveries to finish in production",
        Duration::from_secs(240),
        || {
            let answer = server.get("/api/v1/sequence/sockshop?stage=production&state=finished");
            answer["sequences"]
                .as_array()
                .is_some_and(|sequences| sequences.len() == n_deliveries)
        },
    );
    let events = server.get("/api/v1/event?project=sockshop");
    let mut triggered_per_context_stage: std::collections::BTreeMap<
        (String, String, String),
        usize,
    > = Default::default();
    for event in events["events"].as_array().expect("events") {
        let event_type = event["type"].as_str().unwrap_or("");
        if event_type.ends_with(".triggered") {
            let key = (
                event["shkeptncontext"].as_str().unwrap_or("").to_owned(),
                event["data"]["stage"].as_str().unwrap_or("").to_owned(),
                event_type.to_owned(),
            );
            *triggered_per_context_stage.entry(key).or_default() += 1;
        }
    }
    let repeated: Vec<_> = triggered_per_context_stage
        .iter()
        .filter(|(_, count)| **count != 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "triggered more than once: {repeated:?}"
    );
    // 12 triggered events per delivery (3 sequence triggers + 9 tasks), as in the single run.
    assert_eq!(
        triggered_per_context_stage.len(),
        n_deliveries * 12,
        "one sequence trigger and its tasks per stage"
    );
    for delivery_idx in 0..n_deliveries {
        assert_eq!(
            server.finished_stages(&format!("context-{delivery_idx}")),
            all_stages_passed(),
            "delivery {delivery_idx}"
        );
    }
}

const EVALUATION_UNIFORM: &str = "\
integrations:
  - name: lighthouse-service
    subscriptions:
      - event: sh.keptn.event.evaluation.triggered
      - event: sh.keptn.event.get-sli.finished
";

const SLO: &str = "\
comparison:
  compare_with: several_results
  number_of_comparison_results: 3
  include_result_with_score: pass
objectives:
  - sli: response_time_p95
    pass:
      - criteria: [\"<=+10%\", \"<600\"]
  - sli: error_rate
    pass:
      - criteria: [\"<=1\"]
total_score:
  pass: \"90%\"
";

impl Server {
    /// Adds the test SLO to sockshop/staging/carts through the CLI.
    fn add_slo(&self, scratch: &Scratch) {
        let slo = scratch.0.join("slo.yaml");
        std::fs::write(&slo, SLO).expect("slo written");
        let (code, _, stderr) = self.keptn(&[
            "add-resource",
            "--project",
            "sockshop",
            "--stage",
            "staging",
            "--service",
            "carts",
            "--resource",
            slo.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, 0, "{stderr}");
    }

    /// Posts an event to the API and checks it was accepted.
    fn post_event(&self, event: &Value) {
        let response = self
            .http()
            .post(format!("{}/api/v1/event", self.endpoint))
            .header("x-token", TOKEN)
            .json(event)
            .send()
            .expect("event sent");
        assert_eq!(response.status(), 202, "event {event}");
    }

    /// Triggers the built-in evaluation of sockshop/staging/carts over 5 minutes through the CLI;
    /// returns the Keptn context.
    fn trigger_evaluation(&self) -> String {
        let (code, stdout, stderr) = self.keptn(&[
            "trigger",
            "evaluation",
            "--project",
            "sockshop",
            "--stage",
            "staging",
            "--service",
            "carts",
            "--timeframe",
            "5m",
            "-o",
            "json",
        ]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str::<Value>(&stdout).expect("JSON")["keptnContext"]
            .as_str()
            .expect("context")
            .to_owned()
    }

    /// Triggers the built-in evaluation, answers its get-sli.triggered as an SLI provider would,
    /// and returns the recorded evaluation.finished data.
    fn evaluate_with(&self, response_time: f64) -> Value {
        let keptn_context = self.trigger_evaluation();
        let mut get_sli = Value::Null;
        wait_for("get-sli.triggered", Duration::from_secs(20), || {
            let events = self.get(&format!(
                "/api/v1/event?keptnContext={keptn_context}&type=sh.keptn.event.get-sli.triggered"
            ));
            get_sli = events["events"][0].clone();
            !get_sli.is_null()
        });
        assert_eq!(
            get_sli["data"]["get-sli"]["indicators"],
            json!(["response_time_p95", "error_rate"]),
            "the indicators come from the SLO"
        );
        let answer = json!({
            "specversion": "1.0", "source": "test-sli-provider", "type": "sh.keptn.event.get-sli.finished",
            "shkeptncontext": keptn_context, "triggeredid": get_sli["id"],
            "data": {"project": "sockshop", "stage": "staging", "service": "carts", "status": "succeeded", "result": "pass",
                "get-sli": {"start": get_sli["data"]["get-sli"]["start"], "end": get_sli["data"]["get-sli"]["end"],
                    "indicatorValues": [
                        {"metric": "response_time_p95", "value": response_time, "success": true},
                        {"metric": "error_rate", "value": 0, "success": true}]}},
        });
        let response = self
            .http()
            .post(format!("{}/api/v1/event", self.endpoint))
            .header("x-token", TOKEN)
            .json(&answer)
            .send()
            .expect("answer sent");
        assert_eq!(response.status(), 202);
        let mut finished = Value::Null;
        wait_for("evaluation.finished", Duration::from_secs(20), || {
            let events = self.get(&format!(
                "/api/v1/event?keptnContext={keptn_context}&type=sh.keptn.event.evaluation.finished"
            ));
            finished = events["events"][0].clone();
            !finished.is_null()
        });
        wait_for(
            "the evaluation sequence to finish",
            Duration::from_secs(20),
            || !self.finished_stages(&keptn_context).is_empty(),
        );
        finished["data"].clone()
    }
}

#[test]
fn built_in_evaluation_scores_sli_values_against_the_slo_and_its_history() {
    let scratch = Scratch::new("evaluation");
    let server = Server::start_with(&scratch, EVALUATION_UNIFORM);
    server.setup_sockshop(&scratch);
    server.add_slo(&scratch);

    let first = server.evaluate_with(250.0);
    assert_eq!(first["result"], "pass", "{first}");
    assert_eq!(first["evaluation"]["score"], 100.0);
    // No history yet: the relative criterion passes with target 0.
    assert_eq!(
        first["evaluation"]["indicatorResults"][0]["passTargets"][0]["targetValue"],
        0.0
    );

    let second = server.evaluate_with(1250.0);
    assert_eq!(second["result"], "fail", "{second}");
    assert_eq!(second["evaluation"]["score"], 50.0);
    // `get sequences` (and `--watch`) show the score with the sequence.
    let (code, stdout, stderr) = server.keptn(&[
        "get",
        "sequences",
        "--project",
        "sockshop",
        "--stage",
        "staging",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let listed: Value = serde_json::from_str(&stdout).expect("JSON");
    let mut scores: Vec<f64> = listed["sequences"]
        .as_array()
        .expect("sequences")
        .iter()
        .filter_map(|sequence| sequence["score"].as_f64())
        .collect();
    scores.sort_by(f64::total_cmp);
    assert_eq!(scores, [50.0, 100.0], "{listed}");
    assert_eq!(
        second["evaluation"]["indicatorResults"][0]["value"]["comparedValue"],
        250.0
    );
    assert_eq!(
        second["evaluation"]["comparedEvents"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The failed evaluation is not a baseline (include_result_with_score: pass).
    let third = server.evaluate_with(260.0);
    assert_eq!(third["result"], "pass", "{third}");
    assert_eq!(
        third["evaluation"]["indicatorResults"][0]["value"]["comparedValue"],
        250.0
    );

    let (code, stdout, _) = server.keptn(&[
        "get",
        "evaluations",
        "--project",
        "sockshop",
        "--stage",
        "staging",
        "--service",
        "carts",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let results: Vec<String> = serde_json::from_str::<Value>(&stdout).expect("JSON")["evaluations"]
        .as_array()
        .expect("evaluations")
        .iter()
        .map(|evaluation| {
            evaluation["data"]["result"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(results, ["pass", "fail", "pass"], "newest first");
}

const APPROVAL_SHIPYARD: &str = "\
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata:
  name: approvals
spec:
  stages:
    - name: production
      sequences:
        - name: delivery
          tasks:
            - name: approval
              properties:
                pass: manual
                warning: manual
            - name: deployment
";

#[test]
fn manual_approval_waits_for_approve_or_decline() {
    let scratch = Scratch::new("approval");
    let server = Server::start(&scratch);
    server.setup_project(&scratch, APPROVAL_SHIPYARD);
    let (code, _, stderr) = server.keptn(&["create", "service", "orders", "--project", "sockshop"]);
    assert_eq!(code, 0, "{stderr}");
    let trigger_for = |context: &str, service: &str| {
        let event = json!({"specversion": "1.0", "source": "test", "type": "sh.keptn.event.production.delivery.triggered",
            "shkeptncontext": context, "data": {"project": "sockshop", "stage": "production", "service": service, "result": "pass"}});
        server.post_event(&event);
    };
    let trigger = |context: &str| trigger_for(context, "carts");
    let state_of = |context: &str| {
        let answer = server.get(&format!("/api/v1/sequence/sockshop?keptnContext={context}"));
        (
            answer["sequences"][0]["state"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            answer["sequences"][0]["result"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    trigger("approve-me");
    wait_for("the approval to wait", Duration::from_secs(20), || {
        state_of("approve-me").0 == "waiting"
    });
    // A waiting approval does not block the stage for another service: orders waits for its
    // own approval instead of queueing behind carts, and `get sequences` shows both waiting.
    trigger_for("orders-too", "orders");
    wait_for("orders' own approval", Duration::from_secs(20), || {
        state_of("orders-too").0 == "waiting"
    });
    let (code, stdout, stderr) =
        server.keptn(&["get", "sequences", "--project", "sockshop", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let listed: Value = serde_json::from_str(&stdout).expect("JSON");
    let waiting = listed["sequences"]
        .as_array()
        .expect("sequences")
        .iter()
        .filter(|sequence| sequence["state"] == "waiting")
        .count();
    assert_eq!(waiting, 2, "{listed}");
    let (code, _, stderr) = server.keptn(&[
        "approve",
        "--project",
        "sockshop",
        "--stage",
        "production",
        "--service",
        "carts",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        state_of("orders-too").0,
        "waiting",
        "only carts was approved"
    );
    let (code, _, stderr) = server.keptn(&[
        "decline",
        "--project",
        "sockshop",
        "--stage",
        "production",
        "--service",
        "orders",
    ]);
    assert_eq!(code, 0, "{stderr}");
    wait_for("orders declined", Duration::from_secs(20), || {
        state_of("orders-too") == ("finished".to_owned(), "fail".to_owned())
    });
    wait_for(
        "the approved delivery to finish",
        Duration::from_secs(20),
        || state_of("approve-me") == ("finished".to_owned(), "pass".to_owned()),
    );

    trigger("decline-me");
    wait_for(
        "the second approval to wait",
        Duration::from_secs(20),
        || state_of("decline-me").0 == "waiting",
    );
    let (code, _, stderr) =
        server.keptn(&["decline", "--project", "sockshop", "--stage", "production"]);
    assert_eq!(code, 0, "{stderr}");
    wait_for(
        "the declined delivery to finish",
        Duration::from_secs(20),
        || state_of("decline-me") == ("finished".to_owned(), "fail".to_owned()),
    );

    // Nothing waits any more.
    let (code, _, stderr) =
        server.keptn(&["approve", "--project", "sockshop", "--stage", "production"]);
    assert_eq!(code, 2, "no approval waits: {stderr}");
}

#[test]
fn resources_are_stored_in_the_config_repo_and_paths_cannot_escape() {
    let scratch = Scratch::new("resources");
    let server = Server::start(&scratch);
    server.setup_sockshop(&scratch);
    let file = scratch.0.join("sli.yaml");
    std::fs::write(
        &file,
        "spec_version: '1.0'\nindicators:\n  throughput: sum(rate(x[$DURATION_SECONDS]))\n",
    )
    .expect("written");
    let (code, _, stderr) = server.keptn(&[
        "add-resource",
        "--project",
        "sockshop",
        "--stage",
        "dev",
        "--service",
        "carts",
        "--resource",
        file.to_str().expect("utf-8"),
        "--resourceUri",
        "prometheus/sli.yaml",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let answer =
        server.get("/api/v1/project/sockshop/stage/dev/service/carts/resource/prometheus/sli.yaml");
    let content = answer["resourceContent"].as_str().expect("content");
    assert_eq!(
        base64_decode(content),
        std::fs::read(&file).expect("read back"),
        "the stored resource is the file"
    );
    // The project's shipyard is in the repository too.
    let shipyard = server.get("/api/v1/project/sockshop/resource/shipyard.yaml");
    assert_eq!(
        base64_decode(shipyard["resourceContent"].as_str().expect("content")),
        SHIPYARD.as_bytes()
    );

    let escape =
        json!({"resources": [{"resourceURI": "../../etc/passwd", "resourceContent": "eA=="}]});
    let response = server
        .http()
        .post(format!(
            "{}/api/v1/project/sockshop/stage/dev/service/carts/resource",
            server.endpoint
        ))
        .header("x-token", TOKEN)
        .json(&escape)
        .send()
        .expect("answer");
    assert_eq!(
        response.status(),
        400,
        "a path that escapes the repository is rejected"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

#[test]
fn a_task_nobody_answers_ends_its_sequence_with_a_clear_message() {
    let scratch = Scratch::new("timeout");
    // No integration subscribes to `deployment`: Keptn's most reported stuck sequence.
    let uniform = "integrations:\n  - name: approval-service\n    subscriptions:\n      - event: sh.keptn.event.approval.triggered\n";
    let server = Server::start_with_args(&scratch, uniform, &["--task-started-timeout", "1s"]);
    server.setup_sockshop(&scratch);
    let event = json!({"specversion": "1.0", "source": "test", "type": "sh.keptn.event.dev.delivery.triggered",
        "shkeptncontext": "nobody-answers", "data": {"project": "sockshop", "stage": "dev", "service": "carts"}});
    server.post_event(&event);
    wait_for("the sequence to time out", Duration::from_secs(20), || {
        server.finished_stages("nobody-answers") == [("dev".to_owned(), "fail".to_owned())]
    });
    let answer = server.get("/api/v1/sequence/sockshop?keptnContext=nobody-answers");
    let message = answer["sequences"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("deployment"),
        "the message names the task: {message}"
    );
}

#[test]
fn invalid_timeout_flags_are_rejected() {
    let output = Command::new(env!("CARGO_BIN_EXE_keptn"))
        .args([
            "serve",
            "--task-finished-timeout",
            "test=soon",
            "--data-dir",
            "/nonexistent/never-created",
        ])
        .output()
        .expect("keptn runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'soon' is not a duration"));
}

/// Starts `keptn serve` with `uniform` and returns its exit code and stderr; it must stop by
/// itself.
fn serve_refuses(name: &str, uniform: &str) -> (Option<i32>, String) {
    let scratch = Scratch::new(name);
    let path = scratch.0.join("uniform.yaml");
    std::fs::write(&path, uniform).expect("uniform written");
    let output = Command::new(env!("CARGO_BIN_EXE_keptn"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(scratch.0.join("data"))
        .arg("--uniform")
        .arg(&path)
        .env("KEPTN_API_TOKEN", TOKEN)
        .output()
        .expect("keptn runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_integration_kind_stops_serve_with_the_known_kinds() {
    let uniform = "integrations:\n  - name: approval-service\n    subscriptions:\n      - event: sh.keptn.event.approval.triggered\n  - name: evaluator\n    kind: lighthous-service\n    subscriptions:\n      - event: sh.keptn.event.evaluation.triggered\n";
    let (code, stderr) = serve_refuses("unknown-kind", uniform);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("uniform.yaml:6:11: error: unknown integration kind 'lighthous-service' (did you mean 'lighthouse-service'?)"),
        "{stderr}"
    );
    for kind in [
        "noop",
        "approval-service",
        "lighthouse-service",
        "remediation-service",
        "prometheus-service",
        "local-sli",
        "loadgen",
        "jmeter-service",
        "local-platform",
        "helm-service",
        "webhook-action",
        "script-action",
        "external",
    ] {
        assert!(stderr.contains(kind), "{kind} missing: {stderr}");
    }
    // Keptn's service names are kinds too, so a misspelt name without a kind is caught the
    // same way, located at the name.
    let (code, stderr) = serve_refuses(
        "unknown-name",
        "integrations:\n  - name: jmeter-servce\n    subscriptions:\n      - event: sh.keptn.event.test.triggered\n",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("uniform.yaml:2:11: error: unknown integration kind 'jmeter-servce'"),
        "{stderr}"
    );
}

#[test]
fn an_integration_config_that_does_not_validate_stops_serve_located() {
    let uniform = "integrations:\n  - name: prometheus-service\n    config:\n      url: ftp://prometheus\n    subscriptions:\n      - event: sh.keptn.event.get-sli.triggered\n  - name: noop\n    config: {delay: 5s}\n    subscriptions: []\n";
    let (code, stderr) = serve_refuses("bad-config", uniform);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "uniform.yaml:4:7: error: config of 'prometheus-service' (kind prometheus-service):"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("ftp://prometheus"), "{stderr}");
    assert!(
        stderr.contains(
            "uniform.yaml:8:13: error: config of 'noop' (kind noop): kind noop takes no config"
        ),
        "{stderr}"
    );
}

#[test]
fn openapi_document_describes_every_route_and_open_triggers_can_be_polled() {
    let scratch = Scratch::new("openapi");
    // No integration answers `deployment`: its trigger stays open for a polling integration.
    let uniform = "integrations:\n  - name: approval-service\n    subscriptions:\n      - event: sh.keptn.event.approval.triggered\n";
    let server = Server::start_with(&scratch, uniform);
    let document: Value = server
        .http()
        .get(format!("{}/api/v1/openapi.json", server.endpoint))
        .send()
        .expect("answer")
        .json()
        .expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3."))
    );
    for path in [
        "/api/v1/event",
        "/api/v1/event/triggered/{event_type}",
        "/api/v1/project",
        "/api/v1/sequence/{project}",
        "/api/v1/approval/{project}/{stage}",
        "/api/v1/project/{project}/stage/{stage}/service/{service}/evaluation",
        "/api/v1/platform",
        "/api/v1/alertmanager",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }

    server.setup_sockshop(&scratch);
    let event = json!({"specversion": "1.0", "source": "test", "type": "sh.keptn.event.dev.delivery.triggered",
        "shkeptncontext": "polled", "data": {"project": "sockshop", "stage": "dev", "service": "carts"}});
    server.post_event(&event);
    let mut open = Value::Null;
    wait_for(
        "an open deployment trigger",
        Duration::from_secs(20),
        || {
            open = server.get(
                "/api/v1/event/triggered/sh.keptn.event.deployment.triggered?project=sockshop",
            );
            open["events"]
                .as_array()
                .is_some_and(|events| events.len() == 1)
        },
    );
    let trigger = &open["events"][0];
    // A polling integration answers it; then it is no longer open and the sequence moves on.
    let finished = json!({"specversion": "1.0", "source": "remote-deployer", "type": "sh.keptn.event.deployment.finished",
        "shkeptncontext": "polled", "triggeredid": trigger["id"],
        "data": {"project": "sockshop", "stage": "dev", "service": "carts", "status": "succeeded", "result": "pass"}});
    server.post_event(&finished);
    wait_for(
        "the next task to be triggered",
        Duration::from_secs(20),
        || {
            let open = server
                .get("/api/v1/event/triggered/sh.keptn.event.test.triggered?project=sockshop");
            open["events"]
                .as_array()
                .is_some_and(|events| events.len() == 1)
        },
    );
    let still_open =
        server.get("/api/v1/event/triggered/sh.keptn.event.deployment.triggered?project=sockshop");
    assert_eq!(still_open["events"], json!([]));
}

#[test]
fn a_project_with_a_git_upstream_pushes_every_change_there() {
    let scratch = Scratch::new("upstream");
    let upstream = scratch.0.join("upstream.git");
    let status = Command::new("git")
        .args(["init", "--quiet", "--bare"])
        .arg(&upstream)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .expect("git runs");
    assert!(status.success());
    let server = Server::start(&scratch);
    let shipyard = scratch.0.join("shipyard.yaml");
    std::fs::write(&shipyard, SHIPYARD).expect("shipyard written");
    let url = format!("file://{}", upstream.display());
    let (code, _, stderr) = server.keptn(&[
        "create",
        "project",
        "sockshop",
        "--shipyard",
        shipyard.to_str().expect("utf-8"),
        "--git-remote-url",
        &url,
    ]);
    assert_eq!(code, 0, "{stderr}");
    server.add_slo(&scratch);
    let show = |spec: &str| {
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(&upstream)
            .args(["show", spec])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git show {spec}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    assert_eq!(show("main:shipyard.yaml"), SHIPYARD);
    assert_eq!(show("staging:carts/slo.yaml"), SLO);

    // An upstream that cannot be reached leaves no project behind.
    let (code, _, stderr) = server.keptn(&[
        "create",
        "project",
        "broken",
        "--shipyard",
        shipyard.to_str().expect("utf-8"),
        "--git-remote-url",
        "file:///nonexistent/repo.git",
    ]);
    assert_ne!(code, 0);
    assert!(!stderr.is_empty());
    let projects = server.get("/api/v1/project");
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|project| project["projectName"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["sockshop"]);
}

/// Serves an axum router on a loopback port from a background thread; returns its address.
fn serve_in_background(router: axum::Router) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, router).await.expect("serves");
        });
    });
    address
}

const TEST_SHIPYARD: &str = "\
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata:
  name: load
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: test
              properties:
                teststrategy: performance
";

#[test]
fn the_built_in_load_runner_tests_the_service_and_reports_the_timeframe() {
    let scratch = Scratch::new("loadgen");
    let carts = keptn_example_carts::Carts::new("0.9.3").expect("valid version");
    let address = serve_in_background(keptn_example_carts::app(carts));
    let uniform = format!(
        "integrations:
  - name: noop
    subscriptions:
      - event: sh.keptn.event.deployment.triggered
  - name: load-runner
    kind: loadgen
    config:
      target: http://{address}
      workloads:
        - teststrategy: performance
          virtual_users: 2
          iterations: 3
          think_time_ms: 0
          avg_rt_limit_ms: 500
          requests:
            - method: GET
              path: /carts/1/items
    subscriptions:
      - event: sh.keptn.event.test.triggered
"
    );
    let server = Server::start_with(&scratch, &uniform);
    server.setup_project(&scratch, TEST_SHIPYARD);
    server.post_event(&json!({"specversion": "1.0", "source": "test", "type": "sh.keptn.event.dev.delivery.triggered",
        "shkeptncontext": "load-test", "data": {"project": "sockshop", "stage": "dev", "service": "carts"}}));
    wait_for("the delivery to finish", Duration::from_secs(30), || {
        server.finished_stages("load-test") == [("dev".to_owned(), "pass".to_owned())]
    });
    let events =
        server.get("/api/v1/event?keptnContext=load-test&type=sh.keptn.event.test.finished");
    let finished = &events["events"][0];
    assert_eq!(finished["source"], "load-runner");
    assert_eq!(finished["data"]["result"], "pass", "{finished}");
    let start = finished["data"]["test"]["start"].as_str().expect("start");
    let end = finished["data"]["test"]["end"].as_str().expect("end");
    assert!(start <= end, "{start} <= {end}");
    assert!(
        finished["data"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("6")),
        "6 requests: {finished}"
    );
}

#[test]
fn prometheus_service_answers_get_sli_with_the_project_queries() {
    use axum::routing::get;
    let scratch = Scratch::new("prometheus");
    // A stand-in for Prometheus's query API: every query is worth 250, and the query is echoed
    // back in the label so the test can see what was asked.
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let recorder = std::sync::Arc::clone(&asked);
    let fake = axum::Router::new().route(
        "/api/v1/query",
        get(
            move |axum::extract::Query(query): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let recorder = std::sync::Arc::clone(&recorder);
                async move {
                    recorder
                        .lock()
                        .expect("lock")
                        .push(query.get("query").cloned().unwrap_or_default());
                    axum::Json(json!({"status": "success", "data": {"resultType": "vector",
                    "result": [{"metric": {}, "value": [1_700_000_000.0, "250"]}]}}))
                }
            },
        ),
    );
    let address = serve_in_background(fake);
    let uniform = format!(
        "integrations:
  - name: lighthouse-service
    subscriptions:
      - event: sh.keptn.event.evaluation.triggered
      - event: sh.keptn.event.get-sli.finished
  - name: prometheus-service
    config:
      url: http://{address}
    subscriptions:
      - event: sh.keptn.event.get-sli.triggered
"
    );
    let server = Server::start_with(&scratch, &uniform);
    server.setup_sockshop(&scratch);
    server.add_slo(&scratch);
    let sli = scratch.0.join("sli.yaml");
    std::fs::write(
        &sli,
        "spec_version: '1.0'\nindicators:\n  response_time_p95: histogram_quantile(0.95, sum(rate(http_response_time_milliseconds_bucket{job=\"$SERVICE-$PROJECT-$STAGE\"}[$DURATION_SECONDS])) by (le))\n  error_rate: sum(rate(http_requests_total{job=\"$SERVICE-$PROJECT-$STAGE\",status!~\"2..\"}[$DURATION_SECONDS]))\n",
    )
    .expect("sli written");
    let (code, _, stderr) = server.keptn(&[
        "add-resource",
        "--project",
        "sockshop",
        "--resource",
        sli.to_str().expect("utf-8"),
        "--resourceUri",
        "prometheus/sli.yaml",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let keptn_context = server.trigger_evaluation();
    wait_for("the evaluation to finish", Duration::from_secs(30), || {
        !server.finished_stages(&keptn_context).is_empty()
    });
    let events = server.get(&format!(
        "/api/v1/event?keptnContext={keptn_context}&type=sh.keptn.event.evaluation.finished"
    ));
    let evaluation = &events["events"][0]["data"];
    // 250 passes "<600" and, with no history, "<=+10%"; the error rate of 250 fails "<=1".
    assert_eq!(
        evaluation["evaluation"]["indicatorResults"][0]["value"]["value"], 250.0,
        "{evaluation}"
    );
    assert_eq!(
        evaluation["evaluation"]["indicatorResults"][0]["status"],
        "pass"
    );
    assert_eq!(
        evaluation["evaluation"]["indicatorResults"][1]["status"],
        "fail"
    );
    let asked = asked.lock().expect("lock").clone();
    assert!(
        asked
            .iter()
            .any(|query| query.contains("job=\"carts-sockshop-staging\"")
                && query.contains("[300s]")),
        "placeholders rendered: {asked:?}"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly_and_a_restart_keeps_everything() {
    let scratch = Scratch::new("sigterm");
    let mut server = Server::start(&scratch);
    server.setup_sockshop(&scratch);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "keptn serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0), "a clean stop exits 0");
    let restarted = Server::spawn(
        server.data_dir.clone(),
        server.uniform.clone(),
        server.port,
        &[],
    );
    let projects = restarted.get("/api/v1/project");
    assert_eq!(projects["projects"][0]["projectName"], "sockshop");
}
