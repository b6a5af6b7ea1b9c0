//! Contract checks of the storage ports, shared by every implementation: [`check_store`] runs
//! the [`Store`] checks on fresh stores, [`check_config_repo`] the [`ConfigRepo`] checks on a
//! fresh repository set. The SQLite, PostgreSQL and git adapters run them in their tests, and
//! so do `keptn_core::memory`'s in-memory implementations (in this module's tests); another
//! crate gets them with the cargo feature `testing`.
//!
//! The checks assert what the traits document in `keptn_core::ports`, on real orchestrator
//! states, and tell errors apart by [`AdapterErrorKind`] only, never by message text (each
//! adapter words its own messages; its own tests check them, with [`contract_errors`]).
//! A failed check panics; the line `store check: <name>` on stderr before it names the check.
//!
//! What they do not check: what is specific to one store (pragmas, migrations, locks, the
//! rows a commit writes). [`check_legacy_inbox`] and [`check_reopen`] need abilities a store
//! may not have (rows of an earlier version, durability), so they are separate.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;

use keptn_core::answer;
use keptn_core::event::{EventData, EventType, KeptnEvent, TaskResult, Timestamp};
use keptn_core::orchestrator::{self, Input, Orchestrator, Output, State};
use keptn_core::ports::{
    AdapterError, AdapterErrorKind, ConfigRepo, EvaluationRecord, EventFilter, ProjectRecord, Store,
};
use serde_json::json;

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------- fixtures

/// The shipyard of the fixtures: project `sockshop`, stage `dev`, sequence `delivery` with the
/// tasks `deployment` and `test`.
pub const SHIPYARD: &str = "apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata:
  name: sockshop
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: test
";

/// The scope of most fixture events: `sockshop`, `dev`, `carts`.
pub const CARTS: (&str, &str, &str) = ("sockshop", "dev", "carts");

/// An event of `event_type` in Keptn context `context` for `scope` (project, stage, service),
/// with a time and a `configurationChange`, so that it round-trips more than the basics.
pub fn event(id: &str, event_type: &str, context: &str, scope: (&str, &str, &str)) -> KeptnEvent {
    let event_type = EventType::parse(event_type).expect("the fixture event type is valid");
    let mut event = KeptnEvent::new(
        id,
        "test",
        event_type,
        EventData::scoped(scope.0, scope.1, scope.2),
    );
    event.keptn_context = Some(context.to_owned());
    event.time = Some("2026-11-22T12:00:00.000Z".to_owned());
    event.data.fields.insert(
        "configurationChange".into(),
        json!({"values": {"image": "carts:0.9.2"}}),
    );
    event
}

/// A `sh.keptn.event.dev.delivery.triggered` for [`CARTS`].
pub fn delivery(id: &str, context: &str) -> KeptnEvent {
    event(id, "sh.keptn.event.dev.delivery.triggered", context, CARTS)
}

/// `n` deliveries with the ids `<prefix>0`, `<prefix>1`, ..., each in a context of its own.
pub fn numbered(prefix: &str, n: usize) -> Vec<KeptnEvent> {
    (0..n)
        .map(|idx| delivery(&format!("{prefix}{idx}"), &format!("c-{prefix}{idx}")))
        .collect()
}

/// The ids of `events`, in order.
pub fn ids(events: &[KeptnEvent]) -> Vec<&str> {
    events.iter().map(|event| event.id.as_str()).collect()
}

/// The error of a call that must fail, after asserting its kind.
pub fn assert_kind<T: std::fmt::Debug>(
    result: Result<T, AdapterError>,
    kind: AdapterErrorKind,
) -> AdapterError {
    let error = result.expect_err("the call fails");
    assert_eq!(error.kind, kind, "{error}");
    error
}

fn orchestrator_with_shipyard() -> Orchestrator {
    let shipyard = keptn_core::shipyard::parse(SHIPYARD)
        .expect("the fixture shipyard parses")
        .shipyard;
    let mut orchestrator = Orchestrator::new(orchestrator::Config::default());
    orchestrator.handle(
        Timestamp(0),
        Input::SetShipyard {
            project: "sockshop".into(),
            shipyard,
        },
    );
    orchestrator
}

fn emitted_events(outputs: Vec<Output>) -> Vec<KeptnEvent> {
    outputs
        .into_iter()
        .filter_map(|output| match output {
            Output::Emit(event) => Some(event),
            Output::Command(_) => None,
        })
        .collect()
}

/// The state after the orchestrator took in `delivery("t1", "c1")` (a project and one running
/// sequence), and the events it emitted.
pub fn running_state() -> (State, Vec<KeptnEvent>) {
    let mut orchestrator = orchestrator_with_shipyard();
    let outputs = orchestrator.handle(Timestamp(1_000), Input::Event(delivery("t1", "c1")));
    (orchestrator.state, emitted_events(outputs))
}

/// One orchestrator step: the event it took in, the state after it, what it emitted.
#[derive(Debug, Clone)]
pub struct Step {
    /// The incoming event.
    pub incoming: KeptnEvent,
    /// The state after the step.
    pub state: State,
    /// The events the step emitted.
    pub emitted: Vec<KeptnEvent>,
}

/// A whole sequence, step by step: `delivery("t1", "c1")`, then a `.started` and a passing
/// `.finished` for each task the orchestrator triggers, until the sequence finished (the
/// last state holds no execution).
pub fn sequence_steps() -> Vec<Step> {
    let mut orchestrator = orchestrator_with_shipyard();
    let mut steps = Vec::new();
    let mut pending = VecDeque::from([delivery("t1", "c1")]);
    let mut now = Timestamp(1_000);
    while let Some(incoming) = pending.pop_front() {
        now = Timestamp(now.0 + 1_000);
        let emitted = emitted_events(orchestrator.handle(now, Input::Event(incoming.clone())));
        for event in &emitted {
            if answer::triggered_task(event).is_some() {
                pending.extend(answer::started(event, "suite", now));
                pending.extend(answer::finished(
                    event,
                    "suite",
                    TaskResult::Pass,
                    None,
                    now,
                ));
            }
        }
        steps.push(Step {
            incoming,
            state: orchestrator.state.clone(),
            emitted,
        });
    }
    assert!(
        steps.len() >= 5 && steps[0].state.executions.len() == 1,
        "the fixture sequence runs its two tasks"
    );
    assert!(
        steps[steps.len() - 1].state.executions.is_empty(),
        "the fixture sequence ends"
    );
    steps
}

/// A project of [`SHIPYARD`] with a git remote and `services`.
pub fn project(name: &str, services: &[&str]) -> ProjectRecord {
    ProjectRecord {
        name: name.into(),
        shipyard: SHIPYARD.into(),
        git_remote_url: Some(format!("https://git.example/{name}.git")),
        services: services.iter().map(|&service| service.to_owned()).collect(),
    }
}

/// A passing evaluation of [`CARTS`] finished at `time`.
pub fn evaluation(event_id: &str, time: u64) -> EvaluationRecord {
    EvaluationRecord {
        event_id: event_id.into(),
        project: "sockshop".into(),
        stage: "dev".into(),
        service: "carts".into(),
        time: Timestamp(time),
        data: json!({"result": "pass", "evaluation": {"score": 100.0, "result": "pass"}}),
        invalidated: false,
    }
}

