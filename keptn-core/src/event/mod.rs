//! Keptn CloudEvents: the typed [`EventType`], the Keptn extension attributes, the common
//! `data` fields and the task payloads (spec §2).
//!
//! [`KeptnEvent`] is a CloudEvent 1.0 whose `data` is a JSON object. It converts to and from
//! [`cloudevents::Event`] and has its own structured-JSON codec
//! ([`KeptnEvent::from_json`] / [`KeptnEvent::to_json_pretty`]) with a fixed attribute order
//! (the order Keptn's datastore and API print: `data`, `id`, `source`, `specversion`, `time`,
//! `type`, then the Keptn extensions), so that events round-trip byte for byte.
//!
//! Unknown `data` fields are kept in [`EventData::fields`] and survive every round trip; task
//! payloads are decoded on demand with [`EventData::payload`].

mod payload;
mod time;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use payload::{
    Action, Approval, ApprovalStrategy, ConfigurationChange, Deployment, Evaluation, GetAction,
    GetSli, IndicatorValue, Problem, Release, Rollback, Test,
};
pub use time::{Timestamp, format_rfc3339, parse_rfc3339};

use crate::Error;

/// The prefix of every Keptn event type of spec 0.2.
pub const EVENT_TYPE_PREFIX: &str = "sh.keptn.event.";

/// The Keptn spec version this crate stamps on events it creates.
pub const KEPTN_SPEC_VERSION: &str = "0.2.4";

/// The kind of a task event (`sh.keptn.event.<task>.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskEventKind {
    /// `triggered`: the control plane asks for the task.
    Triggered,
    /// `started`: an executor announces it works on the task.
    Started,
    /// `status.changed`: progress report.
    StatusChanged,
    /// `finished`: an executor reports the outcome.
    Finished,
    /// `invalidated`: an evaluation is excluded from comparisons.
    Invalidated,
}

impl TaskEventKind {
    /// The kind as it appears in the type string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Started => "started",
            Self::StatusChanged => "status.changed",
            Self::Finished => "finished",
            Self::Invalidated => "invalidated",
        }
    }
}

/// The kind of a sequence event (`sh.keptn.event.<stage>.<sequence>.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SequenceEventKind {
    /// `triggered`: start the sequence.
    Triggered,
    /// `started`: accepted for compatibility; the control plane never emits it.
    Started,
    /// `finished`: the sequence ended.
    Finished,
}

impl SequenceEventKind {
    /// The kind as it appears in the type string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Started => "started",
            Self::Finished => "finished",
        }
    }
}

/// A Keptn event type, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// `sh.keptn.event.<task>.<kind>`.
    Task {
        /// Task name (no dots).
        task: String,
        /// Kind.
        kind: TaskEventKind,
    },
    /// `sh.keptn.event.<stage>.<sequence>.<kind>`.
    Sequence {
        /// Stage name (no dots).
        stage: String,
        /// Sequence name (no dots).
        sequence: String,
        /// Kind.
        kind: SequenceEventKind,
    },
    /// Any other type (legacy `sh.keptn.events.*`, `sh.keptn.log.error`,
    /// `sh.keptn.event.monitoring.configure`, ...), kept verbatim.
    Other(String),
}

fn check_name(what: &str, name: &str, full: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('.') || name.chars().any(char::is_whitespace) {
        return Err(Error::InvalidEventType {
            event_type: full.to_owned(),
            reason: format!("{what} name '{name}' must be non-empty, without dots or spaces"),
        });
    }
    Ok(())
}

impl EventType {
    /// A task event type; fails on a name with a dot (it would change the type's shape).
    pub fn task(task: &str, kind: TaskEventKind) -> Result<Self, Error> {
        check_name("task", task, task)?;
        Ok(Self::Task {
            task: task.to_owned(),
            kind,
        })
    }

    /// A sequence event type; fails on a name with a dot.
    pub fn sequence(stage: &str, sequence: &str, kind: SequenceEventKind) -> Result<Self, Error> {
        check_name("stage", stage, stage)?;
        check_name("sequence", sequence, sequence)?;
        Ok(Self::Sequence {
            stage: stage.to_owned(),
            sequence: sequence.to_owned(),
            kind,
        })
    }

