//! `keptn quickstart`: the sockshop tutorial end to end on one machine.
//!
//! Starts the embedded control plane on a thread of its own (SQLite, a git config repo, the
//! local platform: carts as local processes behind a weighted router), creates project
//! `sockshop` from the example files built into the binary, onboards `carts`, and delivers
//! three artifacts:
//!
//! 1. carts 0.9.1 through dev → staging → production (the baseline);
//! 2. carts 0.9.2 (one second slower per request): dev passes, the staging quality gate fails
//!    on response time, the rollback returns staging's traffic to 0.9.1, production is never
//!    touched;
//! 3. carts 0.9.3: passes every stage; production's approval passes automatically on `pass`.
//!
//! It shows each task as it happens, prints a table per artifact and stage (result, score,
//! what each stage serves afterwards), and exits 0 only when the run went as the tutorial
//! says. The data directory keeps the evidence: database (events, evaluations), config repo,
//! the platform's process logs, the uniform used.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::client::{Client, Credentials};
use crate::serve::{Background, Options};
use crate::{Exit, InvalidInput};

/// The example project, built into the binary so the quickstart runs from anywhere.
pub mod example {
    /// The sockshop shipyard.
    pub const SHIPYARD: &str = include_str!("../../examples/sockshop/shipyard.yaml");
    /// The carts quality gate.
    pub const SLO: &str = include_str!("../../examples/sockshop/slo.yaml");
    /// The Prometheus SLI queries (over the router's Istio-named metrics).
    pub const SLI: &str = include_str!("../../examples/sockshop/sli.yaml");
    /// How the local platform runs carts.
    pub const LOCAL: &str = include_str!("../../examples/sockshop/local.yaml");
    /// The remediation actions.
    pub const REMEDIATION: &str = include_str!("../../examples/sockshop/remediation.yaml");
    /// JMeter's workloads and plans (`--tests jmeter`).
    pub const JMETER: [(&str, &str); 3] = [
        (
            "jmeter/jmeter.conf.yaml",
            include_str!("../../examples/sockshop/jmeter/jmeter.conf.yaml"),
        ),
        (
            "jmeter/basiccheck.jmx",
            include_str!("../../examples/sockshop/jmeter/basiccheck.jmx"),
        ),
        (
            "jmeter/load.jmx",
            include_str!("../../examples/sockshop/jmeter/load.jmx"),
        ),
    ];
}

/// The project, service, stages and artifacts of the tutorial.
const PROJECT: &str = "sockshop";
const SERVICE: &str = "carts";
const STAGES: [&str; 3] = ["dev", "staging", "production"];
const IMAGE: &str = "docker.io/keptnexamples/carts";
const ARTIFACTS: [&str; 3] = ["0.9.1", "0.9.2", "0.9.3"];

/// Where the SLIs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SliProvider {
    /// The local platform's router records, read directly.
    Builtin,
    /// A real Prometheus (from PATH) on loopback, scraping the routers' `/metrics`.
    Prometheus,
}

/// What runs the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tests {
    /// The built-in load runner.
    Builtin,
    /// Apache JMeter (from PATH) with the example's plans.
    Jmeter,
}

/// Output of the quickstart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Live progress and a table.
    Text,
    /// One JSON document at the end (no progress).
    Json,
}

/// Arguments of `keptn quickstart`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the control plane keeps its data (default: a new directory under
    /// ~/.keptn/quickstart/). Must be empty or absent.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the quality gates' SLIs come from.
    #[arg(long, value_enum, default_value = "builtin")]
    pub sli_provider: SliProvider,
    /// What runs the functional and performance tests.
    #[arg(long, value_enum, default_value = "builtin")]
    pub tests: Tests,
    /// Leave the control plane (and the deployed services) running afterwards; prints its URL
    /// and token and waits for Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// How long the performance test runs in staging (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub performance_duration: Duration,
    /// `text`: progress and a table; `json`: one document.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: Output,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    keptn_core::shipyard::parse_go_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration such as 10s or 1m"))
}

