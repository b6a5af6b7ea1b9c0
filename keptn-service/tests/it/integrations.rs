//! The built-in integrations end to end: each runs in a control plane on in-memory storage,
//! over fakes of the ports that record what they were asked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use keptn_core::event::{KeptnEvent, TaskResult, TaskStatus, Timestamp};
use keptn_core::ports::{
    ActionRequest, ActionRunner, AdapterError, AdapterErrorKind, Deployed, Deployer,
    DeploymentRequest, DeploymentStrategy, Scope, SliProvider, SliRequest, TestReport, TestRequest,
    TestRunner, TrafficRouter,
};
use keptn_service::integrations::{
    Action, Approval, Deploy, GetSli, Lighthouse, Noop, Remediation, Test,
};
use keptn_service::{ControlPlane, Integration};
use keptn_slo::SliValue;
use serde_json::json;

use crate::support::{
    builder, registration, sequence_trigger, set_shipyard, wait_for, write_files,
};

/// One stage, one sequence with the given tasks (each with its properties as YAML).
fn shipyard(tasks: &[(&str, &str)]) -> String {
    let mut text = String::from(
        "apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\nmetadata:\n  name: s\nspec:\n  stages:\n    - name: dev\n      sequences:\n        - name: run\n          tasks:\n",
    );
    for (task, properties) in tasks {
        text.push_str(&format!("            - name: {task}\n"));
        if !properties.is_empty() {
            text.push_str("              properties:\n");
            for line in properties.lines() {
                text.push_str(&format!("                {line}\n"));
            }
        }
    }
    text
}

/// Runs `dev.run` with `integrations` and returns the sequence's `.finished` and every event
/// committed until then.
async fn run(
    tasks: &[(&str, &str)],
    integrations: Vec<Arc<dyn Integration>>,
    files: &[(&str, &str)],
) -> (Arc<KeptnEvent>, Vec<KeptnEvent>, ControlPlane) {
    let (builder, _, config_repo) = builder();
    let control_plane = builder
        .integrations(integrations)
        .start()
        .await
        .expect("starts");
    let files: BTreeMap<&str, &str> = files.iter().copied().collect();
    write_files(config_repo.as_ref(), "dev", &files).await;
    set_shipyard(&control_plane, &shipyard(tasks)).await;
    let mut events = control_plane.subscribe();
    control_plane
        .accept(sequence_trigger("dev", "run"))
        .await
        .expect("accepted");
    let mut seen = Vec::new();
    let finished = wait_for(&mut events, |event| {
        event.event_type.to_string() == "sh.keptn.event.dev.run.finished"
    })
    .await;
    // Everything before it is in the store's history too.
    let filter = keptn_core::ports::EventFilter {
        keptn_context: finished.keptn_context.clone(),
        ..Default::default()
    };
    seen.extend(
        control_plane
            .store()
            .events(&filter)
            .await
            .expect("the history"),
    );
    (finished, seen, control_plane)
}

fn finished_of<'a>(events: &'a [KeptnEvent], task: &str) -> Vec<&'a KeptnEvent> {
    let wanted = format!("sh.keptn.event.{task}.finished");
    events
        .iter()
        .filter(|event| event.event_type.to_string() == wanted)
        .collect()
}

fn count_of(events: &[KeptnEvent], event_type: &str) -> usize {
    events
        .iter()
        .filter(|event| event.event_type.to_string() == event_type)
        .count()
}

// --- approval ---------------------------------------------------------------------------

fn approval() -> Arc<dyn Integration> {
    Arc::new(Approval::new(registration(
        "approval-service",
        &["sh.keptn.event.approval.triggered"],
    )))
}

fn noop_for(tasks: &[&str]) -> Arc<dyn Integration> {
    let patterns: Vec<String> = tasks
        .iter()
        .map(|task| format!("sh.keptn.event.{task}.triggered"))
        .collect();
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    Arc::new(Noop::new(registration("noop", &patterns)))
}

#[tokio::test]
async fn an_automatic_approval_of_a_pass_finishes_at_once() {
    let (finished, events, _) = run(
        &[
            ("test", ""),
            ("approval", "pass: automatic\nwarning: manual"),
        ],
        vec![noop_for(&["test"]), approval()],
        &[],
    )
    .await;
    assert_eq!(finished.data.result, Some(TaskResult::Pass));
    let approvals = finished_of(&events, "approval");
    assert_eq!(approvals.len(), 1);
    assert_eq!(
        approvals[0].data.message.as_deref(),
        Some("approved automatically")
    );
    let started = events
        .iter()
        .find(|event| event.event_type.to_string() == "sh.keptn.event.approval.started")
        .expect("approval started");
    assert_eq!(
        started.data.message.as_deref(),
        Some("Approval strategy for result 'pass': automatic")
    );
}

