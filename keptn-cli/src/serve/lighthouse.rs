//! The built-in evaluator: Keptn's lighthouse-service protocol, scoring with keptn-slo.
//!
//! `evaluation.triggered` → `evaluation.started`, read `slo.yaml` of the project/stage/service
//! from the config repo, work out the timeframe, and send `get-sli.triggered` (indicators and
//! filters from the SLO) for whichever SLI provider is subscribed. `get-sli.finished` → score
//! the values against the SLO with the history of earlier evaluations of the same
//! project/stage/service from the store, record the evaluation, and send
//! `evaluation.finished`.
//!
//! It keeps no state of its own: every id it sends is derived from the trigger's id, and a
//! restart that delivers the trigger again finds the SLI provider's answer in the store.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use keptn_core::event::{EventData, EventType, KeptnEvent, TaskEventKind, TaskResult, TaskStatus};
use keptn_core::ports::{AdapterErrorKind, ConfigRepo, EvaluationRecord, EventFilter, Store};
use keptn_slo::{EvaluationResult, PastEvaluation, SliValue};
use serde_json::{Value, json};

use super::engine::now;
use super::integrations::answer;

/// The source name of the events it sends.
pub const SOURCE: &str = "lighthouse-service";
/// Suffix of the `get-sli.triggered` id derived from an evaluation trigger's id.
const GET_SLI_SUFFIX: &str = "-lighthouse-get-sli";
/// The timeframe when a trigger names none (Keptn's CLI default).
const DEFAULT_TIMEFRAME: Duration = Duration::from_secs(5 * 60);

/// The evaluator.
pub struct Lighthouse {
    /// History of events and evaluations.
    pub store: Arc<dyn Store>,
    /// Where `slo.yaml` lives.
    pub config: Arc<dyn ConfigRepo>,
}

impl Lighthouse {
    /// Handles one event from the bus; returns the events to send.
    pub async fn handle(&self, event: &KeptnEvent) -> Vec<KeptnEvent> {
        match &event.event_type {
            EventType::Task {
                task,
                kind: TaskEventKind::Triggered,
            } if task == "evaluation" => self.on_evaluation_triggered(event).await,
            EventType::Task {
                task,
                kind: TaskEventKind::Finished,
            } if task == "get-sli" => self.on_get_sli_finished(event).await,
            _ => Vec::new(),
        }
    }

    async fn on_evaluation_triggered(&self, trigger: &KeptnEvent) -> Vec<KeptnEvent> {
        let mut out: Vec<KeptnEvent> = answer(SOURCE, trigger, TaskEventKind::Started, None, None)
            .into_iter()
            .collect();
        let Some((project, stage, service)) = trigger.scope() else {
            out.extend(finished_errored(
                trigger,
                "the evaluation trigger has no project, stage and service",
            ));
            return out;
        };
        let slo_text = match self
            .config
            .read(project, Some(stage), Some(service), "slo.yaml", None)
            .await
        {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind == AdapterErrorKind::NotFound => String::new(),
            Err(err) => {
                out.extend(finished_errored(
                    trigger,
                    &format!("cannot read slo.yaml: {err}"),
                ));
                return out;
            }
        };
        let parsed = match keptn_slo::parse(&slo_text) {
            Ok(parsed) => parsed,
            Err(err) => {
                out.extend(finished_errored(
                    trigger,
                    &format!("invalid slo.yaml: {err}"),
                ));
                return out;
            }
        };
        let Some(slo) = parsed.slo else {
            // Keptn: no SLO file means no evaluation, and a pass (keptn/keptn#1081).
            let evaluation = keptn_slo::no_evaluation();
            let message = format!(
                "no evaluation performed by lighthouse because no SLO file configured for project {project}"
            );
            out.extend(finished(
                trigger,
                &evaluation,
                EvaluationResult::Pass,
                &message,
                &slo_text,
                None,
            ));
            return out;
        };
        let (start, end) = timeframe(&trigger.data);
        let get_sli_id = format!("{}{GET_SLI_SUFFIX}", trigger.id);
        // After a restart the provider may have answered already.
        if let Some(values) = self.get_sli_answer(trigger, &get_sli_id).await {
            out.extend(self.score(trigger, &values).await);
            return out;
        }
        let mut data = EventData::scoped(project, stage, service);
        data.labels = trigger.data.labels.clone();
        // The deployment the SLIs are about (`canary` while a blue/green version is tested):
        // Keptn's lighthouse took it from the deployment task's `deploymentNames`.
        let deployment = trigger
            .data
            .fields
            .get("deployment")
            .and_then(|deployment| deployment.get("deploymentNames"))
            .and_then(|names| names.get(0))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        data.fields.insert(
            "get-sli".to_owned(),
            json!({
                "sliProvider": "",
                "deployment": deployment,
                "start": start,
                "end": end,
                "indicators": slo.objectives.iter().map(|objective| objective.sli.clone()).collect::<Vec<_>>(),
                "customFilters": slo.filter.iter().map(|(key, value)| json!({"key": key, "value": value})).collect::<Vec<_>>(),
            }),
        );
        let event_type = EventType::task("get-sli", TaskEventKind::Triggered)
            .expect("get-sli is a valid task name");
        let mut get_sli = KeptnEvent::new(&get_sli_id, SOURCE, event_type, data);
        get_sli.keptn_context = trigger.keptn_context.clone();
        get_sli.git_commit_id = trigger.git_commit_id.clone();
        get_sli.time = Some(keptn_core::event::format_rfc3339(now()));
        out.push(get_sli);
        out
    }

