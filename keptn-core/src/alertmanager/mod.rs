//! Prometheus Alertmanager as a problem source: the webhook notification
//! Alertmanager posts to a `webhook_configs` receiver (payload `version: "4"`), turned into
//! one [`AlertNotice`] per alert.
//!
//! - A `firing` alert becomes a `sh.keptn.event.<stage>.remediation.triggered` event for the
//!   alert's `project`, `stage` and `service` labels, as Keptn's prometheus-service sent it:
//!   `problem.problemTitle` is the `summary` annotation (else the `alertname` label),
//!   `problem.ProblemDetails` holds the annotations (with `description` also as Keptn's
//!   `problemDetails`), `problem.State` is `OPEN`, `problem.ProblemID` is the alert's
//!   fingerprint, `problem.ProblemURL` its `generatorURL`, `problem.ImpactedEntity` the
//!   `pod_name` label (else the service); `data.labels` carries the alert's labels (so
//!   `deployment` and `alertname` reach the sequence) plus Keptn's `Problem URL`, and
//!   `data.deployment.deploymentNames` the `deployment` label.
//! - A `resolved` alert becomes [`AlertNotice::Resolved`], a value carrying the same Keptn
//!   context, so the control plane can close the problem (Keptn 0.2 dropped these).
//!
//! The Keptn context and the event id are derived from the alert's fingerprint and
//! `startsAt` (name-based UUIDs, version 5), so a notification Alertmanager sends again (every
//! `group_interval` while the group changes, every `repeat_interval` otherwise, or retried
//! after a failed delivery) maps to the same context and the same event id, and the intake's
//! duplicate detection drops it. A new firing of the same alert after it resolved has a new
//! `startsAt` and so a new context. `problem.rootCause` is not set, as prometheus-service did
//! not set it: remediation.yaml's `problemType` matches the title (the generated rules put
//! the SLI name there).
//!
//! What it does not do: no I/O and no clock (the event's `time` is the alert's `startsAt`);
//! it does not check who sent the notification (the HTTP layer authenticates) nor
//! deduplicate (the store does, by event id). One alert that cannot be turned into a notice
//! (a missing label, an unknown status) is an error for that alert only; the other alerts of
//! the notification are still returned.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{EventData, EventType, KeptnEvent, Problem, SequenceEventKind};

/// The webhook payload version this module understands (Alertmanager 0.x sends `"4"`).
pub const WEBHOOK_VERSION: &str = "4";

/// The sequence a firing alert triggers.
pub const REMEDIATION_SEQUENCE: &str = "remediation";

/// The `source` of the events built here, as Keptn's prometheus-service set it.
pub const EVENT_SOURCE: &str = "prometheus";

/// The alert labels that name the Keptn scope; each must be present and non-empty.
pub const SCOPE_LABELS: [&str; 3] = ["project", "stage", "service"];

/// Namespace of the name-based ids (a fixed random UUID, so ids differ from other v5 uses).
const ID_NAMESPACE: [u8; 16] = [
    0x4b, 0x65, 0x70, 0x74, 0x6e, 0x2d, 0x41, 0x4d, 0x8c, 0x1f, 0x3e, 0x52, 0x9a, 0x07, 0xd4, 0x61,
];

/// An Alertmanager webhook notification (the JSON body of the POST).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Payload version (`"4"`).
    #[serde(default)]
    pub version: String,
    /// Identifies the alert group (`{}:{alertname="..."}`).
    #[serde(default)]
    pub group_key: String,
    /// `firing` when at least one alert of the group fires, else `resolved`.
    #[serde(default)]
    pub status: String,
    /// The receiver's name in the Alertmanager config.
    #[serde(default)]
    pub receiver: String,
    /// Labels the group is grouped by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Labels all alerts of the group share.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations all alerts of the group share.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's external URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// Alerts left out because of the receiver's `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// The alerts.
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// One alert of a notification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    #[serde(default)]
    pub status: String,
    /// Labels (`alertname`, `project`, `stage`, `service`, `deployment`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (`summary`, `description`, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing (RFC 3339, as Alertmanager wrote it).
    #[serde(default)]
    pub starts_at: String,
    /// When it resolved (`0001-01-01T00:00:00Z` while firing).
    #[serde(default)]
    pub ends_at: String,
    /// The Prometheus expression browser link of the rule.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's identity of the alert (a hash of its labels).
    #[serde(default)]
    pub fingerprint: String,
}

