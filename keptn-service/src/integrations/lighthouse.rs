//! [`Lighthouse`]: the built-in evaluator, Keptn's lighthouse-service protocol with keptn-slo's
//! scoring.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use keptn_core::answer::{answer, errored};
use keptn_core::event::{
    Deployment, Evaluation as EvaluationPayload, EventData, EventType, GetSli, KeptnEvent,
    TaskEventKind, TaskResult, TaskStatus, Test, Timestamp, format_rfc3339, parse_rfc3339,
};
use keptn_core::ports::{AdapterErrorKind, EvaluationRecord, EventFilter};
use keptn_slo::{EvaluationResult, PastEvaluation};
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::error::Error;
use crate::integration::{Context, Integration, Registration};

/// Suffix of the `get-sli.triggered` id derived from an evaluation trigger's id.
const GET_SLI_SUFFIX: &str = "-lighthouse-get-sli";
/// The timeframe when a trigger names none (Keptn's CLI default).
const DEFAULT_TIMEFRAME: Duration = Duration::from_secs(5 * 60);
/// Where the SLO of a service lives in its stage's configuration.
pub const SLO_FILE: &str = "slo.yaml";

/// The evaluator.
///
/// `evaluation.triggered` → `evaluation.started`; read `slo.yaml` of the project, stage and
/// service from the config repo; work out the timeframe ([`Lighthouse::timeframe`]); send
/// `get-sli.triggered` (indicators and filters from the SLO, the deployment under test) for
/// whichever SLI provider is subscribed. `get-sli.finished` → score the values against the
/// SLO with the earlier evaluations of the same project/stage/service from the store, record
/// the evaluation, send `evaluation.finished` with Keptn's data (`result`, `score`,
/// `indicatorResults`, `sloFileContent`, `timeStart`, `timeEnd`). No `slo.yaml` is an
/// evaluation that passes without measuring anything, as in Keptn (keptn/keptn#1081).
///
/// It keeps no state of its own: every id it sends derives from the trigger's id, and a
/// restart that delivers the trigger again finds the SLI provider's answer in the store.
#[derive(Debug, Clone)]
pub struct Lighthouse {
    registration: Registration,
}

impl Lighthouse {
    /// The evaluator under this registration (Keptn's subscribes to
    /// `sh.keptn.event.evaluation.triggered` and `sh.keptn.event.get-sli.finished`).
    pub fn new(registration: Registration) -> Self {
        Self { registration }
    }

    /// The evaluation's timeframe, as Keptn's lighthouse reads it: explicit `evaluation.start`
    /// and `end`; or `evaluation.timeframe` ending at `evaluation.end` or `now`; or the
    /// preceding test's `test.start` and `end`; else the 5 minutes before `now`.
    pub fn timeframe(data: &EventData, now: Timestamp) -> (String, String) {
        let evaluation: EvaluationPayload = data.payload_or_default("evaluation");
        let test: Test = data.payload_or_default("test");
        let given = |text: Option<String>| text.filter(|text| !text.is_empty());
        let (start, end, timeframe) = (
            given(evaluation.start),
            given(evaluation.end),
            given(evaluation.timeframe),
        );
        if let (Some(start), Some(end)) = (&start, &end) {
            return (start.clone(), end.clone());
        }
        if let Some(timeframe) = timeframe {
            let end = end.as_deref().and_then(parse_rfc3339).unwrap_or(now);
            let length =
                keptn_core::shipyard::parse_go_duration(&timeframe).unwrap_or(DEFAULT_TIMEFRAME);
            let start = minus(end, length);
            return (format_rfc3339(start), format_rfc3339(end));
        }
        if let (Some(start), Some(end)) = (given(test.start), given(test.end)) {
            return (start, end);
        }
        (
            format_rfc3339(minus(now, DEFAULT_TIMEFRAME)),
            format_rfc3339(now),
        )
    }