    /// Parses a type string. `sh.keptn.event.*` types must have the task or sequence shape;
    /// everything else becomes [`EventType::Other`].
    pub fn parse(full: &str) -> Result<Self, Error> {
        let Some(rest) = full.strip_prefix(EVENT_TYPE_PREFIX) else {
            if full.is_empty() {
                return Err(Error::InvalidEventType {
                    event_type: String::new(),
                    reason: "the type is empty".to_owned(),
                });
            }
            return Ok(Self::Other(full.to_owned()));
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let invalid = |reason: &str| Error::InvalidEventType {
            event_type: full.to_owned(),
            reason: reason.to_owned(),
        };
        if parts.iter().any(|part| part.is_empty()) {
            return Err(invalid("the type has an empty part"));
        }
        match parts.as_slice() {
            [task, "status", "changed"] => {
                check_name("task", task, full)?;
                Ok(Self::Task {
                    task: (*task).to_owned(),
                    kind: TaskEventKind::StatusChanged,
                })
            }
            [task, kind] => {
                let kind = match *kind {
                    "triggered" => TaskEventKind::Triggered,
                    "started" => TaskEventKind::Started,
                    "finished" => TaskEventKind::Finished,
                    "invalidated" => TaskEventKind::Invalidated,
                    _ => return Ok(Self::Other(full.to_owned())),
                };
                check_name("task", task, full)?;
                Ok(Self::Task {
                    task: (*task).to_owned(),
                    kind,
                })
            }
            [stage, sequence, kind] => {
                let kind = match *kind {
                    "triggered" => SequenceEventKind::Triggered,
                    "started" => SequenceEventKind::Started,
                    "finished" => SequenceEventKind::Finished,
                    _ => return Ok(Self::Other(full.to_owned())),
                };
                Ok(Self::Sequence {
                    stage: (*stage).to_owned(),
                    sequence: (*sequence).to_owned(),
                    kind,
                })
            }
            _ => Err(invalid(
                "expected sh.keptn.event.<task>.<kind> or sh.keptn.event.<stage>.<sequence>.<kind> (names must not contain dots)",
            )),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Task { task, kind } => write!(f, "{EVENT_TYPE_PREFIX}{task}.{}", kind.as_str()),
            Self::Sequence {
                stage,
                sequence,
                kind,
            } => {
                write!(f, "{EVENT_TYPE_PREFIX}{stage}.{sequence}.{}", kind.as_str())
            }
            Self::Other(full) => f.write_str(full),
        }
    }
}

impl FromStr for EventType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// Any other string (including the empty string Keptn sends), kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as written in events.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::from(text.as_str()))
            }
        }
    };
}

string_enum! {
    /// The `result` of a task or sequence.
    TaskResult {
        /// `pass`.
        Pass => "pass",
        /// `warning` (does not stop a sequence).
        Warning => "warning",
        /// `fail` (stops a sequence).
        Fail => "fail",
    }
}

string_enum! {
    /// The `status` of a task or sequence.
    TaskStatus {
        /// `succeeded`.
        Succeeded => "succeeded",
        /// `errored` (stops a sequence).
        Errored => "errored",
        /// `aborted` (sequence aborted through the control API).
        Aborted => "aborted",
        /// `unknown`.
        Unknown => "unknown",
    }
}

impl TaskResult {
    /// `pass` or `warning`: the results a sequence continues on.
    pub fn is_passing(&self) -> bool {
        matches!(self, Self::Pass | Self::Warning)
    }
}

/// The `data` of a Keptn event: the common fields plus everything else, kept as JSON.
///
/// (De)serialises as one JSON object; the common fields are read from and written to their
/// keys, everything else lives in [`EventData::fields`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventData {
    /// Project name.
    pub project: Option<String>,
    /// Stage name.
    pub stage: Option<String>,
    /// Service name.
    pub service: Option<String>,
    /// Labels, propagated through a whole delivery.
    pub labels: Option<BTreeMap<String, String>>,
    /// Status of a `.started`/`.finished` event.
    pub status: Option<TaskStatus>,
    /// Result of a `.finished` event.
    pub result: Option<TaskResult>,
    /// Free-text message.
    pub message: Option<String>,
    /// Every other field: task payloads (`deployment`, `test`, ...) and unknown fields.
    pub fields: Map<String, Value>,
}

impl Serialize for EventData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}

fn take_text(object: &mut Map<String, Value>, key: &str) -> Result<Option<String>, Error> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(Error::InvalidEventData {
            field: key.to_owned(),
            message: format!("expected a string, found {other}"),
        }),
    }
}