fn event_ids(evaluations: &[EvaluationRecord]) -> Vec<&str> {
    evaluations
        .iter()
        .map(|record| record.event_id.as_str())
        .collect()
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|&id| id.to_owned()).collect()
}

// ------------------------------------------------------------------------ store checks

/// Runs every [`Store`] check, each on a fresh store from `make`. Run it on a multi-threaded
/// tokio runtime: [`check_concurrent_commits`] spawns tasks.
pub async fn check_store<S, F, Fut>(mut make: F)
where
    S: Store + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    announce("state round trip");
    check_state_round_trip(&make().await).await;
    announce("group commit");
    check_group_commit(&make().await).await;
    announce("duplicate ids");
    check_duplicate_ids(&make().await).await;
    announce("empty ids");
    check_empty_ids(&make().await).await;
    announce("processed");
    check_processed(&make().await).await;
    announce("error kinds");
    check_error_kinds(&make().await).await;
    announce("known ids");
    check_known_ids(&make().await).await;
    announce("outbox");
    check_outbox(&make().await).await;
    announce("events filter and order");
    check_events_filter(&make().await).await;
    announce("projects");
    check_projects(&make().await).await;
    announce("project errors");
    check_project_errors(&make().await).await;
    announce("deleting a project");
    check_delete_project(&make().await).await;
    announce("evaluations");
    check_evaluations(&make().await).await;
    announce("recording an evaluation again");
    check_record_evaluation_again(&make().await).await;
    announce("concurrent commits");
    check_concurrent_commits(Arc::new(make().await)).await;
}

fn announce(check: &str) {
    eprintln!("store check: {check}");
}

/// What a failed commit must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    state: Option<State>,
    history: Vec<KeptnEvent>,
    unpublished: Vec<KeptnEvent>,
    unprocessed: Vec<KeptnEvent>,
}

async fn snapshot<S: Store + ?Sized>(store: &S) -> Snapshot {
    Snapshot {
        state: store.load_state().await.expect("loads the state"),
        history: store
            .events(&EventFilter::default())
            .await
            .expect("lists the history"),
        unpublished: store.unpublished().await.expect("lists the outbox"),
        unprocessed: store.unprocessed().await.expect("lists the inbox"),
    }
}

/// Asserts that `result` failed with `kind` and left the store as `before`, with none of
/// `new_events` in the history.
async fn assert_failed_without_trace<S: Store + ?Sized>(
    store: &S,
    result: Result<(), AdapterError>,
    kind: AdapterErrorKind,
    before: &Snapshot,
    new_events: &[&KeptnEvent],
    case: &str,
) {
    let error = result.expect_err(case);
    assert_eq!(error.kind, kind, "{case}: {error}");
    assert_eq!(&snapshot(store).await, before, "{case}: nothing is kept");
    let new_ids: Vec<String> = new_events.iter().map(|event| event.id.clone()).collect();
    let known = store.known_ids(&new_ids).await.expect("looks up");
    let recorded: Vec<&String> = new_ids
        .iter()
        .zip(known)
        .filter(|(_, known)| *known)
        .map(|(id, _)| id)
        .collect();
    // Ids the history held before are known, of course.
    let held_before: HashSet<&str> = ids(&before.history).into_iter().collect();
    let recorded: Vec<&String> = recorded
        .into_iter()
        .filter(|id| !held_before.contains(id.as_str()))
        .collect();
    assert!(recorded.is_empty(), "{case}: recorded {recorded:?}");
}

/// `load_state` is `None` until the first commit, then the state of the last commit, through
/// a whole sequence committed step by step (each incoming event accepted and processed in
/// the commit of its step). The history holds every step's events in order, the outbox every
/// emitted one, the inbox none.
pub async fn check_state_round_trip<S: Store + ?Sized>(store: &S) {
    assert_eq!(store.load_state().await.expect("loads"), None);
    let steps = sequence_steps();
    let mut history = Vec::new();
    let mut emitted = Vec::new();
    for step in &steps {
        store
            .commit(
                &step.state,
                std::slice::from_ref(&step.incoming),
                &[],
                &step.emitted,
            )
            .await
            .expect("commits a step");
        assert_eq!(
            store.load_state().await.expect("loads"),
            Some(step.state.clone()),
            "the state after {}",
            step.incoming.id
        );
        history.push(step.incoming.clone());
        history.extend(step.emitted.iter().cloned());
        emitted.extend(step.emitted.iter().cloned());
    }
    assert_eq!(
        store.events(&EventFilter::default()).await.expect("lists"),
        history
    );
    assert_eq!(store.unpublished().await.expect("lists"), emitted);
    assert!(store.unprocessed().await.expect("lists").is_empty());
    // A commit without events saves the state alone.
    store
        .commit(&State::default(), &[], &[], &[])
        .await
        .expect("commits");
    assert_eq!(
        store.load_state().await.expect("loads"),
        Some(State::default())
    );
    let (running, _) = running_state();
    store
        .commit(&running, &[], &[], &[])
        .await
        .expect("commits");
    assert_eq!(store.load_state().await.expect("loads"), Some(running));
}

/// Several steps committed together (group commit): the state after the last one, the
/// accepted events in the history in order and then the emitted ones in order; the emitted
/// ones in the outbox. A large batch keeps its order too.
pub async fn check_group_commit<S: Store + ?Sized>(store: &S) {
    let steps = sequence_steps();
    let (first, rest) = steps.split_at(3);
    let accepted: Vec<KeptnEvent> = first.iter().map(|step| step.incoming.clone()).collect();
    let emitted: Vec<KeptnEvent> = first
        .iter()
        .flat_map(|step| step.emitted.iter().cloned())
        .collect();
    let last = &first[first.len() - 1];
    store
        .commit(&last.state, &accepted, &[], &emitted)
        .await
        .expect("commits three steps");
    assert_eq!(
        store.load_state().await.expect("loads"),
        Some(last.state.clone())
    );
    let mut history: Vec<KeptnEvent> = accepted.iter().chain(&emitted).cloned().collect();
    assert_eq!(
        store.events(&EventFilter::default()).await.expect("lists"),
        history
    );
    assert_eq!(store.unpublished().await.expect("lists"), emitted);
    assert!(store.unprocessed().await.expect("lists").is_empty());

    // The rest of the sequence and 100 more incoming events at once.
    let mut accepted: Vec<KeptnEvent> = rest.iter().map(|step| step.incoming.clone()).collect();
    accepted.extend(numbered("new-", 100));
    let more_emitted: Vec<KeptnEvent> = rest
        .iter()
        .flat_map(|step| step.emitted.iter().cloned())
        .collect();
    let last = &rest[rest.len() - 1];
    store
        .commit(&last.state, &accepted, &[], &more_emitted)
        .await
        .expect("commits a large batch");
    history.extend(accepted.iter().chain(&more_emitted).cloned());
    assert_eq!(
        ids(&store.events(&EventFilter::default()).await.expect("lists")),
        ids(&history)
    );
    let mut all_emitted = emitted;
    all_emitted.extend(more_emitted);
    assert_eq!(store.unpublished().await.expect("lists"), all_emitted);
    assert_eq!(
        store.load_state().await.expect("loads"),
        Some(last.state.clone())
    );
    let accepted_ids: Vec<String> = accepted.iter().map(|event| event.id.clone()).collect();
    assert!(
        store
            .known_ids(&accepted_ids)
            .await
            .expect("looks up")
            .into_iter()
            .all(|known| known)
    );
}