    /// The `get-sli.finished` answering `get_sli_id`, when there is one in the store.
    async fn get_sli_answer(&self, trigger: &KeptnEvent, get_sli_id: &str) -> Option<KeptnEvent> {
        let filter = EventFilter {
            keptn_context: trigger.keptn_context.clone(),
            event_type: Some("sh.keptn.event.get-sli.finished".to_owned()),
            ..EventFilter::default()
        };
        let events = self.store.events(&filter).await.ok()?;
        events
            .into_iter()
            .find(|event| event.triggered_id.as_deref() == Some(get_sli_id))
    }

    async fn on_get_sli_finished(&self, answer_event: &KeptnEvent) -> Vec<KeptnEvent> {
        let Some(trigger_id) = answer_event
            .triggered_id
            .as_deref()
            .and_then(|id| id.strip_suffix(GET_SLI_SUFFIX))
        else {
            return Vec::new();
        };
        let filter = EventFilter {
            keptn_context: answer_event.keptn_context.clone(),
            event_type: Some("sh.keptn.event.evaluation.triggered".to_owned()),
            ..EventFilter::default()
        };
        let Ok(events) = self.store.events(&filter).await else {
            return Vec::new();
        };
        let Some(trigger) = events.into_iter().find(|event| event.id == trigger_id) else {
            return Vec::new();
        };
        self.score(&trigger, answer_event).await
    }