#[tokio::test]
async fn a_manual_approval_waits_for_a_person() {
    let (builder, _, _) = builder();
    let control_plane = builder
        .integration(noop_for(&["test"]))
        .integration(approval())
        .start()
        .await
        .expect("starts");
    set_shipyard(
        &control_plane,
        &shipyard(&[("test", ""), ("approval", "pass: manual")]),
    )
    .await;
    let mut events = control_plane.subscribe();
    control_plane
        .accept(sequence_trigger("dev", "run"))
        .await
        .expect("accepted");
    let started = wait_for(&mut events, |event| {
        event.event_type.to_string() == "sh.keptn.event.approval.started"
    })
    .await;
    assert_eq!(
        started.data.message.as_deref(),
        Some("Approval strategy for result 'pass': manual")
    );
    // Nothing more comes by itself; the execution waits for approval.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let state = control_plane.state().await;
    assert!(state.executions.values().any(|execution| {
        execution.status == keptn_core::orchestrator::ExecutionStatus::WaitingForApproval
    }));
}

#[tokio::test]
async fn a_failed_previous_task_is_declined_automatically() {
    let failing = Arc::new(Fake::default().failing_tests());
    let (finished, events, _) = run(
        &[("test", ""), ("approval", "pass: automatic")],
        vec![
            Arc::new(
                Test::new(
                    registration("tests", &["sh.keptn.event.test.triggered"]),
                    failing,
                )
                .with_target("http://carts"),
            ),
            approval(),
        ],
        &[],
    )
    .await;
    // The failed test ends the sequence before the approval: Keptn stops on fail.
    assert_eq!(finished.data.result, Some(TaskResult::Fail));
    assert!(finished_of(&events, "approval").is_empty());
}

// --- fakes ------------------------------------------------------------------------------

/// A deployer, router, test runner, SLI provider and action runner that records its calls.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    fail_tests: bool,
    values: Vec<SliValue>,
    action_problems: Mutex<Vec<Option<String>>>,
}

