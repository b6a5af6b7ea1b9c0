//! The control plane's loop: delivery through three stages, duplicates, crash recovery,
//! failed commits, timers, shutdown and metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keptn_core::event::{TaskResult, Timestamp};
use keptn_core::memory::MemoryStore;
use keptn_core::orchestrator::Config as OrchestratorConfig;
use keptn_core::ports::{EventFilter, Store};
use keptn_service::integrations::{Approval, Noop};
use keptn_service::{ControlPlane, Error, ManualClock, Received};

use crate::support::{
    FailingStore, SHIPYARD, builder, delivery_finished, history, registration, sequence_trigger,
    set_shipyard, wait_for,
};

fn noop() -> Arc<Noop> {
    Arc::new(Noop::new(registration(
        "noop",
        &[
            "sh.keptn.event.deployment.triggered",
            "sh.keptn.event.test.triggered",
            "sh.keptn.event.evaluation.triggered",
            "sh.keptn.event.release.triggered",
        ],
    )))
}

fn approval() -> Arc<Approval> {
    Arc::new(Approval::new(registration(
        "approval-service",
        &["sh.keptn.event.approval.triggered"],
    )))
}

#[tokio::test]
async fn a_delivery_runs_through_three_stages_with_every_task_triggered_once() {
    let (builder, store, _) = builder();
    let control_plane = builder
        .integration(noop())
        .integration(approval())
        .start()
        .await
        .expect("starts");
    set_shipyard(&control_plane, SHIPYARD).await;
    let mut events = control_plane.subscribe();
    let received = control_plane
        .accept(sequence_trigger("dev", "delivery"))
        .await
        .expect("accepted");
    assert_eq!(received, Received::Accepted);
    let finished = wait_for(&mut events, delivery_finished("production")).await;
    assert_eq!(finished.data.result, Some(TaskResult::Pass));

    let types = history(store.as_ref()).await;
    let triggered: Vec<&str> = types
        .iter()
        .filter(|event_type| event_type.ends_with(".triggered"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        triggered,
        [
            "sh.keptn.event.dev.delivery.triggered",
            "sh.keptn.event.deployment.triggered",
            "sh.keptn.event.test.triggered",
            "sh.keptn.event.staging.delivery.triggered",
            "sh.keptn.event.deployment.triggered",
            "sh.keptn.event.test.triggered",
            "sh.keptn.event.evaluation.triggered",
            "sh.keptn.event.release.triggered",
            "sh.keptn.event.production.delivery.triggered",
            "sh.keptn.event.approval.triggered",
            "sh.keptn.event.deployment.triggered",
            "sh.keptn.event.release.triggered",
        ]
    );
    // Every task was answered by exactly one .started and one .finished.
    let count = |suffix: &str| types.iter().filter(|t| t.ends_with(suffix)).count();
    assert_eq!(count(".started"), 9);
    assert_eq!(count(".finished"), 9 + 3, "9 tasks and 3 sequences");
    let metrics = control_plane.metrics();
    assert_eq!(metrics.sequences_finished, [("pass".to_owned(), 3)]);
    assert_eq!(metrics.executions, 0);
    let deployments = metrics
        .task_duration_seconds
        .iter()
        .find(|(task, _)| task == "deployment")
        .expect("deployments were timed");
    assert_eq!(deployments.1.count, 3);
    control_plane.shutdown().await.expect("stops cleanly");
}

#[tokio::test]
async fn an_event_id_seen_before_is_a_duplicate_and_changes_nothing() {
    let (builder, store, _) = builder();
    let control_plane = builder.start().await.expect("starts");
    set_shipyard(&control_plane, SHIPYARD).await;
    let mut trigger = sequence_trigger("dev", "delivery");
    trigger.id = "the-one".to_owned();
    let first = control_plane
        .accept(trigger.clone())
        .await
        .expect("accepted");
    let state = control_plane.state().await;
    let n_events = history(store.as_ref()).await.len();
    let again = control_plane
        .accept(trigger.clone())
        .await
        .expect("answered");
    let both = control_plane
        .accept_all(vec![trigger.clone(), trigger])
        .await
        .expect("answered");
    assert_eq!((first, again), (Received::Accepted, Received::Duplicate));
    assert!(
        both.iter()
            .all(|received| matches!(received, Ok(Received::Duplicate)))
    );
    assert_eq!(control_plane.state().await, state);
    assert_eq!(history(store.as_ref()).await.len(), n_events);
}

#[tokio::test]
async fn missing_ids_times_and_contexts_are_filled_in_as_keptns_api_does() {
    let (builder, store, _) = builder();
    let control_plane = builder.start().await.expect("starts");
    set_shipyard(&control_plane, SHIPYARD).await;
    let mut trigger = sequence_trigger("dev", "delivery");
    trigger.source = String::new();
    trigger.time = None;
    control_plane.accept(trigger).await.expect("accepted");
    let stored = store
        .events(&EventFilter::default())
        .await
        .expect("history")
        .remove(0);
    assert_eq!(uuid_version(&stored.id), 7);
    assert_eq!(
        uuid_version(stored.keptn_context.as_deref().expect("a context")),
        7
    );
    assert!(stored.time.is_some());
    assert_eq!(stored.source, "https://github.com/keptn/keptn/cli");
}

fn uuid_version(text: &str) -> usize {
    // xxxxxxxx-xxxx-Vxxx-...: the version is the first digit of the third group.
    let third = text.split('-').nth(2).expect("a UUID has five groups");
    usize::from_str_radix(&third[..1], 16).expect("a hex digit")
}

#[tokio::test]
async fn after_a_crash_open_tasks_are_delivered_again_and_finish_once() {
    let store = Arc::new(MemoryStore::new());
    let config_repo = Arc::new(keptn_core::memory::MemoryConfigRepo::new());
    // First life: nobody answers tests, so the sequence waits at test.
    let first = ControlPlane::builder()
        .store(Arc::clone(&store) as _)
        .config_repo(Arc::clone(&config_repo) as _)
        .integration(Arc::new(Noop::new(registration(
            "deployer",
            &["sh.keptn.event.deployment.triggered"],
        ))))
        .start()
        .await
        .expect("starts");
    set_shipyard(&first, SHIPYARD).await;
    let mut events = first.subscribe();
    first
        .accept(sequence_trigger("dev", "delivery"))
        .await
        .expect("accepted");
    wait_for(&mut events, |event| {
        event.event_type.to_string() == "sh.keptn.event.test.triggered"
    })
    .await;
    first.shutdown().await.expect("stops");
    // Second life on the same store, now with a tester: the open test trigger is delivered
    // again, answered, and the sequence goes on.
    let second = ControlPlane::builder()
        .store(Arc::clone(&store) as _)
        .config_repo(config_repo as _)
        .integration(noop())
        .integration(approval())
        .start()
        .await
        .expect("restarts");
    let mut events = second.subscribe();
    let finished = wait_for(&mut events, delivery_finished("production")).await;
    assert_eq!(finished.data.result, Some(TaskResult::Pass));
    let types = history(store.as_ref()).await;
    let dev_tests = types
        .iter()
        .filter(|event_type| *event_type == "sh.keptn.event.test.triggered")
        .count();
    assert_eq!(dev_tests, 2, "one test per stage with tests, none twice");
    assert!(store.unpublished().await.expect("outbox").is_empty());
    second.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_failed_commit_stops_the_control_plane_and_says_why() {
    let store = Arc::new(FailingStore {
        inner: MemoryStore::new(),
        fail_from: 1,
        commits: Mutex::new(0),
    });
    let control_plane = ControlPlane::builder()
        .store(Arc::clone(&store) as _)
        .config_repo(Arc::new(keptn_core::memory::MemoryConfigRepo::new()))
        .start()
        .await
        .expect("starts");
    set_shipyard(&control_plane, SHIPYARD).await;
    let err = control_plane
        .accept(sequence_trigger("dev", "delivery"))
        .await
        .expect_err("the commit fails");
    assert!(matches!(err, Error::Store { .. }), "{err:?}");
    let stopped = control_plane
        .stopped()
        .await
        .expect_err("stopped on the failure");
    assert_eq!(
        stopped.to_string(),
        "cannot commit an orchestrator transition"
    );
    assert_eq!(
        std::error::Error::source(&stopped).map(ToString::to_string),
        Some("the disk is full".to_owned())
    );
    let after = control_plane
        .accept(sequence_trigger("dev", "delivery"))
        .await
        .expect_err("nothing is taken in any more");
    assert!(matches!(after, Error::Stopped), "{after:?}");
    assert!(
        history(&store.inner).await.is_empty(),
        "nothing of the failed commit is kept"
    );
}

#[tokio::test]
async fn a_task_nobody_answers_times_out_on_the_control_planes_clock() {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let (builder, _, _) = builder();
    let control_plane = builder
        .clock(Arc::clone(&clock) as _)
        .orchestrator(OrchestratorConfig {
            task_started_timeout: Duration::from_secs(60),
            ..OrchestratorConfig::default()
        })
        .start()
        .await
        .expect("starts");
    set_shipyard(&control_plane, SHIPYARD).await;
    let mut events = control_plane.subscribe();
    control_plane
        .accept(sequence_trigger("dev", "delivery"))
        .await
        .expect("accepted");
    clock.advance(Duration::from_secs(61));
    control_plane.tick().await.expect("ticks");
    let finished = wait_for(&mut events, delivery_finished("dev")).await;
    assert_eq!(finished.data.result, Some(TaskResult::Fail));
    let message = finished.data.message.clone().unwrap_or_default();
    assert!(message.contains("deployment"), "{message}");
    assert_eq!(
        finished.time.as_deref(),
        Some("2023-11-14T22:14:21.000Z"),
        "stamped by the control plane's clock"
    );
}

#[tokio::test]
async fn two_integrations_with_one_name_are_refused() {
    let (builder, _, _) = builder();
    let refused = builder
        .integration(noop())
        .integration(noop())
        .start()
        .await
        .expect_err("refused");
    assert_eq!(refused.to_string(), "two integrations are named 'noop'");
    let missing = ControlPlane::builder().start().await.expect_err("refused");
    assert_eq!(missing.to_string(), "a control plane needs a store");
}

#[tokio::test]
async fn shutdown_stops_the_loop_and_later_calls_say_so() {
    let (builder, _, _) = builder();
    let control_plane = builder.integration(noop()).start().await.expect("starts");
    control_plane.shutdown().await.expect("stops cleanly");
    control_plane
        .shutdown()
        .await
        .expect("a second shutdown does nothing");
    control_plane
        .stopped()
        .await
        .expect("stopped without error");
    let err = control_plane
        .accept(sequence_trigger("dev", "delivery"))
        .await
        .expect_err("stopped");
    assert!(matches!(err, Error::Stopped), "{err:?}");
}