/// Runs the quickstart.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    let run_started = Instant::now();
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    check_empty(&data_dir)?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let progress = Progress {
        on: args.output == Output::Text,
        started: run_started,
    };
    progress.line(&format!("data directory: {}", data_dir.display()));

    let telemetry = free_loopback_port()?;
    let mut prometheus = None;
    let sli_entry = match args.sli_provider {
        SliProvider::Builtin => {
            "  - name: local-sli\n    subscriptions:\n      - event: sh.keptn.event.get-sli.triggered\n"
                .to_owned()
        }
        SliProvider::Prometheus => {
            let server = PrometheusServer::start(&data_dir, telemetry)?;
            progress.line(&format!("prometheus: {} (scraping the routers every second)", server.url));
            let entry = format!(
                "  - name: prometheus-service\n    config:\n      url: \"{}\"\n    subscriptions:\n      - event: sh.keptn.event.get-sli.triggered\n",
                server.url
            );
            prometheus = Some(server);
            entry
        }
    };
    let test_entry = match args.tests {
        Tests::Builtin => loadgen_entry(args.performance_duration),
        Tests::Jmeter => {
            "  - name: jmeter-service\n    subscriptions:\n      - event: sh.keptn.event.test.triggered\n"
                .to_owned()
        }
    };
    let uniform_text = format!(
        "# The integrations `keptn quickstart` ran (usable with `keptn serve --uniform`).\n\
         integrations:\n\
         \x20 - name: approval-service\n    subscriptions:\n      - event: sh.keptn.event.approval.triggered\n\
         \x20 - name: lighthouse-service\n    subscriptions:\n      - event: sh.keptn.event.evaluation.triggered\n      - event: sh.keptn.event.get-sli.finished\n\
         \x20 - name: local-platform\n    config:\n      router_base_port: 0\n      telemetry_listen: \"127.0.0.1:{telemetry}\"\n    subscriptions:\n      - event: sh.keptn.event.deployment.triggered\n      - event: sh.keptn.event.release.triggered\n      - event: sh.keptn.event.rollback.triggered\n      - event: sh.keptn.event.action.triggered\n\
         {sli_entry}{test_entry}"
    );
    let uniform_path = data_dir.join("uniform.yaml");
    std::fs::write(&uniform_path, &uniform_text)
        .with_context(|| format!("cannot write {}", uniform_path.display()))?;
    let (uniform, _warnings) = keptn_core::uniform::parse(&uniform_text)
        .map_err(|err| anyhow::anyhow!("the quickstart's uniform is invalid: {err}"))?;

    let orchestrator = keptn_core::orchestrator::Config {
        task_started_timeout: Duration::from_secs(120),
        task_finished_timeout: Some(Duration::from_secs(300)),
        ..keptn_core::orchestrator::Config::default()
    };
    let control_plane = Background::start(Options {
        data_dir: data_dir.clone(),
        database: None,
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        uniform,
        uniform_file: Some((uniform_path.clone(), uniform_text.clone())),
        orchestrator,
    })?;
    let endpoint = format!("http://{}", control_plane.started.addr);
    progress.line(&format!("control plane: {endpoint}"));
    let client = Client::new(Credentials {
        endpoint: endpoint.clone(),
        api_token: control_plane.started.token.clone(),
    })?;

    let setup_started = Instant::now();
    onboard(&client, args.tests)?;
    progress.line(&format!(
        "project {PROJECT} created, service {SERVICE} onboarded ({} ms)",
        setup_started.elapsed().as_millis()
    ));

    let mut artifacts = Vec::new();
    for tag in ARTIFACTS {
        let artifact = deliver(&client, tag, &progress)?;
        artifacts.push(artifact);
    }
    let serving = serving(&client)?;
    let deviations = check(&artifacts, &serving);
    let total = run_started.elapsed();

    let document = json!({
        "artifacts": artifacts.iter().map(Artifact::to_json).collect::<Vec<_>>(),
        "serving": serving,
        "dataDir": data_dir.display().to_string(),
        "seconds": round_ms(total),
        "asExpected": deviations.is_empty(),
        "deviations": deviations,
    });
    match args.output {
        Output::Json => crate::print_stdout(&serde_json::to_string_pretty(&document)?)?,
        Output::Text => crate::print_stdout(&table(&artifacts, &serving, total))?,
    }
    if args.output == Output::Text {
        if deviations.is_empty() {
            crate::print_stdout(
                "as the tutorial says: 0.9.2 was stopped in staging and rolled back; 0.9.3 reached production",
            )?;
        } else {
            for deviation in &deviations {
                eprintln!("keptn quickstart: not as the tutorial says: {deviation}");
            }
        }
    }

    if args.keep_running {
        crate::print_stdout(&format!(
            "the control plane keeps running: KEPTN_ENDPOINT={endpoint} KEPTN_API_TOKEN={} (Ctrl-C stops it)",
            control_plane.started.token
        ))?;
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
    control_plane.stop()?;
    drop(prometheus);
    if deviations.is_empty() {
        Ok(Exit::Success)
    } else {
        Ok(Exit::Failed)
    }
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    Ok(PathBuf::from(home)
        .join(".keptn")
        .join("quickstart")
        .join(stamp.to_string()))
}