/// What one alert of a notification means for Keptn.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertNotice {
    /// A problem opened: the `remediation.triggered` event to accept.
    Firing(Box<KeptnEvent>),
    /// A problem closed: the sequence of this Keptn context may be ended.
    Resolved {
        /// The Keptn context of the firing notice of the same alert.
        keptn_context: String,
        /// Project.
        project: String,
        /// Stage.
        stage: String,
        /// Service.
        service: String,
        /// The problem title (as in the firing notice).
        title: String,
        /// Alertmanager's fingerprint of the alert.
        fingerprint: String,
        /// When the alert resolved (RFC 3339, as Alertmanager wrote it).
        ends_at: String,
    },
}

impl AlertNotice {
    /// The Keptn context of the notice.
    pub fn keptn_context(&self) -> Option<&str> {
        match self {
            AlertNotice::Firing(event) => event.keptn_context.as_deref(),
            AlertNotice::Resolved { keptn_context, .. } => Some(keptn_context),
        }
    }
}

/// Why a notification or one of its alerts cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The body is not an Alertmanager notification.
    #[error("not an alertmanager webhook notification: {message}")]
    InvalidPayload {
        /// The JSON error.
        message: String,
    },
    /// The payload's version is not `"4"`.
    #[error("unsupported alertmanager webhook version '{version}', expected '4'")]
    UnsupportedVersion {
        /// The version sent.
        version: String,
    },
    /// An alert lacks a label that names the Keptn scope.
    #[error(
        "alert '{alert}' has no '{label}' label; keptn needs project, stage and service labels"
    )]
    MissingLabel {
        /// The alert's `alertname` (else its fingerprint).
        alert: String,
        /// The missing label.
        label: String,
    },
    /// An alert has no fingerprint or no start time, so no stable context can be derived.
    #[error("alert '{alert}' has no '{field}'; it is needed for a stable keptn context")]
    MissingField {
        /// The alert's `alertname` (else its fingerprint).
        alert: String,
        /// `fingerprint` or `startsAt`.
        field: String,
    },
    /// An alert's status is neither `firing` nor `resolved`.
    #[error("alert '{alert}' has status '{status}', expected 'firing' or 'resolved'")]
    UnknownStatus {
        /// The alert's `alertname` (else its fingerprint).
        alert: String,
        /// The status sent.
        status: String,
    },
    /// A label value cannot be used in an event type (a stage with a dot or space).
    #[error("alert '{alert}' cannot become an event: {message}")]
    InvalidScope {
        /// The alert's `alertname` (else its fingerprint).
        alert: String,
        /// Why.
        message: String,
    },
}

/// Parses a webhook body. Fails on JSON that is not a notification and on a version other
/// than `"4"` (an absent version is accepted, for hand-written test payloads).
pub fn parse(body: &str) -> Result<Notification, Error> {
    let notification: Notification =
        serde_json::from_str(body).map_err(|error| Error::InvalidPayload {
            message: error.to_string(),
        })?;
    if !notification.version.is_empty() && notification.version != WEBHOOK_VERSION {
        return Err(Error::UnsupportedVersion {
            version: notification.version,
        });
    }
    Ok(notification)
}

/// [`parse`], then [`Notification::notices`].
pub fn notices(body: &str) -> Result<Vec<Result<AlertNotice, Error>>, Error> {
    Ok(parse(body)?.notices())
}

impl Notification {
    /// One notice (or the reason there is none) per alert, in the order sent.
    pub fn notices(&self) -> Vec<Result<AlertNotice, Error>> {
        self.alerts.iter().map(Alert::notice).collect()
    }
}