impl EventData {
    /// Data with the three scope fields set.
    pub fn scoped(project: &str, stage: &str, service: &str) -> Self {
        Self {
            project: Some(project.to_owned()),
            stage: Some(stage.to_owned()),
            service: Some(service.to_owned()),
            ..Self::default()
        }
    }

    /// Decodes the payload object named `key` (usually the task name) as `T`.
    /// `Ok(None)` when the field is absent.
    pub fn payload<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.fields.get(key) {
            None => Ok(None),
            Some(value) => {
                T::deserialize(value)
                    .map(Some)
                    .map_err(|source| Error::InvalidEventData {
                        field: key.to_owned(),
                        message: source.to_string(),
                    })
            }
        }
    }

    /// The payload named `key` as `T`, or `T::default()` when it is absent or does not have
    /// `T`'s shape: for readers that treat a malformed payload like a missing one, as Keptn's
    /// services did.
    pub fn payload_or_default<T: serde::de::DeserializeOwned + Default>(&self, key: &str) -> T {
        self.payload(key).ok().flatten().unwrap_or_default()
    }

    /// Stores `payload` under `key`, replacing what was there.
    pub fn set_payload<T: Serialize>(&mut self, key: &str, payload: &T) -> Result<(), Error> {
        let value = serde_json::to_value(payload).map_err(|source| Error::InvalidEventData {
            field: key.to_owned(),
            message: source.to_string(),
        })?;
        self.fields.insert(key.to_owned(), value);
        Ok(())
    }

    /// The data as one JSON object (keys sorted, as Keptn's Go services print them).
    pub fn to_value(&self) -> Value {
        let mut object = self.fields.clone();
        let texts = [
            ("project", self.project.as_deref()),
            ("stage", self.stage.as_deref()),
            ("service", self.service.as_deref()),
            ("status", self.status.as_ref().map(TaskStatus::as_str)),
            ("result", self.result.as_ref().map(TaskResult::as_str)),
            ("message", self.message.as_deref()),
        ];
        for (key, text) in texts {
            if let Some(text) = text {
                object.insert(key.to_owned(), Value::String(text.to_owned()));
            }
        }
        if let Some(labels) = &self.labels {
            let labels = labels
                .iter()
                .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                .collect();
            object.insert("labels".to_owned(), Value::Object(labels));
        }
        Value::Object(object)
    }

    /// Reads data from a JSON value; it must be an object, and the common fields must have
    /// their types (strings; labels a map of strings).
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let Value::Object(mut object) = value else {
            return Err(Error::InvalidEventData {
                field: "data".to_owned(),
                message: "data must be a JSON object".to_owned(),
            });
        };
        let labels = match object.remove("labels") {
            None | Some(Value::Null) => None,
            Some(Value::Object(labels)) => Some(
                // Labels are strings in Keptn; a number or boolean is kept as its JSON text.
                labels
                    .into_iter()
                    .map(|(key, value)| match value {
                        Value::String(text) => (key, text),
                        other => (key, other.to_string()),
                    })
                    .collect(),
            ),
            Some(other) => {
                return Err(Error::InvalidEventData {
                    field: "labels".to_owned(),
                    message: format!("expected a map, found {other}"),
                });
            }
        };
        Ok(Self {
            project: take_text(&mut object, "project")?,
            stage: take_text(&mut object, "stage")?,
            service: take_text(&mut object, "service")?,
            labels,
            status: take_text(&mut object, "status")?.map(|text| TaskStatus::from(text.as_str())),
            result: take_text(&mut object, "result")?.map(|text| TaskResult::from(text.as_str())),
            message: take_text(&mut object, "message")?,
            fields: object,
        })
    }
}

/// A Keptn CloudEvent (CloudEvents 1.0, structured JSON, `data` an object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptnEvent {
    /// `specversion` (`1.0`).
    pub spec_version: String,
    /// `id`.
    pub id: String,
    /// `source`: the producer.
    pub source: String,
    /// `type`.
    pub event_type: EventType,
    /// `time` (RFC 3339), kept as written.
    pub time: Option<String>,
    /// `datacontenttype`.
    pub data_content_type: Option<String>,
    /// `shkeptncontext`: correlates everything one trigger caused.
    pub keptn_context: Option<String>,
    /// `triggeredid`: the `.triggered` event this one answers.
    pub triggered_id: Option<String>,
    /// `gitcommitid`: config-repo commit the sequence works on.
    pub git_commit_id: Option<String>,
    /// `shkeptnspecversion`.
    pub keptn_spec_version: Option<String>,
    /// Other attributes (`contenttype` of old events, `subject`, vendor extensions).
    pub other_attributes: BTreeMap<String, Value>,
    /// `data`.
    pub data: EventData,
}