fn check_empty(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(InvalidInput(format!(
                    "--data-dir {} is not empty: the quickstart creates its project from scratch; pass an empty or new directory",
                    dir.display()
                ))
                .into());
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", dir.display())),
    }
}

fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// The load runner's workloads: a short functional check in dev, a timed performance run in
/// staging; requests as the tutorial's JMeter plans send them.
fn loadgen_entry(performance: Duration) -> String {
    let requests = "\n          - { method: GET, path: /carts/1/items }\n          - { method: POST, path: /carts/1/items, body: { itemId: \"03fef6ac-1896-4ce8-bd69-b798f85c6e0b\", unitPrice: \"99.99\" } }";
    format!(
        "  - name: loadgen\n    config:\n      workloads:\n        - teststrategy: functional\n          virtual_users: 1\n          iterations: 2\n          accept_error_rate: 0\n          requests:{requests}\n        - teststrategy: performance\n          virtual_users: 10\n          duration_seconds: {}\n          accept_error_rate: 0.1\n          requests:{requests}\n    subscriptions:\n      - event: sh.keptn.event.test.triggered\n",
        performance.as_secs_f64()
    )
}

/// Creates the project with its shipyard, the service and its files.
fn onboard(client: &Client, tests: Tests) -> anyhow::Result<()> {
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    client.post(
        "/api/v1/project",
        &json!({ "name": PROJECT, "shipyard": encode(example::SHIPYARD) }),
    )?;
    client.post(
        &format!("/api/v1/project/{PROJECT}/service"),
        &json!({ "serviceName": SERVICE }),
    )?;
    let resource =
        |uri: &str, text: &str| json!({ "resourceURI": uri, "resourceContent": encode(text) });
    client.post(
        &format!("/api/v1/project/{PROJECT}/resource"),
        &json!({ "resources": [resource("prometheus/sli.yaml", example::SLI)] }),
    )?;
    for stage in STAGES {
        let mut resources = vec![
            resource("local.yaml", example::LOCAL),
            resource("slo.yaml", example::SLO),
        ];
        if stage == "production" {
            resources.push(resource("remediation.yaml", example::REMEDIATION));
        }
        if tests == Tests::Jmeter {
            resources.extend(
                example::JMETER
                    .iter()
                    .map(|(uri, text)| resource(uri, text)),
            );
        }
        client.post(
            &format!("/api/v1/project/{PROJECT}/stage/{stage}/service/{SERVICE}/resource"),
            &json!({ "resources": resources }),
        )?;
    }
    Ok(())
}

/// Live progress lines (text output only).
struct Progress {
    on: bool,
    started: Instant,
}