impl Alert {
    /// The alert's name for messages: `alertname`, else the fingerprint.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.fingerprint)
    }

    /// The problem title: the `summary` annotation, else `alertname`.
    pub fn title(&self) -> &str {
        self.annotations
            .get("summary")
            .map(String::as_str)
            .filter(|summary| !summary.is_empty())
            .unwrap_or_else(|| self.name())
    }

    /// The Keptn context of this alert instance: a version 5 UUID of its fingerprint and
    /// `startsAt`.
    pub fn keptn_context(&self) -> String {
        name_based_uuid(&format!("context/{}/{}", self.fingerprint, self.starts_at))
    }

    /// The id of the `remediation.triggered` event of this alert instance.
    pub fn event_id(&self) -> String {
        name_based_uuid(&format!(
            "remediation.triggered/{}/{}",
            self.fingerprint, self.starts_at
        ))
    }

    fn label(&self, label: &str) -> Result<&str, Error> {
        match self.labels.get(label) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Error::MissingLabel {
                alert: self.name().to_owned(),
                label: label.to_owned(),
            }),
        }
    }

    fn check_identity(&self) -> Result<(), Error> {
        for (field, value) in [
            ("fingerprint", &self.fingerprint),
            ("startsAt", &self.starts_at),
        ] {
            if value.is_empty() {
                return Err(Error::MissingField {
                    alert: self.name().to_owned(),
                    field: field.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// What this alert means for Keptn.
    pub fn notice(&self) -> Result<AlertNotice, Error> {
        let project = self.label("project")?;
        let stage = self.label("stage")?;
        let service = self.label("service")?;
        self.check_identity()?;
        match self.status.as_str() {
            "firing" => self
                .firing_event(project, stage, service)
                .map(|event| AlertNotice::Firing(Box::new(event))),
            "resolved" => Ok(AlertNotice::Resolved {
                keptn_context: self.keptn_context(),
                project: project.to_owned(),
                stage: stage.to_owned(),
                service: service.to_owned(),
                title: self.title().to_owned(),
                fingerprint: self.fingerprint.clone(),
                ends_at: self.ends_at.clone(),
            }),
            other => Err(Error::UnknownStatus {
                alert: self.name().to_owned(),
                status: other.to_owned(),
            }),
        }
    }

    fn firing_event(&self, project: &str, stage: &str, service: &str) -> Result<KeptnEvent, Error> {
        let invalid_scope = |error: crate::Error| Error::InvalidScope {
            alert: self.name().to_owned(),
            message: error.to_string(),
        };
        let event_type =
            EventType::sequence(stage, REMEDIATION_SEQUENCE, SequenceEventKind::Triggered)
                .map_err(invalid_scope)?;
        let mut details: Map<String, Value> = self
            .annotations
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect();
        if let Some(description) = self.annotations.get("description") {
            details.insert(
                "problemDetails".to_owned(),
                Value::String(description.clone()),
            );
        }
        let problem = Problem {
            problem_title: Some(self.title().to_owned()),
            root_cause: None,
            state: Some("OPEN".to_owned()),
            problem_id: Some(self.fingerprint.clone()),
            problem_details: Some(Value::Object(details)),
            problem_url: Some(self.generator_url.clone()).filter(|url| !url.is_empty()),
            impacted_entity: Some(
                self.labels
                    .get("pod_name")
                    .cloned()
                    .unwrap_or_else(|| service.to_owned()),
            ),
            extra: BTreeMap::new(),
        };
        let mut labels = self.labels.clone();
        if !self.generator_url.is_empty() {
            labels.insert("Problem URL".to_owned(), self.generator_url.clone());
        }
        let mut data = EventData::scoped(project, stage, service);
        data.labels = Some(labels);
        data.set_payload("problem", &problem)
            .map_err(invalid_scope)?;
        if let Some(deployment) = self.labels.get("deployment") {
            data.fields.insert(
                "deployment".to_owned(),
                serde_json::json!({ "deploymentNames": [deployment] }),
            );
        }
        let mut event = KeptnEvent::new(&self.event_id(), EVENT_SOURCE, event_type, data);
        event.keptn_context = Some(self.keptn_context());
        event.time = Some(self.starts_at.clone());
        Ok(event)
    }
}

/// A version 5 (SHA-1, name-based) UUID of `name` in this module's namespace, lower-case
/// hyphenated.
fn name_based_uuid(name: &str) -> String {
    uuid_v5(&ID_NAMESPACE, name)
}

/// RFC 4122 version 5 UUID of `name` in `namespace`.
fn uuid_v5(namespace: &[u8; 16], name: &str) -> String {
    let mut input = Vec::with_capacity(namespace.len() + name.len());
    input.extend_from_slice(namespace);
    input.extend_from_slice(name.as_bytes());
    let digest = sha1(&input);
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut res = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            res.push('-');
        }
        res.push_str(&format!("{byte:02x}"));
    }
    res
}

/// SHA-1 (FIPS 180-4). Used only to derive ids, never for security.
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut state: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut padded = message.to_vec();
    let bit_len = (message.len() as u64).wrapping_mul(8);
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    padded.extend_from_slice(&bit_len.to_be_bytes());
    for block in padded.chunks_exact(64) {
        let mut words = [0_u32; 80];
        for (index, word) in block.chunks_exact(4).enumerate() {
            words[index] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for index in 16..80 {
            words[index] =
                (words[index - 3] ^ words[index - 8] ^ words[index - 14] ^ words[index - 16])
                    .rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = state;
        for (index, word) in words.iter().enumerate() {
            let (f, k) = match index {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (slot, value) in state.iter_mut().zip([a, b, c, d, e]) {
            *slot = slot.wrapping_add(value);
        }
    }
    let mut res = [0_u8; 20];
    for (chunk, word) in res.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    res
}
