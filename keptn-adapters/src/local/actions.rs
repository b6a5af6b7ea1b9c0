//! [`LocalActions`]: remediation actions on the local platform's services.

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::Full;
use hyper::body::Bytes;
use keptn_core::ports::{ActionRequest, ActionRunner, AdapterError, AdapterErrorKind, Scope};
use serde_json::{Value, json};

use super::LocalPlatform;
use super::client::{HttpClient, http_client};

/// How long a replica may take to answer a feature switch.
const TOGGLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Remediation actions on the local platform ([`ActionRunner`]):
///
/// - `rollback`: a canary is discarded; without one, the version that served before the last
///   promotion serves again ([`LocalPlatform::revert`]).
/// - `scaling`: `value` (a string holding an integer, as Keptn wrote it, or a number) replicas
///   more (or fewer) for the service's serving deployment, behind the same router.
/// - `toggle-feature`: `value` maps flags to `on`/`off` (or booleans), e.g.
///   `{EnablePromotion: "off"}`; each replica of the service gets
///   `POST /admin/feature/<name>` with `{"enabled": …}`, where `<name>` is the flag without its
///   `Enable` prefix, in lower case (`promotion`): the switch the example services offer.
#[derive(Clone)]
pub struct LocalActions {
    platform: LocalPlatform,
    http: HttpClient,
}

impl std::fmt::Debug for LocalActions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalActions").finish_non_exhaustive()
    }
}

impl LocalActions {
    /// Actions on `platform`'s services.
    pub fn new(platform: LocalPlatform) -> Self {
        Self {
            platform,
            http: http_client(),
        }
    }

    async fn toggle(&self, scope: &Scope, value: Option<&Value>) -> Result<String, AdapterError> {
        let invalid = |message: String| AdapterError::new(AdapterErrorKind::Invalid, message);
        let Some(Value::Object(flags)) = value else {
            return Err(invalid(format!(
                "toggle-feature needs a value mapping flags to on/off, e.g. {{EnablePromotion: \"off\"}}, got {}",
                value.map_or_else(|| "nothing".to_owned(), Value::to_string)
            )));
        };
        let status = self.platform.status(scope).await.ok_or_else(|| {
            AdapterError::new(
                AdapterErrorKind::NotFound,
                format!(
                    "{}/{}/{} is not deployed on the local platform",
                    scope.project, scope.stage, scope.service
                ),
            )
        })?;
        let ports: Vec<u16> = [&status.primary, &status.canary, &status.direct]
            .into_iter()
            .flatten()
            .flat_map(|deployment| deployment.ports.iter().copied())
            .collect();
        let mut done = Vec::new();
        for (flag, setting) in flags {
            let enabled = match setting {
                Value::Bool(enabled) => *enabled,
                Value::String(text) if matches!(text.as_str(), "on" | "true") => true,
                Value::String(text) if matches!(text.as_str(), "off" | "false") => false,
                other => {
                    return Err(invalid(format!(
                        "toggle-feature: flag {flag} must be on or off, got {other}"
                    )));
                }
            };
            let feature = flag.strip_prefix("Enable").unwrap_or(flag).to_lowercase();
            for port in &ports {
                let url = format!("http://127.0.0.1:{port}/admin/feature/{feature}");
                self.post_switch(&url, enabled).await?;
            }
            done.push(format!(
                "{flag} {} on {} replicas",
                if enabled { "on" } else { "off" },
                ports.len()
            ));
        }
        Ok(done.join(", "))
    }

    async fn post_switch(&self, url: &str, enabled: bool) -> Result<(), AdapterError> {
        let unavailable = |reason: String| {
            AdapterError::new(
                AdapterErrorKind::Unavailable,
                format!("toggle-feature: POST {url}: {reason}"),
            )
        };
        let body = json!({ "enabled": enabled }).to_string();
        let request = hyper::Request::post(url)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| unavailable(err.to_string()))?;
        let response = tokio::time::timeout(TOGGLE_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| unavailable(format!("no answer within {} s", TOGGLE_TIMEOUT.as_secs())))?
            .map_err(|err| unavailable(err.to_string()))?;
        if !response.status().is_success() {
            return Err(AdapterError::new(
                AdapterErrorKind::Failed,
                format!("toggle-feature: POST {url} answered {}", response.status()),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl ActionRunner for LocalActions {
    fn handles(&self, action: &str) -> bool {
        matches!(action, "scaling" | "toggle-feature" | "rollback")
    }

    async fn execute(&self, request: &ActionRequest) -> Result<String, AdapterError> {
        let (scope, action) = (&request.scope, &request.action);
        match action.action.as_deref() {
            Some("scaling") => {
                let delta = match &action.value {
                    Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
                    Some(Value::Number(number)) => number.as_i64(),
                    _ => None,
                }
                .ok_or_else(|| {
                    AdapterError::new(
                        AdapterErrorKind::Invalid,
                        format!(
                            "scaling needs a value holding an integer (\"1\"), got {}",
                            action
                                .value
                                .as_ref()
                                .map_or_else(|| "nothing".to_owned(), Value::to_string)
                        ),
                    )
                })?;
                let replicas = self.platform.scale(scope, delta).await?;
                Ok(format!("scaled by {delta:+} to {replicas} replicas"))
            }
            Some("toggle-feature") => self.toggle(scope, action.value.as_ref()).await,
            Some("rollback") => Ok(self.platform.revert(scope).await?),
            other => Err(AdapterError::new(
                AdapterErrorKind::Invalid,
                format!("the local platform cannot run action {other:?}"),
            )),
        }
    }
}
