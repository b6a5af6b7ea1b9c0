//! Uniform: which integration subscribes to which event types, with project/stage/service
//! filters, as Keptn's uniform registrations have them.
//!
//! A subscription's `event` is a NATS-style subject pattern: `*` matches one dot-separated
//! token, `>` (last token only) matches one or more. An empty filter list means "all".
//!
//! ```yaml
//! integrations:
//!   - name: helm-service
//!     subscriptions:
//!       - event: sh.keptn.event.deployment.triggered
//!         filter: { projects: [sockshop], stages: [dev, staging] }
//! ```

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::diagnostic::Diagnostics;
use crate::yaml::{SourceMap, YamlPath};

/// A raw uniform file, exactly as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawUniform {
    /// `integrations`.
    #[serde(default)]
    pub integrations: Vec<RawIntegration>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_yaml::Value>,
}

/// A raw integration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawIntegration {
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `kind`: which implementation runs it (default: the name).
    #[serde(default)]
    pub kind: Option<String>,
    /// `config`: settings for that implementation, as written.
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    /// `metadata`: Keptn's uniform registration data (`integrationversion`, `location`,
    /// `hostname`, ...). An entry in that form, with no `kind`, is an external integration.
    #[serde(default)]
    pub metadata: Option<serde_yaml::Value>,
    /// `subscriptions`.
    #[serde(default)]
    pub subscriptions: Vec<RawSubscription>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_yaml::Value>,
}

/// A raw subscription.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawSubscription {
    /// `event`: subject pattern.
    #[serde(default)]
    pub event: Option<String>,
    /// `filter`.
    #[serde(default)]
    pub filter: Filter,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_yaml::Value>,
}

/// Project/stage/service filters; an empty list matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Projects.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Stages.
    #[serde(default)]
    pub stages: Vec<String>,
    /// Services.
    #[serde(default)]
    pub services: Vec<String>,
}

impl Filter {
    /// Whether an event of this scope passes the filter.
    pub fn matches(&self, project: &str, stage: &str, service: &str) -> bool {
        let passes =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|item| item == value);
        passes(&self.projects, project)
            && passes(&self.stages, stage)
            && passes(&self.services, service)
    }
}

/// A subject pattern such as `sh.keptn.event.*.triggered` or `sh.keptn.>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPattern(Vec<String>);

impl EventPattern {
    /// Parses a pattern; `>` is only allowed as the last token, tokens must be non-empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens: Vec<String> = text.split('.').map(str::to_owned).collect();
        if tokens.iter().any(String::is_empty) {
            return Err(format!("event pattern '{text}' has an empty token"));
        }
        if let Some(position) = tokens.iter().position(|token| token == ">")
            && position + 1 != tokens.len()
        {
            return Err(format!(
                "event pattern '{text}' uses '>' before its last token"
            ));
        }
        Ok(Self(tokens))
    }

    /// Whether `event_type` (e.g. `sh.keptn.event.test.triggered`) matches.
    pub fn matches(&self, event_type: &str) -> bool {
        let subject: Vec<&str> = event_type.split('.').collect();
        for (token_idx, token) in self.0.iter().enumerate() {
            match token.as_str() {
                ">" => return subject.len() > token_idx,
                "*" => {
                    if subject.get(token_idx).is_none() {
                        return false;
                    }
                }
                literal => {
                    if subject.get(token_idx) != Some(&literal) {
                        return false;
                    }
                }
            }
        }
        subject.len() == self.0.len()
    }
}

/// One subscription of an integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Event pattern.
    pub event: EventPattern,
    /// Scope filter.
    pub filter: Filter,
}

/// A registered integration and its subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    /// Name (e.g. `helm-service`).
    pub name: String,
    /// Which implementation runs it: a built-in of the service (`noop`, `approval-service`,
    /// `lighthouse-service`, ...), or [`EXTERNAL_KIND`] for an integration that runs outside
    /// the control plane and talks to its API. Defaults to the name, so Keptn's service names
    /// select Keptn's behaviour; an entry in Keptn's registration form (with `metadata`) and
    /// no `kind` is external. Whether the kind exists is for the service to say.
    pub kind: String,
    /// The implementation's settings (`null` when none were given); the implementation
    /// validates them.
    pub config: serde_json::Value,
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
}

/// The kind of an integration that runs outside the control plane (it receives events over a
/// bus or polls the API for open triggers, and sends its answers to the API).
pub const EXTERNAL_KIND: &str = "external";

/// All integrations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uniform {
    /// Integrations in declared order.
    pub integrations: Vec<Integration>,
}

impl Uniform {
    /// The integrations that receive an event of `event_type` for this scope, in order.
    pub fn subscribers(
        &self,
        event_type: &str,
        project: &str,
        stage: &str,
        service: &str,
    ) -> Vec<&Integration> {
        self.integrations
            .iter()
            .filter(|integration| {
                integration.subscriptions.iter().any(|subscription| {
                    subscription.event.matches(event_type)
                        && subscription.filter.matches(project, stage, service)
                })
            })
            .collect()
    }

