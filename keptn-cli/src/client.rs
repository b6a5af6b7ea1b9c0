//! The control-plane client: Keptn's CLI verbs against `keptn serve`'s HTTP API.
//!
//! Endpoint and token come from `KEPTN_ENDPOINT` / `KEPTN_API_TOKEN`, else from the file
//! `keptn auth` writes (`~/.keptn/config`, or `$KEPTN_CONFIG`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Exit, InvalidInput};

/// Output formats of client commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Where the control plane is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub endpoint: String,
    /// The API token (`x-token`).
    pub api_token: String,
}

fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KEPTN_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; set KEPTN_CONFIG")?;
    Ok(PathBuf::from(home).join(".keptn").join("config"))
}

/// Reads the credentials: environment first, then the config file.
pub fn credentials() -> anyhow::Result<Credentials> {
    let from_file = || -> Option<Credentials> {
        let text = std::fs::read_to_string(config_path().ok()?).ok()?;
        serde_yaml::from_str(&text).ok()
    };
    let endpoint = std::env::var("KEPTN_ENDPOINT")
        .ok()
        .filter(|value| !value.is_empty());
    let token = std::env::var("KEPTN_API_TOKEN")
        .ok()
        .filter(|value| !value.is_empty());
    match (endpoint, token) {
        (Some(endpoint), Some(api_token)) => Ok(Credentials {
            endpoint,
            api_token,
        }),
        (endpoint, token) => {
            let file = from_file();
            let endpoint = endpoint.or_else(|| file.as_ref().map(|file| file.endpoint.clone()));
            let api_token = token.or_else(|| file.as_ref().map(|file| file.api_token.clone()));
            match (endpoint, api_token) {
                (Some(endpoint), Some(api_token)) => Ok(Credentials { endpoint, api_token }),
                _ => Err(InvalidInput(
                    "not authenticated: run `keptn auth --endpoint URL --api-token TOKEN` or set KEPTN_ENDPOINT and KEPTN_API_TOKEN"
                        .to_owned(),
                )
                .into()),
            }
        }
    }
}

/// A connection to the control plane.
pub struct Client {
    credentials: Credentials,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client with the given credentials.
    pub fn new(credentials: Credentials) -> anyhow::Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot create the HTTP client")?;
        Ok(Client { credentials, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.credentials.endpoint.trim_end_matches('/'))
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .header("x-token", &self.credentials.api_token)
            .send()
            .with_context(|| {
                format!(
                    "cannot reach the control plane at {}",
                    self.credentials.endpoint
                )
            })?;
        let status = response.status();
        let text = response
            .text()
            .context("cannot read the control plane's answer")?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(body);
        }
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| body.to_string(), str::to_owned);
        if status.is_client_error() {
            return Err(InvalidInput(format!(
                "the control plane refused the request ({status}): {message}"
            ))
            .into());
        }
        anyhow::bail!("the control plane failed ({status}): {message}")
    }

    /// GET a path.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url(path)).query(query))
    }

    /// GET a path; `None` when the control plane answers 404.
    pub fn get_optional(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let request = self.http.get(self.url(path));
        let probe = request
            .try_clone()
            .context("cannot build the request")?
            .header("x-token", &self.credentials.api_token)
            .send()
            .with_context(|| {
                format!(
                    "cannot reach the control plane at {}",
                    self.credentials.endpoint
                )
            })?;
        if probe.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.send(request).map(Some)
    }

    /// POST JSON to a path.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.post(self.url(path)).json(body))
    }

    /// DELETE a path.
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.delete(self.url(path)))
    }
}

fn print(output: Output, value: &Value, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    let rendered = match output {
        Output::Json => serde_json::to_string_pretty(value).context("cannot write JSON")?,
        Output::Yaml => serde_yaml::to_string(value).context("cannot write YAML")?,
        Output::Text => text(),
    };
    crate::print_stdout(rendered.trim_end())
}

/// `keptn auth`.
#[derive(Debug, clap::Args)]
pub struct AuthArgs {
    /// The control plane's URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub endpoint: String,
    /// The API token (`keptn serve` prints it on first start and stores it in its data dir).
    #[arg(long)]
    pub api_token: String,
}