    async fn on_evaluation_triggered(
        &self,
        trigger: &KeptnEvent,
        context: &Context,
    ) -> Result<(), Error> {
        let name = &self.registration.name;
        let now = context.now();
        let mut out: Vec<KeptnEvent> =
            answer(trigger, name, TaskEventKind::Started, None, None, now)
                .into_iter()
                .collect();
        let Some((project, stage, service)) = trigger.scope() else {
            out.extend(self.errored(
                trigger,
                "the evaluation trigger has no project, stage and service",
                now,
            ));
            return emit(context, out).await;
        };
        let slo_text = match context
            .config_repo()
            .read(project, Some(stage), Some(service), SLO_FILE, None)
            .await
        {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind == AdapterErrorKind::NotFound => String::new(),
            Err(err) => {
                out.extend(self.errored(trigger, &format!("cannot read slo.yaml: {err}"), now));
                return emit(context, out).await;
            }
        };
        let parsed = match keptn_slo::parse(&slo_text) {
            Ok(parsed) => parsed,
            Err(err) => {
                out.extend(self.errored(trigger, &format!("invalid slo.yaml: {err}"), now));
                return emit(context, out).await;
            }
        };
        let Some(slo) = parsed.slo else {
            let evaluation = keptn_slo::no_evaluation();
            let message = format!(
                "no evaluation performed by lighthouse because no SLO file configured for project {project}"
            );
            out.extend(self.finished(
                trigger,
                &evaluation,
                EvaluationResult::Pass,
                &message,
                &slo_text,
                None,
                now,
            ));
            return emit(context, out).await;
        };
        let (start, end) = Self::timeframe(&trigger.data, now);
        let get_sli_id = format!("{}{GET_SLI_SUFFIX}", trigger.id);
        // After a restart the provider may have answered already.
        if let Some(values) = get_sli_answer(context, trigger, &get_sli_id).await {
            out.extend(self.score(context, trigger, &values).await);
            return emit(context, out).await;
        }
        let mut data = EventData::scoped(project, stage, service);
        data.labels = trigger.data.labels.clone();
        // The deployment the SLIs are about (`canary` while a blue/green version is tested):
        // Keptn's lighthouse took the first of the deployment task's `deploymentNames`.
        let deployment = trigger
            .data
            .payload_or_default::<Deployment>("deployment")
            .deployment_names
            .and_then(|names| names.into_iter().next())
            .unwrap_or_default();
        let request = GetSli {
            sli_provider: Some(String::new()),
            deployment: Some(deployment),
            start: Some(start),
            end: Some(end),
            indicators: Some(
                slo.objectives
                    .iter()
                    .map(|objective| objective.sli.to_string())
                    .collect(),
            ),
            custom_filters: Some(
                slo.filter
                    .iter()
                    .map(|(key, value)| json!({"key": key, "value": value}))
                    .collect(),
            ),
            ..GetSli::default()
        };
        data.set_payload("get-sli", &request)
            .expect("a get-sli request serialises");
        let event_type = EventType::task("get-sli", TaskEventKind::Triggered)
            .expect("get-sli is a valid task name");
        let mut get_sli = KeptnEvent::new(&get_sli_id, name, event_type, data);
        get_sli.keptn_context = trigger.keptn_context.clone();
        get_sli.git_commit_id = trigger.git_commit_id.clone();
        get_sli.time = Some(format_rfc3339(now));
        out.push(get_sli);
        emit(context, out).await
    }

    async fn on_get_sli_finished(
        &self,
        answer_event: &KeptnEvent,
        context: &Context,
    ) -> Result<(), Error> {
        let Some(trigger_id) = answer_event
            .triggered_id
            .as_deref()
            .and_then(|id| id.strip_suffix(GET_SLI_SUFFIX))
        else {
            return Ok(());
        };
        let filter = EventFilter {
            keptn_context: answer_event.keptn_context.clone(),
            event_type: Some("sh.keptn.event.evaluation.triggered".to_owned()),
            ..EventFilter::default()
        };
        let Ok(events) = context.store().events(&filter).await else {
            return Ok(());
        };
        let Some(trigger) = events.into_iter().find(|event| event.id == trigger_id) else {
            return Ok(());
        };
        let out = self.score(context, &trigger, answer_event).await;
        emit(context, out).await
    }