/// An id twice in `accepted` or in `emitted`, in both, or an id the history holds (accepted
/// or emitted), fails the whole commit with `Conflict`: the state stays, no event of it is
/// recorded. Also deep in a large batch.
pub async fn check_duplicate_ids<S: Store + ?Sized>(store: &S) {
    let before_state = State {
        next_event_number: 7,
        ..State::default()
    };
    let accepted_before = delivery("t1", "c1");
    let emitted_before = event("x1", "sh.keptn.event.deployment.triggered", "c1", CARTS);
    store
        .commit(
            &before_state,
            std::slice::from_ref(&accepted_before),
            &[],
            std::slice::from_ref(&emitted_before),
        )
        .await
        .expect("commits");
    let before = snapshot(store).await;
    let (after, emitted) = running_state();
    let fresh = delivery("n1", "c2");

    let mut changed_body = accepted_before.clone();
    changed_body.data.message = Some("a different body".into());
    let mut clashing = emitted.clone();
    clashing.push(delivery("t1", "c9"));
    let mut deep = numbered("other-", 100);
    deep[90].id = deep[3].id.clone();
    let again = numbered("again-", 80);
    let mut repeating = emitted.clone();
    repeating.push(again[71].clone());

    let cases: Vec<(&str, Vec<KeptnEvent>, Vec<KeptnEvent>)> = vec![
        (
            "an accepted id the history holds (same id, other body)",
            vec![fresh.clone(), changed_body],
            emitted.clone(),
        ),
        (
            "an accepted id the history holds as emitted",
            vec![emitted_before.clone()],
            vec![],
        ),
        (
            "an emitted id the history holds, after new ones",
            vec![fresh.clone()],
            clashing,
        ),
        (
            "an emitted id the history holds as emitted",
            vec![],
            vec![emitted_before.clone()],
        ),
        (
            "one id twice in accepted",
            vec![delivery("n2", "c1"), delivery("n2", "c1")],
            vec![],
        ),
        (
            "one id twice in emitted",
            vec![fresh.clone()],
            vec![delivery("x9", "c1"), delivery("x9", "c1")],
        ),
        (
            "an emitted id accepted in the same commit",
            again.clone(),
            repeating,
        ),
        ("a duplicate deep in a large batch", deep, emitted.clone()),
    ];
    for (case, accepted, emitted) in cases {
        let result = store.commit(&after, &accepted, &[], &emitted).await;
        let new_events: Vec<&KeptnEvent> = accepted.iter().chain(&emitted).collect();
        assert_failed_without_trace(
            store,
            result,
            AdapterErrorKind::Conflict,
            &before,
            &new_events,
            case,
        )
        .await;
    }
    // The refused events were not recorded, so they commit now.
    store
        .commit(&after, std::slice::from_ref(&fresh), &[], &emitted)
        .await
        .expect("commits what was refused before");
    assert_eq!(store.load_state().await.expect("loads"), Some(after));
}

/// An event without an id, accepted or emitted, fails the commit with `Invalid` and leaves
/// nothing.
pub async fn check_empty_ids<S: Store + ?Sized>(store: &S) {
    let before = snapshot(store).await;
    let (after, emitted) = running_state();
    let cases = [
        (
            "an accepted event without id",
            vec![delivery("n1", "c1"), delivery("", "c1")],
            emitted.clone(),
        ),
        (
            "an emitted event without id",
            vec![delivery("n1", "c1")],
            vec![delivery("x1", "c1"), delivery("", "c1")],
        ),
    ];
    for (case, accepted, emitted) in cases {
        let result = store.commit(&after, &accepted, &[], &emitted).await;
        let new_events: Vec<&KeptnEvent> = accepted.iter().chain(&emitted).collect();
        assert_failed_without_trace(
            store,
            result,
            AdapterErrorKind::Invalid,
            &before,
            &new_events,
            case,
        )
        .await;
    }
    assert_eq!(before.state, None);
}

/// `processed` must name accepted events: an id never accepted, or the id of an emitted
/// event, fails the whole commit with `Invalid` (also late in a long list). Naming events
/// that were accepted (and so processed) before, or in the same commit, or one id twice, is
/// harmless.
pub async fn check_processed<S: Store + ?Sized>(store: &S) {
    let earlier = numbered("early-", 70);
    let earlier_ids: Vec<String> = earlier.iter().map(|event| event.id.clone()).collect();
    let emitted_before = event("x1", "sh.keptn.event.deployment.triggered", "c1", CARTS);
    let before_state = State {
        next_event_number: 7,
        ..State::default()
    };
    store
        .commit(
            &before_state,
            &earlier,
            &[],
            std::slice::from_ref(&emitted_before),
        )
        .await
        .expect("commits");
    let before = snapshot(store).await;
    let (after, emitted) = running_state();
    let incoming = numbered("new-", 3);

    let mut late_unknown = earlier_ids.clone();
    late_unknown.insert(65, "never-accepted".to_owned());
    let cases = [
        ("an id never accepted", strings(&["never-accepted"])),
        ("the id of an emitted event", strings(&["x1"])),
        ("an id never accepted, late in a long list", late_unknown),
    ];
    for (case, processed) in cases {
        let result = store.commit(&after, &incoming, &processed, &emitted).await;
        let new_events: Vec<&KeptnEvent> = incoming.iter().chain(&emitted).collect();
        assert_failed_without_trace(
            store,
            result,
            AdapterErrorKind::Invalid,
            &before,
            &new_events,
            case,
        )
        .await;
    }

    // Accepted before (processed then), twice, and accepted in this very commit.
    let mut processed = earlier_ids.clone();
    processed.push(earlier_ids[0].clone());
    processed.push(incoming[1].id.clone());
    store
        .commit(&after, &incoming, &processed, &emitted)
        .await
        .expect("marking accepted events processed again is harmless");
    assert_eq!(store.load_state().await.expect("loads"), Some(after));
    assert!(store.unprocessed().await.expect("lists").is_empty());
    let mut history = earlier.clone();
    history.push(emitted_before.clone());
    history.extend(incoming.iter().chain(&emitted).cloned());
    assert_eq!(
        store.events(&EventFilter::default()).await.expect("lists"),
        history
    );
}

