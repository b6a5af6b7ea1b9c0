//! `keptn configure monitoring prometheus`: what Keptn's prometheus-service did on
//! `monitoring.configure`, as files for a Prometheus and an Alertmanager that the user runs.
//!
//! For every stage of the project that has both an SLO and a `remediation.yaml` for the
//! service (Keptn's rule), it writes alerting rules generated from the SLO's absolute pass
//! criteria with the queries of the merged `prometheus/sli.yaml` (`rules.yml`), and the
//! Alertmanager configuration that posts every alert to the control plane's webhook
//! (`alertmanager.yml`, authenticated with the API token). Firing alerts then start the stage's
//! remediation sequence; resolved ones close the problem.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use keptn_adapters::prometheus::SliConfig;
use keptn_adapters::prometheus::rules::{
    AlertmanagerOptions, RuleOptions, alerting_rules, alertmanager_config, rules_yaml,
};
use keptn_core::ports::Scope;
use serde_json::Value;

use crate::client::{Client, credentials};
use crate::{Exit, InvalidInput};

/// `keptn configure ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigureCommand {
    /// Monitoring for a service.
    #[command(subcommand)]
    Monitoring(MonitoringCommand),
}

/// `keptn configure monitoring ...`.
#[derive(Debug, clap::Subcommand)]
pub enum MonitoringCommand {
    /// Alerting rules and the Alertmanager route for Prometheus.
    Prometheus(PrometheusArgs),
}

/// Arguments of `keptn configure monitoring prometheus`.
#[derive(Debug, clap::Args)]
pub struct PrometheusArgs {
    /// Project.
    #[arg(long)]
    pub project: String,
    /// Service.
    #[arg(long)]
    pub service: String,
    /// Only these stages (default: every stage with an SLO and a remediation.yaml).
    #[arg(long)]
    pub stage: Vec<String>,
    /// Where `rules.yml` and `alertmanager.yml` are written.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// How long a violation lasts before the alert fires (Keptn: 10m).
    #[arg(long = "for", value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub for_duration: Duration,
    /// The rate window the rules' queries use (`$DURATION_SECONDS`).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub window: Duration,
    /// Alertmanager's `group_wait` (how long it gathers alerts before the first notification).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub group_wait: Duration,
    /// Alertmanager's `group_interval`.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub group_interval: Duration,
    /// The webhook URL Alertmanager posts to (default: the endpoint's `/api/v1/alertmanager`).
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    keptn_core::shipyard::parse_go_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration such as 10m or 30s"))
}