/// Checks the credentials against the control plane and saves them.
pub fn auth(args: &AuthArgs) -> anyhow::Result<Exit> {
    let credentials = Credentials {
        endpoint: args.endpoint.clone(),
        api_token: args.api_token.clone(),
    };
    Client::new(credentials.clone())?.get("/api/v1/project", &[])?;
    let path = config_path()?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, serde_yaml::to_string(&credentials)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    crate::print_stdout(&format!(
        "authenticated at {}; saved in {}",
        args.endpoint,
        path.display()
    ))?;
    Ok(Exit::Success)
}

/// `keptn create ...`.
#[derive(Debug, clap::Subcommand)]
pub enum CreateCommand {
    /// Create a project from a shipyard.
    Project {
        /// Project name.
        name: String,
        /// The shipyard file.
        #[arg(long)]
        shipyard: PathBuf,
        /// Git upstream of the project's configuration repository (every change is pushed).
        #[arg(long)]
        git_remote_url: Option<String>,
        /// User for an HTTPS upstream.
        #[arg(long, requires = "git_remote_url")]
        git_user: Option<String>,
        /// Token for an HTTPS upstream.
        #[arg(
            long,
            requires = "git_remote_url",
            env = "KEPTN_GIT_TOKEN",
            hide_env_values = true
        )]
        git_token: Option<String>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Onboard a service to a project.
    Service {
        /// Service name.
        name: String,
        /// Project.
        #[arg(long)]
        project: String,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// Runs `keptn create`.
pub fn create(command: &CreateCommand) -> anyhow::Result<Exit> {
    let client = Client::new(credentials()?)?;
    match command {
        CreateCommand::Project {
            name,
            shipyard,
            git_remote_url,
            git_user,
            git_token,
            output,
        } => {
            let file = crate::source::SourceFile::read(shipyard)?;
            // Validate locally first, for located errors.
            if let Err(keptn_core::Error::InvalidShipyard { diagnostics }) =
                keptn_core::shipyard::parse(&file.text)
            {
                let lines: Vec<String> = diagnostics
                    .iter()
                    .map(|diagnostic| format!("{}:{diagnostic}", shipyard.display()))
                    .collect();
                return Err(InvalidInput(lines.join("\n")).into());
            }
            let body = json!({
                "name": name,
                "shipyard": base64::engine::general_purpose::STANDARD.encode(file.text.as_bytes()),
                "gitRemoteURL": git_remote_url,
                "gitUser": git_user,
                "gitToken": git_token,
            });
            let answer = client.post("/api/v1/project", &body)?;
            print(*output, &answer, || format!("project '{name}' created"))?;
        }
        CreateCommand::Service {
            name,
            project,
            output,
        } => {
            let answer = client.post(
                &format!("/api/v1/project/{project}/service"),
                &json!({ "serviceName": name }),
            )?;
            print(*output, &answer, || {
                format!("service '{name}' created in project '{project}'")
            })?;
        }
    }
    Ok(Exit::Success)
}

/// `keptn trigger ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TriggerCommand {
    /// Start a delivery of a new artifact.
    Delivery(DeliveryArgs),
    /// Start the built-in evaluation sequence (a quality gate) of a stage.
    Evaluation(EvaluationArgs),
}