impl Progress {
    fn line(&self, text: &str) {
        if self.on {
            let _ = crate::print_stdout(&format!(
                "[{:>6.1}s] {text}",
                self.started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// One artifact's run through the stages.
#[derive(Debug, Clone)]
struct Artifact {
    tag: String,
    keptn_context: String,
    /// The stage whose sequence waits for a manual approval, if one does.
    waiting: Option<String>,
    stages: BTreeMap<String, StageOutcome>,
    serving_after: BTreeMap<String, Value>,
    seconds: f64,
    task_seconds: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default)]
struct StageOutcome {
    result: Option<String>,
    score: Option<f64>,
    rolled_back: bool,
    message: Option<String>,
}

impl Artifact {
    fn to_json(&self) -> Value {
        let stages: serde_json::Map<String, Value> = STAGES
            .iter()
            .map(|stage| {
                let outcome = self.stages.get(*stage).cloned().unwrap_or_default();
                let mut value = json!({ "result": outcome.result });
                if let Some(score) = outcome.score {
                    value["score"] = json!(score);
                }
                if outcome.rolled_back {
                    value["rolledBack"] = json!(true);
                }
                if let Some(message) = outcome.message {
                    value["message"] = json!(message);
                }
                ((*stage).to_owned(), value)
            })
            .collect();
        json!({
            "tag": self.tag,
            "keptnContext": self.keptn_context,
            "waitingForApproval": self.waiting,
            "stages": stages,
            "servingAfter": self.serving_after,
            "seconds": self.seconds,
            "taskSeconds": self.task_seconds,
        })
    }
}

/// Triggers the delivery of `tag` and follows it to the end of its sequence chain.
fn deliver(client: &Client, tag: &str, progress: &Progress) -> anyhow::Result<Artifact> {
    let started = Instant::now();
    let image = format!("{IMAGE}:{tag}");
    let answer = client.post(
        "/api/v1/event",
        &json!({
            "specversion": "1.0",
            "source": "keptn-quickstart",
            "type": format!("sh.keptn.event.{}.delivery.triggered", STAGES[0]),
            "datacontenttype": "application/json",
            "data": {
                "project": PROJECT,
                "stage": STAGES[0],
                "service": SERVICE,
                "configurationChange": { "values": { "image": image } },
            },
        }),
    )?;
    let keptn_context = answer
        .get("keptnContext")
        .and_then(Value::as_str)
        .context("the control plane answered without a keptnContext")?
        .to_owned();
    progress.line(&format!(
        "{SERVICE} {tag}: delivery triggered (keptn context {keptn_context})"
    ));
    let (events, waiting) = follow(client, tag, &keptn_context, progress)?;
    let mut artifact = Artifact {
        tag: tag.to_owned(),
        keptn_context,
        waiting,
        stages: BTreeMap::new(),
        serving_after: serving(client)?,
        seconds: round_ms(started.elapsed()),
        task_seconds: task_seconds(&events),
    };
    for event in &events {
        let event_type = event["type"].as_str().unwrap_or("");
        let stage = event["data"]["stage"].as_str().unwrap_or("").to_owned();
        if event_type == format!("sh.keptn.event.{stage}.delivery.finished") {
            let outcome = artifact.stages.entry(stage).or_default();
            outcome.result = event["data"]["result"].as_str().map(str::to_owned);
            outcome.message = event["data"]["message"].as_str().map(str::to_owned);
        } else if event_type == format!("sh.keptn.event.{stage}.rollback.finished") {
            artifact.stages.entry(stage).or_default().rolled_back = true;
        } else if event_type == "sh.keptn.event.evaluation.finished" {
            artifact.stages.entry(stage).or_default().score =
                event["data"]["evaluation"]["score"].as_f64();
        }
    }
    Ok(artifact)
}

/// Polls the context's events, printing each task's progress, until all its sequences have
/// finished and nothing new happened for a second, or a sequence waits for a person (a manual
/// approval: the quickstart approves nothing itself); returns every event and, when it stopped
/// at an approval, the stage that waits.
fn follow(
    client: &Client,
    tag: &str,
    keptn_context: &str,
    progress: &Progress,
) -> anyhow::Result<(Vec<Value>, Option<String>)> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut printed = 0;
    let mut settled_since: Option<Instant> = None;
    let mut quiet_since = Instant::now();
    loop {
        let answer = client.get(
            "/api/v1/event",
            &[("keptnContext", keptn_context.to_owned())],
        )?;
        let events = answer
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for event in events.iter().skip(printed) {
            if let Some(line) = describe(event) {
                progress.line(&format!("{SERVICE} {tag}: {line}"));
            }
        }
        let changed = events.len() != printed;
        printed = events.len();
        let (mut open, mut finished) = (BTreeMap::new(), 0);
        for event in &events {
            let event_type = event["type"].as_str().unwrap_or("");
            let Some(rest) = event_type.strip_prefix("sh.keptn.event.") else {
                continue;
            };
            let parts: Vec<&str> = rest.split('.').collect();
            if parts.len() == 3 && parts[2] == "triggered" {
                *open.entry((parts[0], parts[1])).or_insert(0) += 1;
            } else if parts.len() == 3
                && parts[2] == "finished"
                && open.contains_key(&(parts[0], parts[1]))
            {
                finished += 1;
            }
        }
        let sequences: usize = open.values().sum();
        let all_finished = sequences > 0 && finished >= sequences;
        if changed {
            quiet_since = Instant::now();
        } else if !all_finished && quiet_since.elapsed() >= Duration::from_secs(2) {
            let sequences = client.get(
                &format!("/api/v1/sequence/{PROJECT}"),
                &[("keptnContext", keptn_context.to_owned())],
            )?;
            if let Some(waiting) = sequences["sequences"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|sequence| sequence["state"] == "waiting")
            {
                let stage = waiting["stage"].as_str().unwrap_or("").to_owned();
                progress.line(&format!(
                    "{SERVICE} {tag}: {stage:<10} waits for a manual approval (keptn approve --project {PROJECT} --stage {stage}); the quickstart stops following it"
                ));
                return Ok((events, Some(stage)));
            }
            quiet_since = Instant::now();
        }
        match (all_finished && !changed, settled_since) {
            (true, Some(since)) if since.elapsed() >= Duration::from_secs(1) => {
                return Ok((events, None));
            }
            (true, None) => settled_since = Some(Instant::now()),
            (false, _) => settled_since = None,
            _ => {}
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "{SERVICE} {tag}: the sequences of {keptn_context} did not finish within 10 minutes"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A progress line for an event worth showing.
fn describe(event: &Value) -> Option<String> {
    let event_type = event["type"].as_str()?;
    let rest = event_type.strip_prefix("sh.keptn.event.")?;
    let data = &event["data"];
    let stage = data["stage"].as_str().unwrap_or("");
    let result = data["result"].as_str().unwrap_or("");
    let parts: Vec<&str> = rest.split('.').collect();
    match parts.as_slice() {
        [stage_name, sequence, "triggered"] => {
            Some(format!("{stage_name:<10} {sequence} sequence started"))
        }
        [stage_name, sequence, "finished"] => Some(format!(
            "{stage_name:<10} {sequence} sequence finished: {result}"
        )),
        ["get-sli", _] => None,
        [task, "started"] => Some(format!("{stage:<10} {task:<11} started")),
        [task, "finished"] => {
            let mut line = format!("{stage:<10} {task:<11} finished: {result}");
            if *task == "evaluation"
                && let Some(score) = data["evaluation"]["score"].as_f64()
            {
                let _ = write!(line, " (score {score:.1})");
            }
            if let Some(message) = data["message"].as_str().filter(|_| result != "pass") {
                let _ = write!(line, " — {}", first_line(message));
            }
            Some(line)
        }
        _ => None,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Seconds per task kind (triggered → finished), summed over stages.
fn task_seconds(events: &[Value]) -> BTreeMap<String, f64> {
    let time = |event: &Value| {
        event["time"]
            .as_str()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
    };
    let mut triggered: BTreeMap<String, chrono::DateTime<chrono::FixedOffset>> = BTreeMap::new();
    let mut seconds: BTreeMap<String, f64> = BTreeMap::new();
    for event in events {
        let event_type = event["type"].as_str().unwrap_or("");
        let Some(rest) = event_type.strip_prefix("sh.keptn.event.") else {
            continue;
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let [task, kind] = parts.as_slice() else {
            continue;
        };
        let id = event["id"].as_str().unwrap_or("").to_owned();
        match (*kind, time(event)) {
            ("triggered", Some(at)) => {
                triggered.insert(id, at);
            }
            ("finished", Some(at)) => {
                let Some(start) = event["triggeredid"]
                    .as_str()
                    .and_then(|id| triggered.get(id))
                else {
                    continue;
                };
                let took = (at - *start).num_milliseconds() as f64 / 1000.0;
                *seconds.entry((*task).to_owned()).or_insert(0.0) += took;
            }
            _ => {}
        }
    }
    seconds
        .into_iter()
        .map(|(task, took)| (task, (took * 1000.0).round() / 1000.0))
        .collect()
}

/// What each stage serves now: the version that gets the traffic.
fn serving(client: &Client) -> anyhow::Result<BTreeMap<String, Value>> {
    let answer = client.get("/api/v1/platform", &[])?;
    let mut serving: BTreeMap<String, Value> = STAGES
        .iter()
        .map(|stage| ((*stage).to_owned(), Value::Null))
        .collect();
    for service in answer["services"].as_array().into_iter().flatten() {
        if service["project"] != PROJECT || service["service"] != SERVICE {
            continue;
        }
        let Some(stage) = service["stage"].as_str() else {
            continue;
        };
        serving.insert(stage.to_owned(), service["serving"].clone());
    }
    Ok(serving)
}

/// Everything that did not go as the tutorial says.
fn check(artifacts: &[Artifact], serving: &BTreeMap<String, Value>) -> Vec<String> {
    let mut deviations = Vec::new();
    let expect =
        |deviations: &mut Vec<String>, artifact: &Artifact, stage: &str, want: Option<&str>| {
            let got = artifact
                .stages
                .get(stage)
                .and_then(|outcome| outcome.result.as_deref());
            if got != want {
                deviations.push(format!(
                    "{} in {stage}: expected {}, got {}{}",
                    artifact.tag,
                    want.unwrap_or("no run"),
                    got.unwrap_or("no run"),
                    artifact
                        .stages
                        .get(stage)
                        .and_then(|outcome| outcome.message.as_deref())
                        .map(|message| format!(" ({})", first_line(message)))
                        .unwrap_or_default()
                ));
            }
        };
    for artifact in artifacts {
        if let Some(stage) = &artifact.waiting {
            deviations.push(format!(
                "{} waits for a manual approval in {stage} (an evaluation before it gave warning)",
                artifact.tag
            ));
        }
        match artifact.tag.as_str() {
            "0.9.2" => {
                expect(&mut deviations, artifact, "dev", Some("pass"));
                expect(&mut deviations, artifact, "staging", Some("fail"));
                expect(&mut deviations, artifact, "production", None);
                if !artifact
                    .stages
                    .get("staging")
                    .is_some_and(|outcome| outcome.rolled_back)
                {
                    deviations.push("0.9.2 in staging: no rollback ran".to_owned());
                }
                for (stage, want) in [("staging", "0.9.1"), ("production", "0.9.1")] {
                    if artifact.serving_after.get(stage) != Some(&json!(want)) {
                        deviations.push(format!(
                            "after 0.9.2, {stage} should serve {want}, serves {}",
                            artifact.serving_after.get(stage).unwrap_or(&Value::Null)
                        ));
                    }
                }
            }
            _ => {
                for stage in STAGES {
                    expect(&mut deviations, artifact, stage, Some("pass"));
                }
            }
        }
    }
    for stage in STAGES {
        if serving.get(stage) != Some(&json!("0.9.3")) {
            deviations.push(format!(
                "at the end {stage} should serve 0.9.3, serves {}",
                serving.get(stage).unwrap_or(&Value::Null)
            ));
        }
    }
    deviations
}

fn round_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The final table.
fn table(artifacts: &[Artifact], serving: &BTreeMap<String, Value>, total: Duration) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n{:<8} {:<11} {:<8} {:>6}  {:<12} serves afterwards",
        "artifact", "stage", "result", "score", "rolled back"
    );
    for artifact in artifacts {
        for stage in STAGES {
            let outcome = artifact.stages.get(stage).cloned().unwrap_or_default();
            let _ = writeln!(
                text,
                "{:<8} {:<11} {:<8} {:>6}  {:<12} {}",
                artifact.tag,
                stage,
                outcome.result.as_deref().unwrap_or("-"),
                outcome
                    .score
                    .map_or_else(|| "-".to_owned(), |score| format!("{score:.1}")),
                if outcome.rolled_back { "yes" } else { "" },
                show(artifact.serving_after.get(stage)),
            );
        }
    }
    let _ = writeln!(text);
    for stage in STAGES {
        let _ = writeln!(text, "{stage:<11} serves {}", show(serving.get(stage)));
    }
    let _ = writeln!(text);
    for artifact in artifacts {
        let tasks: Vec<String> = artifact
            .task_seconds
            .iter()
            .map(|(task, seconds)| format!("{task} {seconds:.1}s"))
            .collect();
        let _ = writeln!(
            text,
            "{} took {:.1}s: {}",
            artifact.tag,
            artifact.seconds,
            tasks.join(", ")
        );
    }
    let _ = write!(text, "total {:.1}s", total.as_secs_f64());
    text
}

fn show(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// A real Prometheus on loopback scraping the local platform's telemetry endpoint.
struct PrometheusServer {
    url: String,
    child: std::process::Child,
}

impl PrometheusServer {
    fn start(data_dir: &Path, telemetry_port: u16) -> anyhow::Result<Self> {
        let dir = data_dir.join("prometheus");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: keptn-local-platform\n    static_configs:\n      - targets: [\"127.0.0.1:{telemetry_port}\"]\n"
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let port = free_loopback_port()?;
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|err| {
                InvalidInput(format!(
                    "--sli-provider prometheus needs the prometheus binary on PATH (Debian: apt-get install prometheus): {err}"
                ))
            })?;
        let server = PrometheusServer {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let ready = format!("{}/-/ready", server.url);
        let http = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http
                .get(&ready)
                .send()
                .is_ok_and(|response| response.status().is_success())
            {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!(
            "prometheus did not get ready within 30 s; see {}",
            dir.join("prometheus.log").display()
        )
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