/// Runs `keptn configure ...`.
pub fn run(command: &ConfigureCommand) -> anyhow::Result<Exit> {
    let ConfigureCommand::Monitoring(MonitoringCommand::Prometheus(args)) = command;
    let credentials = credentials()?;
    let endpoint = credentials.endpoint.trim_end_matches('/').to_owned();
    let token = credentials.api_token.clone();
    let client = Client::new(credentials)?;
    let project = client.get(&format!("/api/v1/project/{}", args.project), &[])?;
    let shipyard = keptn_core::shipyard::parse(project["shipyard"].as_str().unwrap_or_default())
        .map_err(|err| anyhow::anyhow!("the project's shipyard does not parse: {err}"))?;
    let stages: Vec<String> = if args.stage.is_empty() {
        shipyard
            .shipyard
            .stages
            .iter()
            .map(|stage| stage.name.clone())
            .collect()
    } else {
        args.stage.clone()
    };
    let resource = |stage: Option<&str>, service: Option<&str>, uri: &str| {
        read_resource(&client, &args.project, stage, service, uri)
    };
    let mut groups = Vec::new();
    let mut configured = Vec::new();
    for stage in &stages {
        let slo_text = resource(Some(stage), Some(&args.service), "slo.yaml")?;
        let remediation = resource(Some(stage), Some(&args.service), "remediation.yaml")?;
        let (Some(slo_text), Some(_)) = (slo_text, remediation) else {
            continue;
        };
        let slo = keptn_slo::parse(&slo_text)
            .map_err(|err| InvalidInput(format!("slo.yaml of {stage}/{}: {err}", args.service)))?
            .slo
            .ok_or_else(|| {
                InvalidInput(format!("slo.yaml of {stage}/{} is empty", args.service))
            })?;
        let mut sli: Option<SliConfig> = None;
        for (level_stage, level_service) in [
            (None, None),
            (Some(stage.as_str()), None),
            (Some(stage.as_str()), Some(args.service.as_str())),
        ] {
            let Some(text) = resource(level_stage, level_service, "prometheus/sli.yaml")? else {
                continue;
            };
            let (level, _warnings) = SliConfig::parse(&text)
                .map_err(|err| InvalidInput(format!("prometheus/sli.yaml: {err}")))?;
            sli = Some(match sli {
                Some(general) => general.overridden_by(&level),
                None => level,
            });
        }
        let Some(sli) = sli else {
            return Err(InvalidInput(format!(
                "no prometheus/sli.yaml for {}/{stage}/{}: the rules need its queries",
                args.project, args.service
            ))
            .into());
        };
        let scope = Scope {
            project: args.project.clone(),
            stage: stage.clone(),
            service: args.service.clone(),
        };
        let options = RuleOptions {
            for_duration: args.for_duration,
            window: args.window,
        };
        let group = alerting_rules(&scope, &slo, &sli, &options)
            .map_err(|err| InvalidInput(format!("alerting rules for {stage}: {err}")))?;
        groups.push(group);
        configured.push(stage.clone());
    }
    if groups.is_empty() {
        return Err(InvalidInput(format!(
            "no stage of {} has both an slo.yaml and a remediation.yaml for {}: nothing to alert on",
            args.project, args.service
        ))
        .into());
    }
    let mut alertmanager = AlertmanagerOptions::new(
        args.webhook_url
            .clone()
            .unwrap_or_else(|| format!("{endpoint}/api/v1/alertmanager")),
    );
    alertmanager.group_wait = args.group_wait;
    alertmanager.group_interval = args.group_interval;
    alertmanager.bearer_token = Some(token);
    let alertmanager_text = alertmanager_config(&alertmanager)
        .map_err(|err| InvalidInput(format!("alertmanager configuration: {err}")))?;
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let rules_path = args.output_dir.join("rules.yml");
    let alertmanager_path = args.output_dir.join("alertmanager.yml");
    std::fs::write(&rules_path, rules_yaml(&groups))
        .with_context(|| format!("cannot write {}", rules_path.display()))?;
    write_private(&alertmanager_path, &alertmanager_text)
        .with_context(|| format!("cannot write {}", alertmanager_path.display()))?;
    crate::print_stdout(&format!(
        "alerting rules for {} in {} ({}); Alertmanager route to the control plane in {}",
        args.service,
        configured.join(", "),
        rules_path.display(),
        alertmanager_path.display()
    ))?;
    Ok(Exit::Success)
}

/// A resource's text, `None` when it does not exist.
fn read_resource(
    client: &Client,
    project: &str,
    stage: Option<&str>,
    service: Option<&str>,
    uri: &str,
) -> anyhow::Result<Option<String>> {
    let mut path = format!("/api/v1/project/{project}");
    if let Some(stage) = stage {
        path.push_str(&format!("/stage/{stage}"));
    }
    if let Some(service) = service {
        path.push_str(&format!("/service/{service}"));
    }
    path.push_str(&format!("/resource/{uri}"));
    match client.get_optional(&path)? {
        None => Ok(None),
        Some(answer) => {
            let encoded = answer
                .get("resourceContent")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .with_context(|| format!("{uri}: the control plane sent invalid base64"))?;
            Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
        }
    }
}

/// The Alertmanager file holds the API token: readable by its owner only.
#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