/// `keptn trigger evaluation`.
#[derive(Debug, clap::Args)]
pub struct EvaluationArgs {
    /// Project.
    #[arg(long)]
    pub project: String,
    /// Stage.
    #[arg(long)]
    pub stage: String,
    /// Service.
    #[arg(long)]
    pub service: String,
    /// The evaluated period, ending now (or at --end): e.g. 5m, 1h.
    #[arg(long, conflicts_with = "start")]
    pub timeframe: Option<String>,
    /// Start of the evaluated period (RFC 3339).
    #[arg(long, requires = "end")]
    pub start: Option<String>,
    /// End of the evaluated period (RFC 3339).
    #[arg(long)]
    pub end: Option<String>,
    /// Labels, `key=value` separated by commas.
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Follow the sequence until it ends.
    #[arg(long)]
    pub watch: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

fn parse_labels(labels: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut parsed = BTreeMap::new();
    for label in labels {
        let (key, value) = label
            .split_once('=')
            .ok_or_else(|| InvalidInput(format!("invalid label '{label}', expected key=value")))?;
        parsed.insert(key.to_owned(), value.to_owned());
    }
    Ok(parsed)
}

/// `keptn trigger delivery`.
#[derive(Debug, clap::Args)]
pub struct DeliveryArgs {
    /// Project.
    #[arg(long)]
    pub project: String,
    /// Service.
    #[arg(long)]
    pub service: String,
    /// The artifact: an image, optionally with `:TAG`.
    #[arg(long)]
    pub image: String,
    /// The tag, when not part of --image.
    #[arg(long)]
    pub tag: Option<String>,
    /// The stage to start in (default: the shipyard's first stage).
    #[arg(long)]
    pub stage: Option<String>,
    /// The sequence to trigger.
    #[arg(long, default_value = "delivery")]
    pub sequence: String,
    /// Labels, `key=value` separated by commas.
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Follow the sequences until the chain ends.
    #[arg(long)]
    pub watch: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Runs `keptn trigger`.
pub fn trigger(command: &TriggerCommand) -> anyhow::Result<Exit> {
    let args = match command {
        TriggerCommand::Delivery(args) => args,
        TriggerCommand::Evaluation(args) => return trigger_evaluation(args),
    };
    let client = Client::new(credentials()?)?;
    let stage = match &args.stage {
        Some(stage) => stage.clone(),
        None => first_stage(&client, &args.project)?,
    };
    let image = match &args.tag {
        Some(tag) => format!("{}:{tag}", args.image),
        None => args.image.clone(),
    };
    let labels = parse_labels(&args.labels)?;
    let event = json!({
        "specversion": "1.0",
        "source": "keptn-cli",
        "type": format!("sh.keptn.event.{stage}.{}.triggered", args.sequence),
        "datacontenttype": "application/json",
        "data": {
            "project": args.project,
            "stage": stage,
            "service": args.service,
            "labels": labels,
            "configurationChange": { "values": { "image": image } },
        },
    });
    let answer = client.post("/api/v1/event", &event)?;
    report_context(&client, &args.project, &answer, args.watch, args.output)
}

/// Prints the Keptn context a trigger answered with, or follows its sequences with `--watch`.
fn report_context(
    client: &Client,
    project: &str,
    answer: &Value,
    watch_sequences: bool,
    output: Output,
) -> anyhow::Result<Exit> {
    let keptn_context = answer
        .get("keptnContext")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if watch_sequences {
        watch(client, project, &keptn_context, output)?;
    } else {
        print(output, &json!({ "keptnContext": keptn_context }), || {
            keptn_context.clone()
        })?;
    }
    Ok(Exit::Success)
}

fn trigger_evaluation(args: &EvaluationArgs) -> anyhow::Result<Exit> {
    let client = Client::new(credentials()?)?;
    let body = json!({
        "timeframe": args.timeframe,
        "start": args.start,
        "end": args.end,
        "labels": parse_labels(&args.labels)?,
    });
    let answer = client.post(
        &format!(
            "/api/v1/project/{}/stage/{}/service/{}/evaluation",
            args.project, args.stage, args.service
        ),
        &body,
    )?;
    report_context(&client, &args.project, &answer, args.watch, args.output)
}

/// `keptn add-resource`.
#[derive(Debug, clap::Args)]
pub struct AddResourceArgs {
    /// Project.
    #[arg(long)]
    pub project: String,
    /// Stage (without it, the resource belongs to the project).
    #[arg(long)]
    pub stage: Option<String>,
    /// Service (needs --stage).
    #[arg(long, requires = "stage")]
    pub service: Option<String>,
    /// The local file.
    #[arg(long)]
    pub resource: PathBuf,
    /// Where it goes in the configuration repository (default: the file's name).
    #[arg(long = "resourceUri", alias = "resource-uri")]
    pub resource_uri: Option<String>,
}

/// Runs `keptn add-resource`.
pub fn add_resource(args: &AddResourceArgs) -> anyhow::Result<Exit> {
    let client = Client::new(credentials()?)?;
    let content = std::fs::read(&args.resource)
        .map_err(|err| InvalidInput(format!("cannot read {}: {err}", args.resource.display())))?;
    let uri = match &args.resource_uri {
        Some(uri) => uri.clone(),
        None => args
            .resource
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| InvalidInput("--resource names no file".to_owned()))?,
    };
    let mut path = format!("/api/v1/project/{}", args.project);
    if let Some(stage) = &args.stage {
        path.push_str(&format!("/stage/{stage}"));
    }
    if let Some(service) = &args.service {
        path.push_str(&format!("/service/{service}"));
    }
    path.push_str("/resource");
    let body = json!({ "resources": [{
        "resourceURI": uri,
        "resourceContent": base64::engine::general_purpose::STANDARD.encode(content),
    }]});
    let answer = client.post(&path, &body)?;
    crate::print_stdout(&format!(
        "added {uri} (commit {})",
        answer.get("commitID").and_then(Value::as_str).unwrap_or("")
    ))?;
    Ok(Exit::Success)
}

/// `keptn approve` and `keptn decline`.
#[derive(Debug, clap::Args)]
pub struct ApprovalArgs {
    /// Project.
    #[arg(long)]
    pub project: String,
    /// Stage.
    #[arg(long)]
    pub stage: String,
    /// Service, when approvals of several services wait.
    #[arg(long)]
    pub service: Option<String>,
    /// Keptn context, when several approvals wait.
    #[arg(long)]
    pub keptn_context: Option<String>,
}

/// Approves (`approve == true`) or declines the waiting approval.
pub fn approval(args: &ApprovalArgs, approve: bool) -> anyhow::Result<Exit> {
    let client = Client::new(credentials()?)?;
    let answer = client.post(
        &format!("/api/v1/approval/{}/{}", args.project, args.stage),
        &json!({ "approve": approve, "service": args.service, "keptnContext": args.keptn_context }),
    )?;
    crate::print_stdout(&format!(
        "{} {}",
        if approve { "approved" } else { "declined" },
        answer
            .get("keptnContext")
            .and_then(Value::as_str)
            .unwrap_or("")
    ))?;
    Ok(Exit::Success)
}

fn first_stage(client: &Client, project: &str) -> anyhow::Result<String> {
    let answer = client.get(&format!("/api/v1/project/{project}"), &[])?;
    let shipyard_text = answer
        .get("shipyard")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let parsed = keptn_core::shipyard::parse(shipyard_text)
        .map_err(|err| anyhow::anyhow!("the project's shipyard does not parse: {err}"))?;
    parsed
        .shipyard
        .stages
        .first()
        .map(|stage| stage.name.clone())
        .ok_or_else(|| anyhow::anyhow!("the project's shipyard has no stage"))
}

/// Follows the sequences of a Keptn context until every one has finished and no new one
/// started for a second; prints each change of state.
fn watch(
    client: &Client,
    project: &str,
    keptn_context: &str,
    output: Output,
) -> anyhow::Result<()> {
    let query = [("keptnContext", keptn_context.to_owned())];
    let sequences = follow(client, project, &query, output)?;
    if output != Output::Text {
        print(
            output,
            &json!({ "keptnContext": keptn_context, "sequences": sequences }),
            String::new,
        )?;
    }
    Ok(())
}

/// Polls the sequences matching `query`, printing (as text) every change of a run's state,
/// until every run has finished and no new one appeared for a second; returns the last list.
fn follow(
    client: &Client,
    project: &str,
    query: &[(&str, String)],
    output: Output,
) -> anyhow::Result<Vec<Value>> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut settled_since: Option<Instant> = None;
    loop {
        let answer = client.get(&format!("/api/v1/sequence/{project}"), query)?;
        let sequences = answer
            .get("sequences")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for sequence in sequences.iter().rev() {
            let key = format!(
                "{} {}.{}",
                sequence["keptnContext"].as_str().unwrap_or(""),
                sequence["stage"].as_str().unwrap_or(""),
                sequence["name"].as_str().unwrap_or("")
            );
            let line = format!(
                "{:<22} {:<10} {:<8} {:<12} {}",
                format!(
                    "{}.{}",
                    sequence["stage"].as_str().unwrap_or(""),
                    sequence["name"].as_str().unwrap_or("")
                ),
                sequence["state"].as_str().unwrap_or(""),
                sequence["result"].as_str().unwrap_or(""),
                sequence["currentTask"].as_str().unwrap_or(""),
                sequence["score"]
                    .as_f64()
                    .map(|score| format!("score {score:.1}"))
                    .unwrap_or_default()
            );
            if seen.get(&key) != Some(&line) {
                if output == Output::Text {
                    crate::print_stdout(line.trim_end())?;
                }
                seen.insert(key, line);
            }
        }
        let all_finished = !sequences.is_empty()
            && sequences
                .iter()
                .all(|sequence| sequence["state"] == "finished");
        match (all_finished, settled_since) {
            (true, Some(since)) if since.elapsed() >= Duration::from_secs(1) => {
                return Ok(sequences);
            }
            (true, None) => settled_since = Some(Instant::now()),
            (false, _) => settled_since = None,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `keptn get ...`.
#[derive(Debug, clap::Subcommand)]
pub enum GetCommand {
    /// Projects.
    Projects {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Sequences of a project, newest first.
    Sequences {
        /// Project.
        #[arg(long)]
        project: String,
        /// Only this stage.
        #[arg(long)]
        stage: Option<String>,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only in this state (triggered, queued, started, waiting, finished).
        #[arg(long)]
        state: Option<String>,
        /// Only this Keptn context.
        #[arg(long)]
        keptn_context: Option<String>,
        /// Follow the sequences, printing each change, until all have finished.
        #[arg(long)]
        watch: bool,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Evaluations of a project/stage/service, newest first.
    Evaluations {
        /// Project.
        #[arg(long)]
        project: String,
        /// Stage.
        #[arg(long)]
        stage: String,
        /// Service.
        #[arg(long)]
        service: String,
        /// At most this many.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Events, oldest first.
    Events {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        /// Only this Keptn context.
        #[arg(long)]
        keptn_context: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Json)]
        output: Output,
    },
}

/// Runs `keptn get`.
pub fn get(command: &GetCommand) -> anyhow::Result<Exit> {
    let client = Client::new(credentials()?)?;
    match command {
        GetCommand::Projects { output } => {
            let answer = client.get("/api/v1/project", &[])?;
            print(*output, &answer, || {
                let projects = answer["projects"].as_array().cloned().unwrap_or_default();
                let mut lines = vec!["NAME".to_owned()];
                lines.extend(
                    projects
                        .iter()
                        .map(|project| project["projectName"].as_str().unwrap_or("").to_owned()),
                );
                lines.join("\n")
            })?;
        }
        GetCommand::Sequences {
            project,
            stage,
            service,
            state,
            keptn_context,
            watch,
            output,
        } => {
            let mut query = Vec::new();
            for (key, value) in [
                ("stage", stage),
                ("service", service),
                ("state", state),
                ("keptnContext", keptn_context),
            ] {
                if let Some(value) = value {
                    query.push((key, value.clone()));
                }
            }
            if *watch {
                let sequences = follow(&client, project, &query, *output)?;
                if *output != Output::Text {
                    print(*output, &json!({ "sequences": sequences }), String::new)?;
                }
                return Ok(Exit::Success);
            }
            let answer = client.get(&format!("/api/v1/sequence/{project}"), &query)?;
            print(*output, &answer, || {
                let sequences = answer["sequences"].as_array().cloned().unwrap_or_default();
                let mut lines = vec![format!(
                    "{:<38} {:<12} {:<10} {:<10} {:<10} {}",
                    "KEPTN CONTEXT", "STAGE", "SEQUENCE", "STATE", "RESULT", "TASK"
                )];
                lines.extend(sequences.iter().map(|sequence| {
                    format!(
                        "{:<38} {:<12} {:<10} {:<10} {:<10} {}",
                        sequence["keptnContext"].as_str().unwrap_or(""),
                        sequence["stage"].as_str().unwrap_or(""),
                        sequence["name"].as_str().unwrap_or(""),
                        sequence["state"].as_str().unwrap_or(""),
                        sequence["result"].as_str().unwrap_or(""),
                        sequence["currentTask"].as_str().unwrap_or(""),
                    )
                }));
                lines.join("\n")
            })?;
        }
        GetCommand::Evaluations {
            project,
            stage,
            service,
            limit,
            output,
        } => {
            let answer = client.get(
                &format!("/api/v1/project/{project}/stage/{stage}/service/{service}/evaluation"),
                &[("limit", limit.to_string())],
            )?;
            print(*output, &answer, || {
                let evaluations = answer["evaluations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut lines = vec![format!(
                    "{:<26} {:<8} {:>7}  {}",
                    "TIME", "RESULT", "SCORE", "ID"
                )];
                lines.extend(evaluations.iter().map(|evaluation| {
                    format!(
                        "{:<26} {:<8} {:>7}  {}",
                        evaluation["time"].as_str().unwrap_or(""),
                        evaluation["data"]["result"].as_str().unwrap_or(""),
                        evaluation["data"]["evaluation"]["score"]
                            .as_f64()
                            .map_or(String::new(), |score| format!("{score:.1}")),
                        evaluation["id"].as_str().unwrap_or(""),
                    )
                }));
                lines.join("\n")
            })?;
        }
        GetCommand::Events {
            project,
            keptn_context,
            event_type,
            output,
        } => {
            let mut query = Vec::new();
            for (key, value) in [
                ("project", project),
                ("keptnContext", keptn_context),
                ("type", event_type),
            ] {
                if let Some(value) = value {
                    query.push((key, value.clone()));
                }
            }
            let answer = client.get("/api/v1/event", &query)?;
            print(*output, &answer, || {
                let events = answer["events"].as_array().cloned().unwrap_or_default();
                events
                    .iter()
                    .map(|event| {
                        format!(
                            "{} {} {}",
                            event["time"].as_str().unwrap_or(""),
                            event["type"].as_str().unwrap_or(""),
                            event["id"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
    }
    Ok(Exit::Success)
}

/// `keptn send event`.
#[derive(Debug, clap::Subcommand)]
pub enum SendCommand {
    /// Send a CloudEvent from a JSON file.
    Event {
        /// The event file.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// Runs `keptn send`.
pub fn send(command: &SendCommand) -> anyhow::Result<Exit> {
    let SendCommand::Event { file, output } = command;
    let client = Client::new(credentials()?)?;
    let event: Value = crate::source::SourceFile::read(file)?.json("event file")?;
    let answer = client.post("/api/v1/event", &event)?;
    print(*output, &answer, || {
        answer["keptnContext"].as_str().unwrap_or("").to_owned()
    })?;
    Ok(Exit::Success)
}

/// `keptn sequence abort|pause|resume`.
#[derive(Debug, clap::Args)]
pub struct SequenceArgs {
    /// What to do.
    #[arg(value_parser = ["abort", "pause", "resume"])]
    pub action: String,
    /// Project.
    #[arg(long)]
    pub project: String,
    /// The Keptn context of the sequences.
    #[arg(long)]
    pub keptn_context: String,
    /// Only this stage.
    #[arg(long)]
    pub stage: Option<String>,
}

/// Runs `keptn sequence`.
pub fn sequence(args: &SequenceArgs) -> anyhow::Result<Exit> {
    let client = Client::new(credentials()?)?;
    client.post(
        &format!(
            "/api/v1/sequence/{}/{}/control",
            args.project, args.keptn_context
        ),
        &json!({ "state": args.action, "stage": args.stage }),
    )?;
    crate::print_stdout(&format!(
        "{} requested for {}",
        args.action, args.keptn_context
    ))?;
    Ok(Exit::Success)
}