impl Fake {
    fn failing_tests(mut self) -> Self {
        self.fail_tests = true;
        self
    }
    fn with_values(mut self, values: Vec<SliValue>) -> Self {
        self.values = values;
        self
    }
    fn record(&self, call: String) {
        self.calls.lock().expect("not poisoned").push(call);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl Deployer for Fake {
    async fn deploy(&self, request: &DeploymentRequest) -> Result<Deployed, AdapterError> {
        self.record(format!(
            "deploy {:?} {}",
            request.strategy,
            request
                .values
                .get("image")
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
        Ok(Deployed {
            deployment_names: vec!["canary".to_owned()],
            uris_local: vec!["http://carts.sockshop-dev:8080".to_owned()],
            uris_public: Vec::new(),
        })
    }
    async fn release(&self, _: &Scope, strategy: DeploymentStrategy) -> Result<(), AdapterError> {
        self.record(format!("release {strategy:?}"));
        Ok(())
    }
    async fn rollback(&self, _: &Scope, strategy: DeploymentStrategy) -> Result<(), AdapterError> {
        self.record(format!("rollback {strategy:?}"));
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for Fake {
    async fn set_canary_weight(&self, _: &Scope, canary_percent: u8) -> Result<(), AdapterError> {
        self.record(format!("weight {canary_percent}"));
        Ok(())
    }
}

#[async_trait]
impl TestRunner for Fake {
    fn handles(&self, strategy: &str) -> bool {
        strategy != "real-user"
    }
    async fn run(&self, request: &TestRequest) -> Result<TestReport, AdapterError> {
        self.record(format!("test {} {}", request.strategy, request.target));
        if request.strategy == "broken" {
            return Err(AdapterError::new(
                AdapterErrorKind::Failed,
                "jmeter is missing",
            ));
        }
        Ok(TestReport {
            passed: !self.fail_tests,
            start: Timestamp(1_700_000_000_000),
            end: Timestamp(1_700_000_060_000),
            message: "10 requests".to_owned(),
        })
    }
}

#[async_trait]
impl SliProvider for Fake {
    async fn get_slis(&self, request: &SliRequest) -> Result<Vec<SliValue>, AdapterError> {
        self.record(format!(
            "get-sli {} {} {}",
            request.indicators.join(","),
            request.deployment,
            request.end.millis_since(request.start)
        ));
        Ok(self.values.clone())
    }
}

#[async_trait]
impl ActionRunner for Fake {
    fn handles(&self, action: &str) -> bool {
        action == "scaling"
    }
    async fn execute(&self, request: &ActionRequest) -> Result<String, AdapterError> {
        self.action_problems
            .lock()
            .expect("not poisoned")
            .push(request.problem.problem_title.clone());
        self.record(format!(
            "action {}",
            request.action.action.as_deref().unwrap_or_default()
        ));
        Ok("scaled up".to_owned())
    }
}

// --- deploy and test ----------------------------------------------------------------------

fn deploy(fake: &Arc<Fake>) -> Arc<dyn Integration> {
    Arc::new(
        Deploy::new(
            registration(
                "deployer",
                &[
                    "sh.keptn.event.deployment.triggered",
                    "sh.keptn.event.release.triggered",
                    "sh.keptn.event.rollback.triggered",
                ],
            ),
            Arc::clone(fake) as _,
        )
        .with_router(Arc::clone(fake) as _),
    )
}

fn tests(fake: &Arc<Fake>) -> Arc<dyn Integration> {
    Arc::new(Test::new(
        registration("tests", &["sh.keptn.event.test.triggered"]),
        Arc::clone(fake) as _,
    ))
}

#[tokio::test]
async fn a_canary_goes_through_its_steps_and_the_test_gets_the_deployments_uri() {
    let fake = Arc::new(Fake::default());
    let (finished, events, _) = run(
        &[
            ("deployment", "deploymentstrategy: canary\ncanaryweight: 20"),
            ("test", "teststrategy: performance"),
            ("release", "canaryweight: \"50%\""),
            ("release", ""),
        ],
        vec![deploy(&fake), tests(&fake)],
        &[],
    )
    .await;
    assert_eq!(finished.data.result, Some(TaskResult::Pass));
    assert_eq!(
        fake.calls(),
        [
            "deploy Canary { weight: 20 } \"docker.io/keptnexamples/carts:0.9.1\"",
            "test performance http://carts.sockshop-dev:8080",
            "weight 50",
            // The release task's payload carries the strategy, not the deployment's first
            // weight (the deployment's answer replaced its payload): the default shows.
            "release Canary { weight: 10 }",
        ]
    );
    let deployment = finished_of(&events, "deployment")[0];
    assert_eq!(
        deployment.data.fields["deployment"]["deploymentNames"],
        json!(["canary"])
    );
    let test = finished_of(&events, "test")[0];
    assert_eq!(
        test.data.fields["test"]["start"],
        json!("2023-11-14T22:13:20.000Z")
    );
    assert_eq!(
        test.data.fields["test"]["end"],
        json!("2023-11-14T22:14:20.000Z")
    );
}

#[tokio::test]
async fn an_unknown_strategy_or_weight_is_answered_errored_with_the_reason() {
    let fake = Arc::new(Fake::default());
    let (finished, events, _) = run(
        &[("deployment", "deploymentstrategy: mirror")],
        vec![deploy(&fake)],
        &[],
    )
    .await;
    assert_eq!(finished.data.result, Some(TaskResult::Fail));
    let answer = finished_of(&events, "deployment")[0];
    assert_eq!(answer.data.status, Some(TaskStatus::Errored));
    let message = answer.data.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("unknown deploymentstrategy 'mirror'"),
        "{message}"
    );
    assert!(fake.calls().is_empty(), "nothing was deployed");

    let (_, events, _) = run(
        &[(
            "deployment",
            "deploymentstrategy: canary\ncanaryweight: 120",
        )],
        vec![deploy(&fake)],
        &[],
    )
    .await;
    let message = finished_of(&events, "deployment")[0]
        .data
        .message
        .clone()
        .unwrap_or_default();
    assert!(
        message.contains("canaryweight must be a percentage"),
        "{message}"
    );
}

#[tokio::test]
async fn a_test_the_runner_does_not_handle_gets_no_answer_and_one_that_cannot_run_is_errored() {
    let fake = Arc::new(Fake::default());
    let (builder, _, _) = builder();
    let control_plane = builder
        .integration(deploy(&fake))
        .integration(tests(&fake))
        .start()
        .await
        .expect("starts");
    set_shipyard(
        &control_plane,
        &shipyard(&[("deployment", ""), ("test", "teststrategy: real-user")]),
    )
    .await;
    let mut events = control_plane.subscribe();
    control_plane
        .accept(sequence_trigger("dev", "run"))
        .await
        .expect("accepted");
    wait_for(&mut events, |event| {
        event.event_type.to_string() == "sh.keptn.event.test.triggered"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let history = control_plane
        .store()
        .events(&Default::default())
        .await
        .expect("history");
    assert_eq!(count_of(&history, "sh.keptn.event.test.started"), 0);
    assert!(!fake.calls().iter().any(|call| call.starts_with("test")));

    let (finished, events, _) = run(
        &[("deployment", ""), ("test", "teststrategy: broken")],
        vec![deploy(&fake), tests(&fake)],
        &[],
    )
    .await;
    assert_eq!(finished.data.result, Some(TaskResult::Fail));
    let answer = finished_of(&events, "test")[0];
    assert_eq!(answer.data.status, Some(TaskStatus::Errored));
    assert_eq!(
        answer.data.message.as_deref(),
        Some("the test could not run: jmeter is missing")
    );
}

// --- lighthouse and get-sli ---------------------------------------------------------------

const SLO: &str = "\
spec_version: '1.0'
comparison:
  compare_with: single_result
  include_result_with_score: pass
  aggregate_function: avg
objectives:
  - sli: response_time_p95
    pass:
      - criteria: ['<600']
    warning:
      - criteria: ['<=800']
total_score:
  pass: '90%'
  warning: '50%'
";

fn lighthouse_and_provider(fake: &Arc<Fake>) -> Vec<Arc<dyn Integration>> {
    vec![
        Arc::new(Lighthouse::new(registration(
            "lighthouse-service",
            &[
                "sh.keptn.event.evaluation.triggered",
                "sh.keptn.event.get-sli.finished",
            ],
        ))),
        Arc::new(GetSli::new(
            registration("sli-provider", &["sh.keptn.event.get-sli.triggered"]),
            Arc::clone(fake) as _,
        )),
    ]
}

#[tokio::test]
async fn the_lighthouse_scores_the_providers_values_and_records_the_evaluation() {
    let fake =
        Arc::new(Fake::default().with_values(vec![SliValue::new("response_time_p95", 700.0)]));
    let mut integrations = lighthouse_and_provider(&fake);
    integrations.push(deploy(&fake));
    integrations.push(tests(&fake));
    let (finished, events, control_plane) = run(
        &[
            ("deployment", "deploymentstrategy: blue_green_service"),
            ("test", "teststrategy: performance"),
            ("evaluation", ""),
        ],
        integrations,
        &[("slo.yaml", SLO)],
    )
    .await;
    assert_eq!(finished.data.result, Some(TaskResult::Warning));
    let evaluation = finished_of(&events, "evaluation")[0];
    assert_eq!(evaluation.data.result, Some(TaskResult::Warning));
    let details = &evaluation.data.fields["evaluation"];
    assert_eq!(details["score"], json!(50.0));
    assert_eq!(details["timeStart"], json!("2023-11-14T22:13:20.000Z"));
    assert_eq!(details["timeEnd"], json!("2023-11-14T22:14:20.000Z"));
    assert!(details["sloFileContent"].is_string());
    // The provider was asked for the SLO's indicators, about the canary, over the test's
    // timeframe (60 s).
    assert!(
        fake.calls()
            .contains(&"get-sli response_time_p95 canary 60000".to_owned()),
        "{:?}",
        fake.calls()
    );
    let records = control_plane
        .store()
        .evaluations("sockshop", "dev", "carts", 0)
        .await
        .expect("evaluations");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event_id, evaluation.id);
}

#[tokio::test]
async fn no_slo_passes_without_measuring_and_a_broken_slo_is_errored() {
    let fake = Arc::new(Fake::default());
    let (finished, events, _) =
        run(&[("evaluation", "")], lighthouse_and_provider(&fake), &[]).await;
    assert_eq!(finished.data.result, Some(TaskResult::Pass));
    let message = finished_of(&events, "evaluation")[0]
        .data
        .message
        .clone()
        .unwrap_or_default();
    assert!(message.contains("no SLO file configured"), "{message}");
    assert_eq!(count_of(&events, "sh.keptn.event.get-sli.triggered"), 0);

    let (finished, events, _) = run(
        &[("evaluation", "")],
        lighthouse_and_provider(&fake),
        &[(
            "slo.yaml",
            "objectives:\n  - sli: x\n    pass:\n      - criteria: ['<<1']\n",
        )],
    )
    .await;
    assert_eq!(finished.data.result, Some(TaskResult::Fail));
    let answer = finished_of(&events, "evaluation")[0];
    assert_eq!(answer.data.status, Some(TaskStatus::Errored));
    assert!(
        answer
            .data
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with("invalid slo.yaml"),
        "{:?}",
        answer.data.message
    );
}

#[test]
fn the_timeframe_comes_from_the_evaluation_then_the_test_then_the_last_five_minutes() {
    use keptn_core::event::EventData;
    let now = Timestamp(1_700_000_000_000);
    let data = |fields: serde_json::Value| EventData::from_value(fields).expect("valid data");
    let cases = [
        (
            json!({"evaluation": {"start": "2023-01-01T00:00:00Z", "end": "2023-01-01T00:10:00Z"}}),
            ("2023-01-01T00:00:00Z", "2023-01-01T00:10:00Z"),
        ),
        (
            json!({"evaluation": {"timeframe": "15m", "end": "2023-01-01T00:30:00Z"}}),
            ("2023-01-01T00:15:00.000Z", "2023-01-01T00:30:00.000Z"),
        ),
        (
            json!({"evaluation": {"timeframe": "1m"}, "test": {"start": "a", "end": "b"}}),
            ("2023-11-14T22:12:20.000Z", "2023-11-14T22:13:20.000Z"),
        ),
        (
            json!({"test": {"start": "2023-01-01T00:00:00Z", "end": "2023-01-01T00:01:00Z"}}),
            ("2023-01-01T00:00:00Z", "2023-01-01T00:01:00Z"),
        ),
        (
            json!({}),
            ("2023-11-14T22:08:20.000Z", "2023-11-14T22:13:20.000Z"),
        ),
    ];
    for (fields, (start, end)) in cases {
        let (found_start, found_end) = Lighthouse::timeframe(&data(fields.clone()), now);
        assert_eq!(
            (found_start.as_str(), found_end.as_str()),
            (start, end),
            "{fields}"
        );
    }
}

// --- remediation ----------------------------------------------------------------------------

const REMEDIATION: &str = "\
apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: carts-remediation
spec:
  remediations:
    - problemType: Response time degradation
      actionsOnOpen:
        - action: scaling
          name: Scale up
          value: '1'
";

#[tokio::test]
async fn remediation_picks_the_action_and_the_runner_gets_the_problem() {
    let fake = Arc::new(Fake::default());
    let (builder, _, config_repo) = builder();
    let control_plane = builder
        .integration(Arc::new(Remediation::new(registration(
            "remediation-service",
            &["sh.keptn.event.get-action.triggered"],
        ))))
        .integration(Arc::new(Action::new(
            registration("actions", &["sh.keptn.event.action.triggered"]),
            Arc::clone(&fake) as _,
        )))
        .start()
        .await
        .expect("starts");
    let files = BTreeMap::from([("remediation.yaml", REMEDIATION)]);
    write_files(config_repo.as_ref(), "dev", &files).await;
    set_shipyard(
        &control_plane,
        &shipyard(&[("get-action", ""), ("action", "")]).replace("name: run", "name: remediation"),
    )
    .await;
    let mut events = control_plane.subscribe();
    let mut trigger = sequence_trigger("dev", "remediation");
    trigger.data.fields.insert(
        "problem".to_owned(),
        json!({"problemTitle": "Response time degradation", "State": "OPEN"}),
    );
    control_plane.accept(trigger).await.expect("accepted");
    let finished = wait_for(&mut events, |event| {
        event.event_type.to_string() == "sh.keptn.event.dev.remediation.finished"
    })
    .await;
    assert_eq!(finished.data.result, Some(TaskResult::Pass));
    assert_eq!(fake.calls(), ["action scaling"]);
    assert_eq!(
        *fake.action_problems.lock().expect("not poisoned"),
        [Some("Response time degradation".to_owned())]
    );
}