/// Provokes, on a fresh store, each failure the [`Store`] contract names, in this order, and
/// returns the errors: an accepted and an emitted event without id; a processed id never
/// accepted; an accepted id the history holds (`t1`); an emitted id the history holds after
/// new ones (`t1`); one id twice in emitted (`x1`); a duplicate deep in a batch of 100
/// (`other-3`); an emitted id accepted in the same commit (`again-71`); an existing project
/// (`sockshop`); a service of a missing project and deleting a missing project (`nope`); an
/// evaluation time beyond `i64::MAX` (`u64::MAX`). [`check_error_kinds`] checks their kinds;
/// an adapter's own tests check their messages.
pub async fn contract_errors<S: Store + ?Sized>(store: &S) -> Vec<AdapterError> {
    let mut errors = Vec::new();
    let mut push = |result: Result<(), AdapterError>| {
        errors.push(result.expect_err("the call fails"));
    };
    let (state, emitted) = running_state();
    push(store.commit(&state, &[delivery("", "c1")], &[], &[]).await);
    push(store.commit(&state, &[], &[], &[delivery("", "c1")]).await);
    store
        .commit(&State::default(), &[delivery("t1", "c1")], &[], &[])
        .await
        .expect("commits");
    push(
        store
            .commit(&state, &[], &strings(&["never-accepted"]), &emitted)
            .await,
    );
    push(
        store
            .commit(&state, &[delivery("t1", "c2")], &[], &[])
            .await,
    );
    let mut clashing = emitted.clone();
    clashing.push(delivery("t1", "c9"));
    push(store.commit(&state, &[], &[], &clashing).await);
    push(
        store
            .commit(
                &state,
                &[],
                &[],
                &[delivery("x1", "c1"), delivery("x1", "c1")],
            )
            .await,
    );
    let mut deep = numbered("other-", 100);
    deep[90].id = deep[3].id.clone();
    push(store.commit(&state, &deep, &[], &emitted).await);
    let again = numbered("again-", 80);
    let mut repeating = emitted.clone();
    repeating.push(again[71].clone());
    push(store.commit(&state, &again, &[], &repeating).await);
    store
        .create_project(&project("sockshop", &["carts"]))
        .await
        .expect("creates");
    push(
        store
            .create_project(&project("sockshop", &["orders"]))
            .await,
    );
    push(store.create_service("nope", "carts").await);
    push(store.delete_project("nope").await);
    push(store.record_evaluation(&evaluation("v9", u64::MAX)).await);
    errors
}

/// The kinds of the [`contract_errors`].
pub async fn check_error_kinds<S: Store + ?Sized>(store: &S) {
    use AdapterErrorKind::{Conflict, Invalid, NotFound};
    let kinds: Vec<AdapterErrorKind> = contract_errors(store)
        .await
        .iter()
        .map(|error| error.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            Invalid, Invalid, Invalid, Conflict, Conflict, Conflict, Conflict, Conflict, Conflict,
            NotFound, NotFound, Invalid
        ]
    );
}

/// `known_ids` answers each id, in order: accepted and emitted ones are known.
pub async fn check_known_ids<S: Store + ?Sized>(store: &S) {
    assert!(store.known_ids(&[]).await.expect("looks up").is_empty());
    assert_eq!(
        store
            .known_ids(&strings(&["t1", "nope"]))
            .await
            .expect("looks up"),
        [false, false]
    );
    let (state, emitted) = running_state();
    store
        .commit(&state, &[delivery("t1", "c1")], &[], &emitted)
        .await
        .expect("commits");
    let emitted_id = emitted[0].id.as_str();
    assert_eq!(
        store
            .known_ids(&strings(&["t1", emitted_id, "nope", "t1"]))
            .await
            .expect("looks up"),
        [true, true, false, true]
    );
}

/// The outbox lists emitted events not marked published, oldest first; marking unknown ids,
/// accepted ids, an empty list or ids marked before is harmless; published events stay in the
/// history.
pub async fn check_outbox<S: Store + ?Sized>(store: &S) {
    let emitted = [
        event("x1", "sh.keptn.event.deployment.triggered", "c1", CARTS),
        event("x2", "sh.keptn.event.test.triggered", "c1", CARTS),
        event("x3", "sh.keptn.event.evaluation.triggered", "c1", CARTS),
    ];
    assert!(store.unpublished().await.expect("lists").is_empty());
    store
        .commit(&State::default(), &[delivery("t1", "c1")], &[], &emitted)
        .await
        .expect("commits");
    let later = event("x4", "sh.keptn.event.release.triggered", "c1", CARTS);
    store
        .commit(&State::default(), &[], &[], std::slice::from_ref(&later))
        .await
        .expect("commits");
    assert_eq!(
        ids(&store.unpublished().await.expect("lists")),
        ["x1", "x2", "x3", "x4"]
    );
    store
        .mark_published(&strings(&["x2", "unknown", "t1"]))
        .await
        .expect("marks");
    assert_eq!(
        ids(&store.unpublished().await.expect("lists")),
        ["x1", "x3", "x4"]
    );
    store
        .mark_published(&[])
        .await
        .expect("an empty list is fine");
    store
        .mark_published(&strings(&["x1", "x3", "x2", "x4"]))
        .await
        .expect("marks");
    assert!(store.unpublished().await.expect("lists").is_empty());
    assert!(store.unprocessed().await.expect("lists").is_empty());
    assert_eq!(
        ids(&store.events(&EventFilter::default()).await.expect("lists")),
        ["t1", "x1", "x2", "x3", "x4"]
    );
}

async fn check_events<S: Store + ?Sized>(store: &S, filter: EventFilter, expected: &[&str]) {
    let events = store.events(&filter).await.expect("lists");
    assert_eq!(ids(&events), expected, "{filter:?}");
}