    /// Scores the SLI provider's answer and records the evaluation.
    async fn score(&self, trigger: &KeptnEvent, get_sli_finished: &KeptnEvent) -> Vec<KeptnEvent> {
        let Some((project, stage, service)) = trigger.scope() else {
            return Vec::new();
        };
        // Keptn: an aborted or errored SLI retrieval is an errored evaluation (keptn/keptn#7190).
        match &get_sli_finished.data.status {
            Some(TaskStatus::Succeeded) | None => {}
            Some(status) => {
                let message = format!(
                    "evaluation performed by lighthouse received an unexpected error: SLI retrieval {}: {}",
                    status.as_str(),
                    get_sli_finished.data.message.as_deref().unwrap_or("")
                );
                return finished_errored(trigger, &message);
            }
        }
        let slo_text = match self
            .config
            .read(project, Some(stage), Some(service), "slo.yaml", None)
            .await
        {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => return finished_errored(trigger, &format!("cannot read slo.yaml: {err}")),
        };
        let slo = match keptn_slo::parse(&slo_text) {
            Ok(keptn_slo::Parsed { slo: Some(slo), .. }) => slo,
            Ok(_) => {
                return finished_errored(trigger, "slo.yaml became empty during the evaluation");
            }
            Err(err) => return finished_errored(trigger, &format!("invalid slo.yaml: {err}")),
        };
        let values: Vec<SliValue> = get_sli_finished
            .data
            .fields
            .get("get-sli")
            .and_then(|get_sli| get_sli.get("indicatorValues"))
            .and_then(|values| serde_json::from_value(values.clone()).ok())
            .unwrap_or_default();
        let finished_id = finished_id(trigger);
        let history: Vec<PastEvaluation> =
            match self.store.evaluations(project, stage, service, 0).await {
                Ok(records) => records
                    .into_iter()
                    .filter(|record| record.event_id != finished_id)
                    .filter_map(|record| {
                        let mut past: PastEvaluation = serde_json::from_value(record.data).ok()?;
                        past.id = Some(record.event_id);
                        past.invalidated |= record.invalidated;
                        Some(past)
                    })
                    .collect(),
                Err(err) => {
                    return finished_errored(
                        trigger,
                        &format!("cannot read earlier evaluations: {err}"),
                    );
                }
            };
        let evaluation = keptn_slo::evaluate(&slo, &values, &history);
        let mut verdict = evaluation.verdict();
        let mut message = evaluation.message.clone();
        // Keptn: a failed SLI retrieval fails the gate, the evaluation itself is kept (#6096).
        if get_sli_finished
            .data
            .result
            .as_ref()
            .is_some_and(|result| result.as_str() == "fail")
        {
            verdict = EvaluationResult::Fail;
            message = format!(
                "lighthouse failed because SLI failed with message {}",
                get_sli_finished.data.message.as_deref().unwrap_or("")
            );
        }
        let times = get_sli_finished.data.fields.get("get-sli");
        let time_range = (
            times
                .and_then(|get_sli| get_sli.get("start"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            times
                .and_then(|get_sli| get_sli.get("end"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        );
        let events = finished(
            trigger,
            &evaluation,
            verdict,
            &message,
            &slo_text,
            Some(time_range),
        );
        if let Some(event) = events.first() {
            let record = EvaluationRecord {
                event_id: event.id.clone(),
                project: project.to_owned(),
                stage: stage.to_owned(),
                service: service.to_owned(),
                time: now(),
                data: event.data.to_value(),
                invalidated: false,
            };
            if let Err(err) = self.store.record_evaluation(&record).await {
                eprintln!("keptn serve: lighthouse cannot record an evaluation: {err}");
            }
        }
        events
    }
}

fn finished_id(trigger: &KeptnEvent) -> String {
    format!("{}-{SOURCE}-finished", trigger.id)
}

/// `evaluation.finished` with Keptn's data: top-level result and message, and the evaluation.
fn finished(
    trigger: &KeptnEvent,
    evaluation: &keptn_slo::Evaluation,
    verdict: EvaluationResult,
    message: &str,
    slo_text: &str,
    time_range: Option<(Option<String>, Option<String>)>,
) -> Vec<KeptnEvent> {
    let result = match verdict {
        EvaluationResult::Pass => TaskResult::Pass,
        EvaluationResult::Warning => TaskResult::Warning,
        EvaluationResult::Fail => TaskResult::Fail,
    };
    let message = (!message.is_empty()).then(|| message.to_owned());
    let Some(mut event) = answer(
        SOURCE,
        trigger,
        TaskEventKind::Finished,
        Some(result),
        message,
    ) else {
        return Vec::new();
    };
    let mut details = serde_json::to_value(evaluation).expect("an evaluation serialises");
    if let Value::Object(details) = &mut details {
        details.remove("message");
        details.insert(
            "sloFileContent".to_owned(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(slo_text.as_bytes())),
        );
        if let Some((start, end)) = time_range {
            details.insert(
                "timeStart".to_owned(),
                start.map_or(Value::Null, Value::String),
            );
            details.insert("timeEnd".to_owned(), end.map_or(Value::Null, Value::String));
        }
    }
    event.data.fields.insert("evaluation".to_owned(), details);
    vec![event]
}

fn finished_errored(trigger: &KeptnEvent, message: &str) -> Vec<KeptnEvent> {
    answer(
        SOURCE,
        trigger,
        TaskEventKind::Finished,
        Some(TaskResult::Fail),
        Some(message.to_owned()),
    )
    .map(|mut event| {
        event.data.status = Some(TaskStatus::Errored);
        event.data.fields.insert(
            "evaluation".to_owned(),
            json!({"result": "fail", "score": 0, "indicatorResults": null}),
        );
        event
    })
    .into_iter()
    .collect()
}

/// The evaluation's timeframe, as Keptn's lighthouse reads it: explicit `evaluation.start` and
/// `end`; or `evaluation.timeframe` ending at `evaluation.end` or now; or the preceding test's
/// `test.start` and `end`; else the last 5 minutes.
pub fn timeframe(data: &EventData) -> (String, String) {
    let field = |payload: &str, key: &str| {
        data.fields
            .get(payload)
            .and_then(|payload| payload.get(key))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let now_time = chrono::Utc::now();
    let format = |time: chrono::DateTime<chrono::Utc>| {
        time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    if let (Some(start), Some(end)) = (field("evaluation", "start"), field("evaluation", "end")) {
        return (start, end);
    }
    if let Some(timeframe) = field("evaluation", "timeframe") {
        let end = field("evaluation", "end")
            .and_then(|end| chrono::DateTime::parse_from_rfc3339(&end).ok())
            .map_or(now_time, |end| end.with_timezone(&chrono::Utc));
        let length =
            keptn_core::shipyard::parse_go_duration(&timeframe).unwrap_or(DEFAULT_TIMEFRAME);
        let start =
            end - chrono::Duration::from_std(length).unwrap_or(chrono::Duration::minutes(5));
        return (format(start), format(end));
    }
    if let (Some(start), Some(end)) = (field("test", "start"), field("test", "end")) {
        return (start, end);
    }
    let start = now_time
        - chrono::Duration::from_std(DEFAULT_TIMEFRAME).unwrap_or(chrono::Duration::minutes(5));
    (format(start), format(now_time))
}