const KNOWN_ATTRIBUTES: [&str; 11] = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "shkeptncontext",
    "triggeredid",
    "gitcommitid",
    "shkeptnspecversion",
    "data",
];

impl KeptnEvent {
    /// A new event with the given identity, type and data; `specversion` 1.0 and
    /// `shkeptnspecversion` [`KEPTN_SPEC_VERSION`].
    pub fn new(id: &str, source: &str, event_type: EventType, data: EventData) -> Self {
        Self {
            spec_version: "1.0".to_owned(),
            id: id.to_owned(),
            source: source.to_owned(),
            event_type,
            time: None,
            data_content_type: Some("application/json".to_owned()),
            keptn_context: None,
            triggered_id: None,
            git_commit_id: None,
            keptn_spec_version: Some(KEPTN_SPEC_VERSION.to_owned()),
            other_attributes: BTreeMap::new(),
            data,
        }
    }

    /// Parses structured JSON.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(text).map_err(|source| Error::InvalidEvent {
            message: source.to_string(),
        })?;
        Self::from_json_value(value)
    }

    /// Reads an event from a parsed JSON object.
    pub fn from_json_value(value: Value) -> Result<Self, Error> {
        let Value::Object(mut object) = value else {
            return Err(Error::InvalidEvent {
                message: "an event must be a JSON object".into(),
            });
        };
        let mut take_string = |name: &str| -> Result<Option<String>, Error> {
            match object.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(other) => Err(Error::InvalidEvent {
                    message: format!("attribute '{name}' must be a string, found {other}"),
                }),
            }
        };
        let spec_version = take_string("specversion")?.unwrap_or_default();
        let id = take_string("id")?.unwrap_or_default();
        let source = take_string("source")?.unwrap_or_default();
        let type_text = take_string("type")?.ok_or_else(|| Error::InvalidEvent {
            message: "attribute 'type' is missing".into(),
        })?;
        let time = take_string("time")?;
        let data_content_type = take_string("datacontenttype")?;
        let keptn_context = take_string("shkeptncontext")?;
        let triggered_id = take_string("triggeredid")?;
        let git_commit_id = take_string("gitcommitid")?;
        let keptn_spec_version = take_string("shkeptnspecversion")?;
        let data = match object.remove("data") {
            None | Some(Value::Null) => EventData::default(),
            Some(value) => EventData::from_value(value)?,
        };
        let event_type = EventType::parse(&type_text)?;
        Ok(Self {
            spec_version,
            id,
            source,
            event_type,
            time,
            data_content_type,
            keptn_context,
            triggered_id,
            git_commit_id,
            keptn_spec_version,
            other_attributes: object.into_iter().collect(),
            data,
        })
    }

    /// Structured JSON, pretty-printed, attributes in Keptn's order.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&OrderedEvent(self))
            .expect("an event always serialises: string keys only")
    }

    /// Structured JSON on one line, attributes in Keptn's order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&OrderedEvent(self))
            .expect("an event always serialises: string keys only")
    }

    /// The data's project/stage/service when all three are present.
    pub fn scope(&self) -> Option<(&str, &str, &str)> {
        Some((
            self.data.project.as_deref()?,
            self.data.stage.as_deref()?,
            self.data.service.as_deref()?,
        ))
    }
}

struct OrderedEvent<'event>(&'event KeptnEvent);