/// `events` filters by Keptn context, type, project, stage and service (all given filters
/// apply); oldest first without limit, newest first with one (a limit beyond the history,
/// even `usize::MAX`, lists all of it).
pub async fn check_events_filter<S: Store + ?Sized>(store: &S) {
    let accepted = [
        delivery("a1", "c1"),
        event("a2", "sh.keptn.event.deployment.finished", "c1", CARTS),
    ];
    let emitted = [event("x1", "sh.keptn.event.test.triggered", "c1", CARTS)];
    store
        .commit(&State::default(), &accepted, &[], &emitted)
        .await
        .expect("commits");
    let later = [
        event(
            "a3",
            "sh.keptn.event.prod.delivery.triggered",
            "c2",
            ("sockshop", "prod", "carts"),
        ),
        event(
            "a4",
            "sh.keptn.event.dev.delivery.triggered",
            "c3",
            ("sockshop", "dev", "orders"),
        ),
        event(
            "a5",
            "sh.keptn.event.dev.delivery.triggered",
            "c4",
            ("podtato", "dev", "carts"),
        ),
    ];
    store
        .commit(&State::default(), &later, &[], &[])
        .await
        .expect("commits");
    let by = |set: fn(&mut EventFilter)| {
        let mut filter = EventFilter::default();
        set(&mut filter);
        filter
    };
    check_events(
        store,
        EventFilter::default(),
        &["a1", "a2", "x1", "a3", "a4", "a5"],
    )
    .await;
    check_events(
        store,
        by(|f| f.keptn_context = Some("c1".into())),
        &["a1", "a2", "x1"],
    )
    .await;
    check_events(
        store,
        by(|f| f.event_type = Some("sh.keptn.event.dev.delivery.triggered".into())),
        &["a1", "a4", "a5"],
    )
    .await;
    check_events(
        store,
        by(|f| f.project = Some("sockshop".into())),
        &["a1", "a2", "x1", "a3", "a4"],
    )
    .await;
    check_events(store, by(|f| f.stage = Some("prod".into())), &["a3"]).await;
    check_events(store, by(|f| f.service = Some("orders".into())), &["a4"]).await;
    check_events(
        store,
        by(|f| {
            f.project = Some("sockshop".into());
            f.stage = Some("dev".into());
            f.service = Some("carts".into());
        }),
        &["a1", "a2", "x1"],
    )
    .await;
    check_events(
        store,
        by(|f| {
            f.keptn_context = Some("c1".into());
            f.event_type = Some("sh.keptn.event.test.triggered".into());
        }),
        &["x1"],
    )
    .await;
    check_events(store, by(|f| f.keptn_context = Some("unknown".into())), &[]).await;
    // A limit lists the newest first.
    check_events(store, by(|f| f.limit = 2), &["a5", "a4"]).await;
    check_events(
        store,
        by(|f| {
            f.keptn_context = Some("c1".into());
            f.limit = 2;
        }),
        &["x1", "a2"],
    )
    .await;
    check_events(
        store,
        by(|f| f.limit = 100),
        &["a5", "a4", "a3", "x1", "a2", "a1"],
    )
    .await;
    check_events(
        store,
        by(|f| f.limit = usize::MAX),
        &["a5", "a4", "a3", "x1", "a2", "a1"],
    )
    .await;
    // Whole events come back, not only their ids.
    let all = store.events(&EventFilter::default()).await.expect("lists");
    assert_eq!(all[..2], accepted);
    assert_eq!(all[2..3], emitted);
}

/// Projects are listed by name (byte order: upper case first) with their services in
/// creation order (a service named twice once); `create_service` adds to the end and is
/// idempotent.
pub async fn check_projects<S: Store + ?Sized>(store: &S) {
    assert!(store.projects().await.expect("lists").is_empty());
    store
        .create_project(&project("sockshop", &["carts", "orders"]))
        .await
        .expect("creates");
    store
        .create_project(&project("podtato", &[]))
        .await
        .expect("creates");
    let mut no_remote = project("Zoo", &["b", "a", "b"]);
    no_remote.git_remote_url = None;
    store.create_project(&no_remote).await.expect("creates");
    store
        .create_service("sockshop", "adservice")
        .await
        .expect("adds");
    store
        .create_service("sockshop", "carts")
        .await
        .expect("idempotent");
    store.create_service("podtato", "head").await.expect("adds");
    store
        .create_service("podtato", "head")
        .await
        .expect("idempotent");
    let mut zoo = no_remote.clone();
    zoo.services = strings(&["b", "a"]);
    assert_eq!(
        store.projects().await.expect("lists"),
        [
            zoo,
            project("podtato", &["head"]),
            project("sockshop", &["carts", "orders", "adservice"]),
        ]
    );
}