    /// Keptn's default subscriptions of its standard services (approval, lighthouse,
    /// remediation, helm, jmeter and prometheus services).
    pub fn keptn_defaults() -> Self {
        let integration = |name: &str, events: &[&str]| Integration {
            name: name.to_owned(),
            kind: name.to_owned(),
            config: serde_json::Value::Null,
            subscriptions: events
                .iter()
                .map(|event| Subscription {
                    event: EventPattern::parse(event).expect("default patterns are valid"),
                    filter: Filter::default(),
                })
                .collect(),
        };
        Self {
            integrations: vec![
                integration("approval-service", &["sh.keptn.event.approval.triggered"]),
                integration(
                    "lighthouse-service",
                    &[
                        "sh.keptn.event.evaluation.triggered",
                        "sh.keptn.event.get-sli.finished",
                        "sh.keptn.event.monitoring.configure",
                    ],
                ),
                integration(
                    "remediation-service",
                    &["sh.keptn.event.get-action.triggered"],
                ),
                integration(
                    "helm-service",
                    &[
                        "sh.keptn.event.deployment.triggered",
                        "sh.keptn.event.release.triggered",
                        "sh.keptn.event.rollback.triggered",
                        "sh.keptn.event.action.triggered",
                        "sh.keptn.event.service.delete.finished",
                    ],
                ),
                integration("jmeter-service", &["sh.keptn.event.test.triggered"]),
                integration(
                    "prometheus-service",
                    &[
                        "sh.keptn.event.get-sli.triggered",
                        "sh.keptn.event.monitoring.configure",
                    ],
                ),
            ],
        }
    }
}

/// Parses and validates a uniform file; warnings are returned with the uniform.
pub fn parse(source: &str) -> Result<(Uniform, Vec<crate::Diagnostic>), Error> {
    let source_map = SourceMap::new(source);
    let mut diagnostics = Diagnostics::new(&source_map);
    let raw: RawUniform = match serde_yaml::from_str(source) {
        Ok(raw) => raw,
        Err(err) => {
            let location = err.location().map(|l| crate::yaml::Location {
                line: l.line(),
                column: l.column(),
            });
            diagnostics.error_at(
                location,
                YamlPath::root(),
                format!("not a valid uniform: {err}"),
            );
            return Err(Error::InvalidUniform {
                diagnostics: diagnostics.items,
            });
        }
    };
    let root = YamlPath::root();
    for key in raw.unknown.keys() {
        diagnostics.warning_at_key(
            &root.key(key),
            format!("unknown key '{key}' in the uniform"),
        );
    }
    let mut integrations = Vec::new();
    for (integration_idx, raw_integration) in raw.integrations.iter().enumerate() {
        let path = root.key("integrations").index(integration_idx);
        for key in raw_integration.unknown.keys() {
            diagnostics.warning_at_key(
                &path.key(key),
                format!("unknown key '{key}' in an integration"),
            );
        }
        let name = raw_integration.name.clone().unwrap_or_default();
        if name.is_empty() {
            diagnostics.error(&path, "integration has no name");
        }
        let mut subscriptions = Vec::new();
        for (subscription_idx, raw_subscription) in raw_integration.subscriptions.iter().enumerate()
        {
            let subscription_path = path.key("subscriptions").index(subscription_idx);
            for key in raw_subscription.unknown.keys() {
                diagnostics.warning_at_key(
                    &subscription_path.key(key),
                    format!("unknown key '{key}' in a subscription"),
                );
            }
            match raw_subscription.event.as_deref().map(EventPattern::parse) {
                None => diagnostics.error(&subscription_path, "subscription has no event"),
                Some(Err(message)) => diagnostics.error(&subscription_path.key("event"), message),
                Some(Ok(event)) => subscriptions.push(Subscription {
                    event,
                    filter: raw_subscription.filter.clone(),
                }),
            }
        }
        let kind = match raw_integration.kind.clone().filter(|kind| !kind.is_empty()) {
            Some(kind) => kind,
            None if raw_integration.metadata.is_some() => EXTERNAL_KIND.to_owned(),
            None => name.clone(),
        };
        let config = match &raw_integration.config {
            None => serde_json::Value::Null,
            Some(config) => match serde_json::to_value(config) {
                Ok(config) => config,
                Err(err) => {
                    diagnostics.error(
                        &path.key("config"),
                        format!("config cannot be read as JSON-compatible data: {err}"),
                    );
                    serde_json::Value::Null
                }
            },
        };
        integrations.push(Integration {
            name,
            kind,
            config,
            subscriptions,
        });
    }
    if diagnostics.has_errors() {
        return Err(Error::InvalidUniform {
            diagnostics: diagnostics.items,
        });
    }
    Ok((Uniform { integrations }, diagnostics.items))
}