impl Serialize for OrderedEvent<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let event = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(content_type) = event.other_attributes.get("contenttype") {
            map.serialize_entry("contenttype", content_type)?;
        }
        map.serialize_entry("data", &event.data.to_value())?;
        if let Some(data_content_type) = &event.data_content_type {
            map.serialize_entry("datacontenttype", data_content_type)?;
        }
        map.serialize_entry("id", &event.id)?;
        map.serialize_entry("source", &event.source)?;
        map.serialize_entry("specversion", &event.spec_version)?;
        if let Some(time) = &event.time {
            map.serialize_entry("time", time)?;
        }
        map.serialize_entry("type", &event.event_type.to_string())?;
        let extensions = [
            ("shkeptncontext", &event.keptn_context),
            ("shkeptnspecversion", &event.keptn_spec_version),
            ("triggeredid", &event.triggered_id),
            ("gitcommitid", &event.git_commit_id),
        ];
        for (name, value) in extensions {
            if let Some(value) = value {
                map.serialize_entry(name, value)?;
            }
        }
        for (name, value) in &event.other_attributes {
            if name != "contenttype" {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

impl TryFrom<cloudevents::Event> for KeptnEvent {
    type Error = Error;

    fn try_from(event: cloudevents::Event) -> Result<Self, Self::Error> {
        use cloudevents::AttributesReader;
        let mut object = Map::new();
        object.insert(
            "specversion".into(),
            Value::String(event.specversion().to_string()),
        );
        object.insert("id".into(), Value::String(event.id().to_owned()));
        object.insert("source".into(), Value::String(event.source().to_string()));
        object.insert("type".into(), Value::String(event.ty().to_owned()));
        if let Some(time) = event.time() {
            object.insert("time".into(), Value::String(format_rfc3339_chrono(time)));
        }
        if let Some(content_type) = event.datacontenttype() {
            object.insert(
                "datacontenttype".into(),
                Value::String(content_type.to_owned()),
            );
        }
        if let Some(subject) = event.subject() {
            object.insert("subject".into(), Value::String(subject.to_owned()));
        }
        for (name, value) in event.iter_extensions() {
            let value = match value {
                cloudevents::event::ExtensionValue::String(text) => Value::String(text.clone()),
                cloudevents::event::ExtensionValue::Boolean(flag) => Value::Bool(*flag),
                cloudevents::event::ExtensionValue::Integer(number) => Value::from(*number),
            };
            object.insert(name.to_owned(), value);
        }
        let data = match event.data() {
            None => Value::Null,
            Some(cloudevents::Data::Json(json)) => json.clone(),
            Some(cloudevents::Data::String(text)) => {
                serde_json::from_str(text).map_err(|err| Error::InvalidEventData {
                    field: "data".into(),
                    message: err.to_string(),
                })?
            }
            Some(cloudevents::Data::Binary(bytes)) => {
                serde_json::from_slice(bytes).map_err(|err| Error::InvalidEventData {
                    field: "data".into(),
                    message: err.to_string(),
                })?
            }
        };
        object.insert("data".into(), data);
        Self::from_json_value(Value::Object(object))
    }
}

fn format_rfc3339_chrono(time: &impl fmt::Display) -> String {
    // chrono's Display is `2021-01-15 15:09:46.268 UTC`; use its RFC 3339 form instead.
    let text = time.to_string();
    let text = text.trim_end_matches(" UTC");
    format!("{}Z", text.replacen(' ', "T", 1))
}

impl TryFrom<&KeptnEvent> for cloudevents::Event {
    type Error = Error;

    fn try_from(event: &KeptnEvent) -> Result<Self, Self::Error> {
        use cloudevents::EventBuilder;
        let mut builder = cloudevents::EventBuilderV10::new()
            .id(event.id.clone())
            .source(event.source.clone())
            .ty(event.event_type.to_string())
            .data(
                event
                    .data_content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".to_owned()),
                event.data.to_value(),
            );
        if let Some(time) = &event.time {
            builder = builder.time(time.clone());
        }
        let extensions = [
            ("shkeptncontext", &event.keptn_context),
            ("triggeredid", &event.triggered_id),
            ("gitcommitid", &event.git_commit_id),
            ("shkeptnspecversion", &event.keptn_spec_version),
        ];
        for (name, value) in extensions {
            if let Some(value) = value {
                builder = builder.extension(name, value.clone());
            }
        }
        for (name, value) in &event.other_attributes {
            if KNOWN_ATTRIBUTES.contains(&name.as_str()) {
                continue;
            }
            match value {
                Value::String(text) if name == "subject" => builder = builder.subject(text.clone()),
                Value::String(text) => builder = builder.extension(name, text.clone()),
                Value::Bool(flag) => builder = builder.extension(name, *flag),
                Value::Number(number) if number.is_i64() => {
                    builder = builder.extension(name, number.as_i64().unwrap_or_default());
                }
                other => builder = builder.extension(name, other.to_string()),
            }
        }
        builder.build().map_err(|err| Error::InvalidEvent {
            message: err.to_string(),
        })
    }
}