/// An existing project name is a `Conflict` (and the refused record adds no service); a
/// missing project is `NotFound` for `create_service` and `delete_project`.
pub async fn check_project_errors<S: Store + ?Sized>(store: &S) {
    store
        .create_project(&project("sockshop", &["carts"]))
        .await
        .expect("creates");
    assert_kind(
        store
            .create_project(&project("sockshop", &["orders"]))
            .await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(
        store.projects().await.expect("lists"),
        [project("sockshop", &["carts"])]
    );
    assert_kind(
        store.create_service("nope", "carts").await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        store.delete_project("nope").await,
        AdapterErrorKind::NotFound,
    );
    assert_eq!(store.projects().await.expect("lists").len(), 1);
}

/// Deleting a project keeps its events and evaluations; a project created again under the
/// name starts without services.
pub async fn check_delete_project<S: Store + ?Sized>(store: &S) {
    store
        .create_project(&project("sockshop", &["carts"]))
        .await
        .expect("creates");
    store
        .create_project(&project("podtato", &["head"]))
        .await
        .expect("creates");
    store
        .commit(&State::default(), &[delivery("e1", "c1")], &[], &[])
        .await
        .expect("commits");
    store
        .record_evaluation(&evaluation("v1", 1_000))
        .await
        .expect("records");
    store.delete_project("sockshop").await.expect("deletes");
    assert_eq!(
        store.projects().await.expect("lists"),
        [project("podtato", &["head"])]
    );
    assert_kind(
        store.delete_project("sockshop").await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        store.create_service("sockshop", "carts").await,
        AdapterErrorKind::NotFound,
    );
    let filter = EventFilter {
        project: Some("sockshop".into()),
        ..EventFilter::default()
    };
    assert_eq!(ids(&store.events(&filter).await.expect("lists")), ["e1"]);
    assert_eq!(
        store
            .evaluations("sockshop", "dev", "carts", 0)
            .await
            .expect("lists"),
        [evaluation("v1", 1_000)]
    );
    store
        .create_project(&project("sockshop", &[]))
        .await
        .expect("creates");
    assert_eq!(
        store.projects().await.expect("lists"),
        [project("podtato", &["head"]), project("sockshop", &[])]
    );
}

/// Evaluations of one project/stage/service, newest first (among equal times the one
/// recorded later first), at most `limit` (0 = all).
pub async fn check_evaluations<S: Store + ?Sized>(store: &S) {
    assert!(
        store
            .evaluations("sockshop", "dev", "carts", 0)
            .await
            .expect("lists")
            .is_empty()
    );
    for (id, time) in [("v1", 1_000), ("v3", 3_000), ("v2", 2_000), ("v3b", 3_000)] {
        store
            .record_evaluation(&evaluation(id, time))
            .await
            .expect("records");
    }
    let mut other_stage = evaluation("p1", 9_000);
    other_stage.stage = "prod".into();
    store
        .record_evaluation(&other_stage)
        .await
        .expect("records");
    let mut other_project = evaluation("q1", 9_000);
    other_project.project = "podtato".into();
    store
        .record_evaluation(&other_project)
        .await
        .expect("records");

    let all = store
        .evaluations("sockshop", "dev", "carts", 0)
        .await
        .expect("lists");
    assert_eq!(event_ids(&all), ["v3b", "v3", "v2", "v1"]);
    assert_eq!(all[3], evaluation("v1", 1_000));
    let newest = store
        .evaluations("sockshop", "dev", "carts", 2)
        .await
        .expect("lists");
    assert_eq!(event_ids(&newest), ["v3b", "v3"]);
    let beyond = store
        .evaluations("sockshop", "dev", "carts", usize::MAX)
        .await
        .expect("lists");
    assert_eq!(beyond, all);
    assert_eq!(
        store
            .evaluations("sockshop", "prod", "carts", 0)
            .await
            .expect("lists"),
        [other_stage]
    );
    assert_eq!(
        store
            .evaluations("podtato", "dev", "carts", 1)
            .await
            .expect("lists"),
        [other_project]
    );
    assert!(
        store
            .evaluations("sockshop", "dev", "orders", 0)
            .await
            .expect("lists")
            .is_empty()
    );
}

/// Recording an evaluation again (by event id) replaces its fields, so it can be
/// invalidated, and keeps its place in the order; a time beyond `i64::MAX` is `Invalid`.
pub async fn check_record_evaluation_again<S: Store + ?Sized>(store: &S) {
    for (id, time) in [("v1", 1_000), ("v2", 2_000), ("v3", 2_000)] {
        store
            .record_evaluation(&evaluation(id, time))
            .await
            .expect("records");
    }
    store
        .record_evaluation(&evaluation("v1", 1_000))
        .await
        .expect("records again");
    // v2 was recorded before v3 at the same time: recorded again, it stays behind v3.
    let mut invalidated = evaluation("v2", 2_000);
    invalidated.invalidated = true;
    invalidated.data = json!({"result": "fail"});
    store
        .record_evaluation(&invalidated)
        .await
        .expect("records again");
    assert_eq!(
        store
            .evaluations("sockshop", "dev", "carts", 0)
            .await
            .expect("lists"),
        [
            evaluation("v3", 2_000),
            invalidated.clone(),
            evaluation("v1", 1_000)
        ]
    );
    // A new time moves it.
    store
        .record_evaluation(&evaluation("v1", 5_000))
        .await
        .expect("records again");
    assert_eq!(
        event_ids(
            &store
                .evaluations("sockshop", "dev", "carts", 0)
                .await
                .expect("lists")
        ),
        ["v1", "v3", "v2"]
    );
    assert_kind(
        store.record_evaluation(&evaluation("v9", u64::MAX)).await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        store
            .evaluations("sockshop", "dev", "carts", 0)
            .await
            .expect("lists")
            .len(),
        3
    );
}

/// Tasks committing at once queue instead of failing and lose nothing: every commit
/// succeeds and is in the history afterwards, each event once, the emitted ones in the
/// outbox; of tasks committing the same new id at once, exactly one succeeds and the others
/// get `Conflict`. The state loaded is the one of a commit.
pub async fn check_concurrent_commits<S: Store + 'static>(store: Arc<S>) {
    const N_TASKS: usize = 8;
    const N_ROUNDS: usize = 10;
    let state_of = |task_idx: usize, round: usize| State {
        next_event_number: (task_idx * 1_000 + round) as u64,
        ..State::default()
    };
    let mut tasks = Vec::new();
    for task_idx in 0..N_TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for round in 0..N_ROUNDS {
                let state = state_of(task_idx, round);
                // Every task receives this event: one of them stores it.
                let shared = delivery(&format!("shared-{round}"), "c-shared");
                match store
                    .commit(&state, std::slice::from_ref(&shared), &[], &[])
                    .await
                {
                    Ok(()) => won.push(shared.id.clone()),
                    Err(error) => assert_eq!(error.kind, AdapterErrorKind::Conflict, "{error}"),
                }
                let incoming = [delivery(&format!("t{task_idx}-in-{round}"), "c1")];
                let emitted = [
                    delivery(&format!("t{task_idx}-out-{round}-a"), "c1"),
                    delivery(&format!("t{task_idx}-out-{round}-b"), "c1"),
                ];
                store
                    .commit(&state, &incoming, &[], &emitted)
                    .await
                    .expect("a commit of new ids succeeds");
            }
            won
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.expect("the task runs"));
    }
    let distinct: HashSet<&String> = winners.iter().collect();
    assert_eq!(winners.len(), N_ROUNDS, "{winners:?}");
    assert_eq!(distinct.len(), N_ROUNDS, "each shared event once");

    let history = store.events(&EventFilter::default()).await.expect("lists");
    let history_ids: HashSet<&str> = ids(&history).into_iter().collect();
    assert_eq!(
        history.len(),
        N_ROUNDS * (1 + 3 * N_TASKS),
        "nothing lost or doubled"
    );
    assert_eq!(history_ids.len(), history.len(), "every id once");
    for task_idx in 0..N_TASKS {
        for round in 0..N_ROUNDS {
            for id in [
                format!("t{task_idx}-in-{round}"),
                format!("t{task_idx}-out-{round}-a"),
                format!("t{task_idx}-out-{round}-b"),
                format!("shared-{round}"),
            ] {
                assert!(history_ids.contains(id.as_str()), "{id} is missing");
            }
        }
    }
    assert!(store.unprocessed().await.expect("lists").is_empty());
    assert_eq!(
        store.unpublished().await.expect("lists").len(),
        2 * N_TASKS * N_ROUNDS
    );
    let state = store
        .load_state()
        .await
        .expect("loads")
        .expect("a state was committed");
    let committed: Vec<State> = (0..N_TASKS)
        .flat_map(|task_idx| (0..N_ROUNDS).map(move |round| state_of(task_idx, round)))
        .collect();
    assert!(committed.contains(&state), "{state:?}");
}

/// For durable stores: what a store committed survives it. `open` opens the same database
/// again each time it is called (the first call may create it). The first store commits a
/// sequence step by step, publishes one emitted event, creates a project and records an
/// evaluation, and is dropped without closing (as in a killed process); a store opened
/// afterwards, and another one next to it, read it all back, and refuse an id of the old
/// history.
pub async fn check_reopen<S, F, Fut>(mut open: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let steps = sequence_steps();
    let mut history = Vec::new();
    let mut emitted = Vec::new();
    let middle = &steps[2];
    {
        let store = open().await;
        for step in &steps[..3] {
            store
                .commit(
                    &step.state,
                    std::slice::from_ref(&step.incoming),
                    &[],
                    &step.emitted,
                )
                .await
                .expect("commits");
            history.push(step.incoming.clone());
            history.extend(step.emitted.iter().cloned());
            emitted.extend(step.emitted.iter().cloned());
        }
        store
            .mark_published(&[emitted[0].id.clone()])
            .await
            .expect("marks");
        store
            .create_project(&project("sockshop", &["carts"]))
            .await
            .expect("creates");
        store
            .record_evaluation(&evaluation("v1", 1_000))
            .await
            .expect("records");
        // Dropped without closing.
    }
    let store = open().await;
    let next = open().await;
    for store in [&store, &next] {
        assert_eq!(
            store.load_state().await.expect("loads"),
            Some(middle.state.clone())
        );
        assert_eq!(
            store.events(&EventFilter::default()).await.expect("lists"),
            history
        );
        assert_eq!(
            store.unpublished().await.expect("lists"),
            emitted[1..].to_vec()
        );
        assert!(store.unprocessed().await.expect("lists").is_empty());
        assert_eq!(
            store.projects().await.expect("lists"),
            [project("sockshop", &["carts"])]
        );
        assert_eq!(
            store
                .evaluations("sockshop", "dev", "carts", 0)
                .await
                .expect("lists"),
            [evaluation("v1", 1_000)]
        );
    }
    // Deduplication survives the restart.
    assert_kind(
        store
            .commit(
                &State::default(),
                std::slice::from_ref(&steps[0].incoming),
                &[],
                &[],
            )
            .await,
        AdapterErrorKind::Conflict,
    );
    // The reopened store goes on with the sequence.
    let rest = &steps[3..];
    for step in rest {
        store
            .commit(
                &step.state,
                std::slice::from_ref(&step.incoming),
                &[],
                &step.emitted,
            )
            .await
            .expect("commits");
    }
    let last = &steps[steps.len() - 1];
    assert_eq!(
        next.load_state().await.expect("loads"),
        Some(last.state.clone())
    );
}

