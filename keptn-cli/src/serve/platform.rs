//! The local platform inside `keptn serve`: created when the uniform lists a `local-platform`
//! (the deployer) or `local-sli` (the embedded SLI provider) entry, shared by both, and shown
//! at `GET /api/v1/platform`.
//!
//! The `local-platform` entry's `config` is `keptn_adapters::local::Config`; `state_dir`
//! defaults to `<data-dir>/platform`, and the directory of the running `keptn` binary is
//! searched first for commands, so a `local.yaml` that runs `keptn demo carts` finds this very
//! binary.

use std::path::Path;

use keptn_adapters::local::{Config, LocalPlatform, ServiceStatus};
use keptn_core::uniform::Uniform;
use serde_json::{Value, json};

/// The uniform kinds that need the platform.
pub const KINDS: [&str; 2] = ["local-platform", "local-sli"];

/// Starts the platform when the uniform needs it.
pub async fn start(uniform: &Uniform, data_dir: &Path) -> Result<Option<LocalPlatform>, String> {
    if !uniform
        .integrations
        .iter()
        .any(|integration| KINDS.contains(&integration.kind.as_str()))
    {
        return Ok(None);
    }
    let entry = uniform
        .integrations
        .iter()
        .find(|integration| integration.kind == "local-platform");
    let mut config = match entry.map(|entry| &entry.config) {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(format!(
                "config of 'local-platform' must be a mapping, found {other}"
            ));
        }
    };
    config
        .entry("state_dir")
        .or_insert_with(|| json!(data_dir.join("platform")));
    let mut config: Config = serde_json::from_value(Value::Object(config))
        .map_err(|err| format!("config of 'local-platform': {err}"))?;
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        config.search_path.push(dir);
    }
    let valid = config
        .validate()
        .map_err(|err| format!("config of 'local-platform': {err}"))?;
    LocalPlatform::new(valid)
        .await
        .map(Some)
        .map_err(|err| format!("cannot start the local platform: {err}"))
}

/// What `GET /api/v1/platform` shows: every service with what runs and what gets the traffic.
pub async fn status(platform: &LocalPlatform) -> Value {
    let services: Vec<Value> = platform
        .services()
        .await
        .into_iter()
        .map(|(scope, status)| {
            json!({
                "project": scope.project,
                "stage": scope.stage,
                "service": scope.service,
                "url": status.router_url,
                "canaryWeight": status.canary_weight,
                "serving": serving(&status),
                "primary": status.primary.as_ref().map(deployment),
                "canary": status.canary.as_ref().map(deployment),
                "direct": status.direct.as_ref().map(deployment),
            })
        })
        .collect();
    json!({ "telemetry": platform.telemetry_url(), "services": services })
}

fn deployment(status: &keptn_adapters::local::DeploymentStatus) -> Value {
    json!({
        "tag": status.tag,
        "image": status.image,
        "replicas": status.replicas,
        "ports": status.ports,
    })
}

/// The version that gets the traffic: the direct deployment, else the canary at 100 %, else
/// the primary at 100 %; both with their shares while traffic is split.
pub fn serving(status: &ServiceStatus) -> Value {
    if let Some(direct) = &status.direct {
        return json!(direct.tag);
    }
    match (&status.primary, &status.canary, status.canary_weight) {
        (_, Some(canary), 100) | (None, Some(canary), _) => json!(canary.tag),
        (Some(primary), None, _) | (Some(primary), Some(_), 0) => json!(primary.tag),
        (Some(primary), Some(canary), weight) => json!(format!(
            "{} ({}%), {} ({weight}%)",
            primary.tag,
            100 - weight,
            canary.tag
        )),
        (None, None, _) => Value::Null,
    }
}