    /// Scores the SLI provider's answer and records the evaluation.
    async fn score(
        &self,
        context: &Context,
        trigger: &KeptnEvent,
        get_sli_finished: &KeptnEvent,
    ) -> Vec<KeptnEvent> {
        let now = context.now();
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
                return self.errored(trigger, &message, now);
            }
        }
        let slo_text = match context
            .config_repo()
            .read(project, Some(stage), Some(service), SLO_FILE, None)
            .await
        {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => {
                return self.errored(trigger, &format!("cannot read slo.yaml: {err}"), now);
            }
        };
        let slo = match keptn_slo::parse(&slo_text) {
            Ok(keptn_slo::Parsed { slo: Some(slo), .. }) => slo,
            Ok(_) => {
                return self.errored(trigger, "slo.yaml became empty during the evaluation", now);
            }
            Err(err) => return self.errored(trigger, &format!("invalid slo.yaml: {err}"), now),
        };
        let get_sli: GetSli = get_sli_finished.data.payload_or_default("get-sli");
        let values = get_sli.indicator_values.unwrap_or_default();
        let finished_id = self.finished_id(trigger);
        let history: Vec<PastEvaluation> = match context
            .store()
            .evaluations(project, stage, service, 0)
            .await
        {
            Ok(records) => records
                .into_iter()
                .filter(|record| record.event_id != finished_id)
                .filter_map(|record| {
                    let mut past = PastEvaluation::deserialize(&record.data).ok()?;
                    past.id = Some(record.event_id);
                    past.invalidated |= record.invalidated;
                    Some(past)
                })
                .collect(),
            Err(err) => {
                return self.errored(
                    trigger,
                    &format!("cannot read earlier evaluations: {err}"),
                    now,
                );
            }
        };
        let evaluation = keptn_slo::evaluate(&slo, &values, &history);
        let mut verdict = evaluation.verdict();
        let mut message = evaluation.message.clone();
        // Keptn: a failed SLI retrieval fails the gate, the evaluation itself is kept (#6096).
        if get_sli_finished.data.result == Some(TaskResult::Fail) {
            verdict = EvaluationResult::Fail;
            message = format!(
                "lighthouse failed because SLI failed with message {}",
                get_sli_finished.data.message.as_deref().unwrap_or("")
            );
        }
        let events = self.finished(
            trigger,
            &evaluation,
            verdict,
            &message,
            &slo_text,
            Some((get_sli.start, get_sli.end)),
            now,
        );
        if let Some(event) = events.first() {
            let record = EvaluationRecord {
                event_id: event.id.clone(),
                project: project.to_owned(),
                stage: stage.to_owned(),
                service: service.to_owned(),
                time: now,
                data: event.data.to_value(),
                invalidated: false,
            };
            if let Err(err) = context.store().record_evaluation(&record).await {
                tracing::warn!("lighthouse cannot record an evaluation: {err}");
            }
        }
        events
    }

    fn finished_id(&self, trigger: &KeptnEvent) -> String {
        format!("{}-{}-finished", trigger.id, self.registration.name)
    }

    /// `evaluation.finished` with Keptn's data: top-level result and message, and the
    /// evaluation.
    #[allow(clippy::too_many_arguments)]
    fn finished(
        &self,
        trigger: &KeptnEvent,
        evaluation: &keptn_slo::Evaluation,
        verdict: EvaluationResult,
        message: &str,
        slo_text: &str,
        time_range: Option<(Option<String>, Option<String>)>,
        now: Timestamp,
    ) -> Vec<KeptnEvent> {
        let result = match verdict {
            EvaluationResult::Pass => TaskResult::Pass,
            EvaluationResult::Warning => TaskResult::Warning,
            EvaluationResult::Fail => TaskResult::Fail,
        };
        let message = (!message.is_empty()).then(|| message.to_owned());
        let Some(mut event) = answer(
            trigger,
            &self.registration.name,
            TaskEventKind::Finished,
            Some(result),
            message,
            now,
        ) else {
            return Vec::new();
        };
        let mut details = serde_json::to_value(evaluation).expect("an evaluation serialises");
        if let Value::Object(details) = &mut details {
            details.remove("message");
            details.insert(
                "sloFileContent".to_owned(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(slo_text)),
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

    /// An errored `evaluation.finished` (`fail`, score 0, no indicator results).
    fn errored(&self, trigger: &KeptnEvent, message: &str, now: Timestamp) -> Vec<KeptnEvent> {
        errored(trigger, &self.registration.name, message, now)
            .map(|mut event| {
                event.data.fields.insert(
                    "evaluation".to_owned(),
                    json!({"result": "fail", "score": 0, "indicatorResults": null}),
                );
                event
            })
            .into_iter()
            .collect()
    }
}

fn minus(time: Timestamp, length: Duration) -> Timestamp {
    let millis = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
    Timestamp(time.0.saturating_sub(millis))
}

async fn emit(context: &Context, events: Vec<KeptnEvent>) -> Result<(), Error> {
    context.emit(events).await.map(|_| ())
}

/// The `get-sli.finished` answering `get_sli_id`, when there is one in the store.
async fn get_sli_answer(
    context: &Context,
    trigger: &KeptnEvent,
    get_sli_id: &str,
) -> Option<KeptnEvent> {
    let filter = EventFilter {
        keptn_context: trigger.keptn_context.clone(),
        event_type: Some("sh.keptn.event.get-sli.finished".to_owned()),
        ..EventFilter::default()
    };
    let events = context.store().events(&filter).await.ok()?;
    events
        .into_iter()
        .find(|event| event.triggered_id.as_deref() == Some(get_sli_id))
}

#[async_trait]
impl Integration for Lighthouse {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, event: &KeptnEvent, context: &Context) -> Result<(), Error> {
        match &event.event_type {
            EventType::Task {
                task,
                kind: TaskEventKind::Triggered,
            } if task == "evaluation" => self.on_evaluation_triggered(event, context).await,
            EventType::Task {
                task,
                kind: TaskEventKind::Finished,
            } if task == "get-sli" => self.on_get_sli_finished(event, context).await,
            _ => Ok(()),
        }
    }
}