/// For stores whose database an earlier version of keptn-rs may have written: that version
/// accepted events before handling them, leaving rows in the inbox (accepted, not processed).
/// `insert_unprocessed` puts such rows into `store`'s database, as that version did (in
/// order). The inbox lists them oldest first until a commit names them in `processed`;
/// marking them again is harmless; a failed commit keeps them unprocessed; publishing does
/// not touch them; their ids are known and refused as new incoming events.
pub async fn check_legacy_inbox<S, F, Fut>(store: &S, mut insert_unprocessed: F)
where
    S: Store + ?Sized,
    F: FnMut(Vec<KeptnEvent>) -> Fut,
    Fut: Future<Output = ()>,
{
    let legacy = [
        delivery("e3", "c1"),
        delivery("e1", "c1"),
        delivery("e2", "c1"),
    ];
    insert_unprocessed(legacy.to_vec()).await;
    assert_eq!(store.unprocessed().await.expect("lists"), legacy);
    assert_eq!(
        store.events(&EventFilter::default()).await.expect("lists"),
        legacy
    );
    assert_eq!(
        store
            .known_ids(&strings(&["e1", "e2", "e3"]))
            .await
            .expect("looks up"),
        [true, true, true]
    );
    assert!(store.unpublished().await.expect("lists").is_empty());
    // Publishing an inbox event neither drops it from the inbox nor puts it in the outbox.
    store
        .mark_published(&strings(&["e3"]))
        .await
        .expect("marks");
    assert_eq!(
        ids(&store.unprocessed().await.expect("lists")),
        ["e3", "e1", "e2"]
    );
    assert!(store.unpublished().await.expect("lists").is_empty());

    // The replay: one at a time, as the control plane does on start.
    let (state, emitted) = running_state();
    store
        .commit(&state, &[], &strings(&["e1"]), &emitted)
        .await
        .expect("commits");
    assert_eq!(
        ids(&store.unprocessed().await.expect("lists")),
        ["e3", "e2"]
    );
    // A replay after a lost answer names it again: harmless.
    store
        .commit(&state, &[], &strings(&["e1"]), &[])
        .await
        .expect("commits");
    assert_eq!(
        ids(&store.unprocessed().await.expect("lists")),
        ["e3", "e2"]
    );
    assert_eq!(store.unpublished().await.expect("lists"), emitted);

    // Failed commits keep the processed marks they would have set.
    let before = snapshot(store).await;
    let result = store
        .commit(
            &State::default(),
            &[],
            &strings(&["e2", "never-accepted"]),
            &[],
        )
        .await;
    assert_failed_without_trace(
        store,
        result,
        AdapterErrorKind::Invalid,
        &before,
        &[],
        "a processed id never accepted, after an inbox event",
    )
    .await;
    let (new_accepted, new_emitted) = (delivery("n1", "c1"), delivery("x9", "c1"));
    let result = store
        .commit(
            &State::default(),
            std::slice::from_ref(&new_accepted),
            &strings(&["e2"]),
            &[new_emitted.clone(), delivery("e3", "c1")],
        )
        .await;
    assert_failed_without_trace(
        store,
        result,
        AdapterErrorKind::Conflict,
        &before,
        &[&new_accepted, &new_emitted],
        "an emitted id the inbox holds",
    )
    .await;
    let result = store
        .commit(&State::default(), &[delivery("e2", "c9")], &[], &[])
        .await;
    assert_failed_without_trace(
        store,
        result,
        AdapterErrorKind::Conflict,
        &before,
        &[],
        "an incoming id the inbox holds",
    )
    .await;

    // Many inbox events and many new ones in one commit (beyond one statement's worth).
    let more = numbered("early-", 70);
    insert_unprocessed(more.clone()).await;
    let mut processed: Vec<String> = more.iter().map(|event| event.id.clone()).collect();
    processed.extend(strings(&["e2", "e3"]));
    let incoming = numbered("new-", 100);
    let more_emitted = numbered("out-", 3);
    let later = sequence_steps().swap_remove(1).state;
    store
        .commit(&later, &incoming, &processed, &more_emitted)
        .await
        .expect("commits");
    assert!(store.unprocessed().await.expect("lists").is_empty());
    assert_eq!(store.load_state().await.expect("loads"), Some(later));
    let history = store.events(&EventFilter::default()).await.expect("lists");
    let n_before = 3 + emitted.len();
    assert_eq!(history.len(), n_before + 70 + 100 + 3);
    assert_eq!(ids(&history[n_before..][..70]), ids(&more));
    assert_eq!(ids(&history[n_before + 70..][..100]), ids(&incoming));
    let mut all_emitted = emitted;
    all_emitted.extend(more_emitted);
    assert_eq!(store.unpublished().await.expect("lists"), all_emitted);
}

// ------------------------------------------------------------------ config repo checks

/// Runs the [`ConfigRepo`] checks on `repo`, which must hold no project named `sockshop`,
/// `podtato`, `other` or `nope`.
///
/// Layout (git's, which `keptn_core::memory::MemoryConfigRepo` follows): the project-level
/// files, each stage's files, and a service's files under `<service>/` in its stage; a stage
/// written for the first time starts from the project files, and until then reads them. A
/// read at a commit sees that commit; writing the content a file has returns the commit it is
/// in. A missing project, file or commit is `NotFound`; a path or name that leaves the
/// repository (`..`, an absolute path), a directory read as a file and a commit id that is
/// not hex digits (`HEAD~1`) are `Invalid`, and an invalid write creates nothing.
pub async fn check_config_repo<R: ConfigRepo + ?Sized>(repo: &R) {
    let read = |stage: Option<&'static str>,
                service: Option<&'static str>,
                path: &'static str,
                commit: Option<String>| async move {
        repo.read("sockshop", stage, service, path, commit.as_deref())
            .await
    };
    let text = |bytes: Result<Vec<u8>, AdapterError>| {
        String::from_utf8(bytes.expect("reads")).expect("UTF-8 test content")
    };

    // Nothing yet.
    assert_kind(
        repo.read("sockshop", None, None, "shipyard.yaml", None)
            .await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        repo.latest_commit("sockshop", "dev").await,
        AdapterErrorKind::NotFound,
    );

    // The project level; a stage without its branch reads it.
    let project_commit = repo
        .write("sockshop", None, None, "shipyard.yaml", b"v1")
        .await
        .expect("writes");
    assert!(!project_commit.is_empty());
    assert_eq!(text(read(None, None, "shipyard.yaml", None).await), "v1");
    assert_eq!(
        text(read(Some("dev"), None, "shipyard.yaml", None).await),
        "v1"
    );
    assert_eq!(
        repo.latest_commit("sockshop", "dev")
            .await
            .expect("resolves"),
        project_commit
    );

    // The stage level starts from the project files.
    let stage_commit = repo
        .write("sockshop", Some("dev"), None, "stage.yaml", b"dev only")
        .await
        .expect("writes");
    assert_ne!(stage_commit, project_commit);
    assert_eq!(
        repo.latest_commit("sockshop", "dev")
            .await
            .expect("resolves"),
        stage_commit
    );
    assert_eq!(
        repo.latest_commit("sockshop", "prod")
            .await
            .expect("resolves"),
        project_commit
    );
    assert_eq!(
        text(read(Some("dev"), None, "stage.yaml", None).await),
        "dev only"
    );
    assert_eq!(
        text(read(Some("dev"), None, "shipyard.yaml", None).await),
        "v1"
    );
    assert_kind(
        read(None, None, "stage.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        read(Some("prod"), None, "stage.yaml", None).await,
        AdapterErrorKind::NotFound,
    );

    // The service level: under `<service>/` of the stage.
    let first = repo
        .write("sockshop", Some("dev"), Some("carts"), "slo.yaml", b"first")
        .await
        .expect("writes");
    assert_eq!(
        text(read(Some("dev"), Some("carts"), "slo.yaml", None).await),
        "first"
    );
    assert_eq!(
        text(read(Some("dev"), None, "carts/slo.yaml", None).await),
        "first"
    );
    assert_kind(
        read(Some("dev"), Some("orders"), "slo.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        read(None, Some("carts"), "slo.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        read(Some("prod"), Some("carts"), "slo.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    repo.write(
        "sockshop",
        Some("dev"),
        Some("carts"),
        "helm/templates/svc.yaml",
        b"kind: Service",
    )
    .await
    .expect("writes a nested path");
    assert_eq!(
        text(read(Some("dev"), Some("carts"), "helm/templates/svc.yaml", None).await),
        "kind: Service"
    );
    assert_kind(
        read(Some("dev"), Some("carts"), "helm", None).await,
        AdapterErrorKind::Invalid,
    );

    // Later project files do not reach a stage that has its branch.
    let project_v2 = repo
        .write("sockshop", None, None, "shipyard.yaml", b"v2")
        .await
        .expect("writes");
    assert_eq!(text(read(None, None, "shipyard.yaml", None).await), "v2");
    assert_eq!(
        text(read(Some("dev"), None, "shipyard.yaml", None).await),
        "v1"
    );
    assert_eq!(
        text(read(Some("prod"), None, "shipyard.yaml", None).await),
        "v2"
    );

    // Reads at a commit.
    let second = repo
        .write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            b"second",
        )
        .await
        .expect("writes");
    assert_ne!(second, first);
    assert_eq!(
        text(read(Some("dev"), Some("carts"), "slo.yaml", Some(first.clone())).await),
        "first"
    );
    assert_eq!(
        text(read(Some("dev"), Some("carts"), "slo.yaml", None).await),
        "second"
    );
    assert_eq!(
        text(read(None, None, "shipyard.yaml", Some(project_commit.clone())).await),
        "v1"
    );
    assert_eq!(
        text(read(None, None, "shipyard.yaml", Some(project_v2.clone())).await),
        "v2"
    );
    assert_kind(
        read(
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            Some(stage_commit.clone()),
        )
        .await,
        AdapterErrorKind::NotFound,
    );

    // The same content again: no new commit.
    let again = repo
        .write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            b"second",
        )
        .await
        .expect("writes");
    assert_eq!(again, second);
    assert_eq!(
        repo.latest_commit("sockshop", "dev")
            .await
            .expect("resolves"),
        second
    );
    let unchanged = repo
        .write("sockshop", None, None, "shipyard.yaml", b"v2")
        .await
        .expect("writes");
    assert_eq!(unchanged, project_v2);

    // Any bytes.
    let binary: Vec<u8> = (0..=255_u8).chain([b'\n', 0, b'\n']).collect();
    repo.write("sockshop", Some("dev"), Some("carts"), "chart.tgz", &binary)
        .await
        .expect("writes");
    assert_eq!(
        read(Some("dev"), Some("carts"), "chart.tgz", None)
            .await
            .expect("reads"),
        binary
    );

    // Missing files, projects and commits.
    assert_kind(
        read(None, None, "slo.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        read(Some("dev"), None, "slo.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        repo.read("nope", None, None, "shipyard.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        repo.read("nope", Some("dev"), Some("carts"), "slo.yaml", None)
            .await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        repo.latest_commit("nope", "dev").await,
        AdapterErrorKind::NotFound,
    );
    let unknown = "0123456789abcdef0123456789abcdef01234567".to_owned();
    assert_kind(
        read(None, None, "shipyard.yaml", Some(unknown)).await,
        AdapterErrorKind::NotFound,
    );
    assert_kind(
        read(None, None, "shipyard.yaml", Some("HEAD~1".to_owned())).await,
        AdapterErrorKind::Invalid,
    );
    let other_commit = repo
        .write("other", None, None, "shipyard.yaml", b"other")
        .await
        .expect("writes");
    assert_kind(
        read(None, None, "shipyard.yaml", Some(other_commit)).await,
        AdapterErrorKind::NotFound,
    );

    // A stage written before the project level: the project has (empty) project files.
    let podtato = repo
        .write(
            "podtato",
            Some("dev"),
            Some("head"),
            "values.yaml",
            b"image: head",
        )
        .await
        .expect("writes");
    assert_kind(
        repo.read("podtato", None, None, "values.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    let podtato_prod = repo
        .latest_commit("podtato", "prod")
        .await
        .expect("resolves to the project files");
    assert_ne!(podtato_prod, podtato);
    assert_eq!(
        repo.latest_commit("podtato", "dev")
            .await
            .expect("resolves"),
        podtato
    );

    // Paths and names that leave the repository.
    let paths = [
        "../escape.yaml",
        "a/../../escape.yaml",
        "/etc/passwd",
        "",
        "a//b",
        "./a",
    ];
    for path in paths {
        for (stage, service) in [
            (None, None),
            (Some("dev"), None),
            (Some("dev"), Some("carts")),
        ] {
            assert_kind(
                repo.write("fresh", stage, service, path, b"x").await,
                AdapterErrorKind::Invalid,
            );
            assert_kind(
                repo.read("sockshop", stage, service, path, None).await,
                AdapterErrorKind::Invalid,
            );
        }
    }
    for (stage, service) in [
        (Some(".."), None),
        (Some("dev"), Some("..")),
        (Some("dev"), Some("../x")),
    ] {
        assert_kind(
            repo.write("fresh", stage, service, "a.yaml", b"x").await,
            AdapterErrorKind::Invalid,
        );
        assert_kind(
            repo.read("sockshop", stage, service, "a.yaml", None).await,
            AdapterErrorKind::Invalid,
        );
    }
    assert_kind(
        repo.write("../fresh", None, None, "a.yaml", b"x").await,
        AdapterErrorKind::Invalid,
    );
    assert_kind(
        repo.latest_commit("fresh", "dev").await,
        AdapterErrorKind::NotFound,
    );
}
