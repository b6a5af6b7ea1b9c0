//! Unit tests against real SQLite files in temporary directories.

use std::sync::Arc;

use keptn_core::event::{EventData, EventType, KeptnEvent, Timestamp};
use keptn_core::orchestrator::{self, Input, Orchestrator, Output, State};
use keptn_core::ports::{
    AdapterError, AdapterErrorKind, EvaluationRecord, EventFilter, ProjectRecord, Store,
};
use serde_json::json;
use tempfile::TempDir;

use super::{Config, Error, Sqlite};

const SHIPYARD: &str = "apiVersion: spec.keptn.sh/0.2.3
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

async fn open(dir: &TempDir) -> Sqlite {
    let config = Config::new(dir.path().join("data").join("keptn.db"));
    Sqlite::open(config.validate().expect("the test config is valid"))
        .await
        .expect("a temporary database opens")
}

async fn fresh() -> (TempDir, Sqlite) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(&dir).await;
    (dir, store)
}

fn event(id: &str, event_type: &str, context: &str, scope: (&str, &str, &str)) -> KeptnEvent {
    let event_type = EventType::parse(event_type).expect("the test event type is valid");
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

const CARTS: (&str, &str, &str) = ("sockshop", "dev", "carts");

fn delivery(id: &str, context: &str) -> KeptnEvent {
    event(id, "sh.keptn.event.dev.delivery.triggered", context, CARTS)
}

/// A state with a project and a running sequence, plus the events the orchestrator emitted.
fn running_state() -> (State, Vec<KeptnEvent>) {
    let shipyard = keptn_core::shipyard::parse(SHIPYARD)
        .expect("the test shipyard parses")
        .shipyard;
    let mut orchestrator = Orchestrator::new(orchestrator::Config::default());
    orchestrator.handle(
        Timestamp(0),
        Input::SetShipyard {
            project: "sockshop".into(),
            shipyard,
        },
    );
    let outputs = orchestrator.handle(Timestamp(1_000), Input::Event(delivery("t1", "c1")));
    let emitted = outputs
        .into_iter()
        .filter_map(|output| match output {
            Output::Emit(event) => Some(event),
            Output::Command(_) => None,
        })
        .collect();
    (orchestrator.state, emitted)
}

fn ids(events: &[KeptnEvent]) -> Vec<&str> {
    events.iter().map(|event| event.id.as_str()).collect()
}

fn assert_kind<T: std::fmt::Debug>(
    result: Result<T, AdapterError>,
    kind: AdapterErrorKind,
) -> String {
    let error = result.expect_err("the call fails");
    assert_eq!(error.kind, kind, "{error}");
    error.message
}

// Configuration.

fn check_config(path: &str, expected: Result<(), &str>) {
    let result = Config::new(path).validate();
    match (result, expected) {
        (Ok(valid), Ok(())) => assert_eq!(valid.path().to_str(), Some(path)),
        (Err(error), Err(message)) => assert_eq!(error.to_string(), message),
        (result, expected) => panic!("{path}: got {result:?}, expected {expected:?}"),
    }
}

#[test]
fn config_validation() {
    check_config("/var/lib/keptn/keptn.db", Ok(()));
    check_config("keptn.db", Ok(()));
    check_config(
        "",
        Err("invalid sqlite store configuration: path: must not be empty"),
    );
    check_config(
        "/var/lib/keptn/",
        Err(
            "invalid sqlite store configuration: path: '/var/lib/keptn/' names a directory, not a file",
        ),
    );
    check_config(
        ":memory:",
        Err(
            "invalid sqlite store configuration: path: ':memory:' is a SQLite URL; give a file path (the store must be durable)",
        ),
    );
}

#[test]
fn config_rejects_unknown_fields() {
    let parsed: Result<Config, _> = serde_json::from_value(json!({"path": "a.db", "paht": "b"}));
    let error = parsed.expect_err("an unknown field is refused");
    assert!(
        error.to_string().contains("unknown field `paht`"),
        "{error}"
    );
}

#[tokio::test]
async fn open_creates_the_file_and_its_directories() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a").join("b").join("keptn.db");
    let store = Sqlite::open(Config::new(&path).validate().expect("valid"))
        .await
        .expect("opens");
    assert!(path.is_file());
    assert_eq!(store.path(), path);
}

#[tokio::test]
async fn open_reports_a_directory_it_cannot_create() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").expect("writes");
    let path = blocker.join("keptn.db");
    let error = Sqlite::open(Config::new(&path).validate().expect("valid"))
        .await
        .expect_err("the parent is a file");
    assert!(matches!(error, Error::CreateDir { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot create the database directory '{}'",
            blocker.display()
        )
    );
    let adapter_error = AdapterError::from(error);
    assert_eq!(adapter_error.kind, AdapterErrorKind::Failed);
    assert!(adapter_error.source.is_some());
}

#[tokio::test]
async fn every_connection_is_durable() {
    let (_dir, store) = fresh().await;
    // Several connections: each must carry the settings, not only the first.
    let mut connections = Vec::new();
    for _ in 0..super::MAX_CONNECTIONS {
        connections.push(store.pool.acquire().await.expect("a connection"));
    }
    connections.push(store.writer.acquire().await.expect("the writer"));
    for connection in &mut connections {
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **connection)
            .await
            .expect("reads");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **connection)
            .await
            .expect("reads");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **connection)
            .await
            .expect("reads");
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **connection)
            .await
            .expect("reads");
        assert_eq!(journal_mode, "wal");
        assert_eq!(synchronous, 2, "synchronous=FULL");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy_timeout, 10_000);
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("keptn.db");
    std::fs::write(&path, vec![b'x'; 4096]).expect("writes");
    let error = Sqlite::open(Config::new(&path).validate().expect("valid"))
        .await
        .expect_err("not a database");
    assert!(
        matches!(error, Error::Open { .. } | Error::Migrate { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&format!("'{}'", path.display())),
        "{error}"
    );
    assert_eq!(AdapterError::from(error).kind, AdapterErrorKind::Failed);
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(&dir).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', 1, x'00', 0)",
    )
    .execute(&store.pool)
    .await
    .expect("inserts");
    store.close().await;
    let config = Config::new(dir.path().join("data").join("keptn.db"));
    let error = Sqlite::open(config.validate().expect("valid"))
        .await
        .expect_err("schema version 99 is unknown to this binary");
    assert!(matches!(error, Error::Migrate { .. }), "{error:?}");
}

// State, inbox and outbox.

#[tokio::test]
async fn state_is_none_until_committed_then_round_trips() {
    let (_dir, store) = fresh().await;
    assert_eq!(store.load_state().await.expect("loads"), None);
    let (state, _) = running_state();
    assert!(
        !state.executions.is_empty(),
        "the test state holds a sequence"
    );
    store
        .commit_transition(&state, None, &[])
        .await
        .expect("commits");
    assert_eq!(
        store.load_state().await.expect("loads"),
        Some(state.clone())
    );
    store
        .commit_transition(&State::default(), None, &[])
        .await
        .expect("commits");
    assert_eq!(
        store.load_state().await.expect("loads"),
        Some(State::default())
    );
}

#[tokio::test]
async fn accept_is_idempotent_by_event_id() {
    let (_dir, store) = fresh().await;
    let first = delivery("e1", "c1");
    assert!(store.accept(&first).await.expect("accepts"));
    let mut changed = delivery("e1", "c2");
    changed.data.message = Some("a different body".into());
    assert!(!store.accept(&changed).await.expect("accepts"));
    assert_eq!(
        store.unprocessed().await.expect("lists"),
        vec![first.clone()]
    );
    assert_eq!(
        store.events(&EventFilter::default()).await.expect("lists"),
        vec![first]
    );
}

#[tokio::test]
async fn accept_of_an_emitted_id_is_a_duplicate() {
    let (_dir, store) = fresh().await;
    let emitted = event("x1", "sh.keptn.event.deployment.triggered", "c1", CARTS);
    store
        .commit_transition(&State::default(), None, std::slice::from_ref(&emitted))
        .await
        .expect("commits");
    assert!(!store.accept(&emitted).await.expect("accepts"));
    assert!(store.unprocessed().await.expect("lists").is_empty());
}

#[tokio::test]
async fn accept_rejects_an_empty_id() {
    let (_dir, store) = fresh().await;
    let message = assert_kind(
        store.accept(&delivery("", "c1")).await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        message,
        "event of type 'sh.keptn.event.dev.delivery.triggered' has an empty id"
    );
}

#[tokio::test]
async fn unprocessed_lists_oldest_first_until_processed() {
    let (_dir, store) = fresh().await;
    for id in ["e3", "e1", "e2"] {
        assert!(store.accept(&delivery(id, "c1")).await.expect("accepts"));
    }
    assert_eq!(
        ids(&store.unprocessed().await.expect("lists")),
        ["e3", "e1", "e2"]
    );
    store
        .commit_transition(&State::default(), Some("e1"), &[])
        .await
        .expect("commits");
    assert_eq!(
        ids(&store.unprocessed().await.expect("lists")),
        ["e3", "e2"]
    );
    // Marking an already processed event again is harmless (a replay after a lost answer).
    store
        .commit_transition(&State::default(), Some("e1"), &[])
        .await
        .expect("commits");
    assert_eq!(
        ids(&store.unprocessed().await.expect("lists")),
        ["e3", "e2"]
    );
}

#[tokio::test]
async fn commit_records_emitted_events_in_outbox_and_history() {
    let (_dir, store) = fresh().await;
    let trigger = delivery("t1", "c1");
    store.accept(&trigger).await.expect("accepts");
    let (state, emitted) = running_state();
    assert!(!emitted.is_empty(), "the orchestrator emitted events");
    store
        .commit_transition(&state, Some("t1"), &emitted)
        .await
        .expect("commits");
    assert!(store.unprocessed().await.expect("lists").is_empty());
    assert_eq!(store.unpublished().await.expect("lists"), emitted);
    let mut history = vec![trigger];
    history.extend(emitted.iter().cloned());
    assert_eq!(
        store.events(&EventFilter::default()).await.expect("lists"),
        history
    );
}

#[tokio::test]
async fn mark_published_empties_the_outbox_and_ignores_unknown_ids() {
    let (_dir, store) = fresh().await;
    let emitted = [
        event("x1", "sh.keptn.event.deployment.triggered", "c1", CARTS),
        event("x2", "sh.keptn.event.test.triggered", "c1", CARTS),
        event("x3", "sh.keptn.event.evaluation.triggered", "c1", CARTS),
    ];
    store.accept(&delivery("t1", "c1")).await.expect("accepts");
    store
        .commit_transition(&State::default(), None, &emitted)
        .await
        .expect("commits");
    store
        .mark_published(&["x2".to_owned(), "unknown".to_owned(), "t1".to_owned()])
        .await
        .expect("marks");
    assert_eq!(
        ids(&store.unpublished().await.expect("lists")),
        ["x1", "x3"]
    );
    // Marking an accepted event published does not turn it into an outbox entry or drop it
    // from the inbox.
    assert_eq!(ids(&store.unprocessed().await.expect("lists")), ["t1"]);
    store
        .mark_published(&["x1".to_owned(), "x3".to_owned(), "x2".to_owned()])
        .await
        .expect("marks");
    assert!(store.unpublished().await.expect("lists").is_empty());
    store
        .mark_published(&[])
        .await
        .expect("an empty list is fine");
    assert_eq!(
        store
            .events(&EventFilter::default())
            .await
            .expect("lists")
            .len(),
        4
    );
}

#[tokio::test]
async fn a_failing_commit_leaves_nothing_half_written() {
    let (_dir, store) = fresh().await;
    store.accept(&delivery("t1", "c1")).await.expect("accepts");
    let before = State {
        next_event_number: 7,
        ..State::default()
    };
    store
        .commit_transition(&before, None, &[])
        .await
        .expect("commits");
    let (after, emitted) = running_state();

    // The input was never accepted: the state stays, nothing is emitted.
    let message = assert_kind(
        store
            .commit_transition(&after, Some("never-accepted"), &emitted)
            .await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        message,
        "event 'never-accepted' was never accepted, so it cannot be marked processed"
    );
    // An emitted event reuses a history id (the second one, after one was written in the
    // same transaction): the state, the processed mark and the first event are rolled back.
    let mut clashing = emitted.clone();
    clashing.push(delivery("t1", "c9"));
    let message = assert_kind(
        store.commit_transition(&after, Some("t1"), &clashing).await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(
        message,
        "emitted event 't1' has the id of an event in the history"
    );
    // Two emitted events with one id.
    let twins = [delivery("x1", "c1"), delivery("x1", "c1")];
    assert_kind(
        store.commit_transition(&after, Some("t1"), &twins).await,
        AdapterErrorKind::Conflict,
    );
    // An emitted event without id is refused before anything is written.
    assert_kind(
        store
            .commit_transition(&after, Some("t1"), &[delivery("", "c1")])
            .await,
        AdapterErrorKind::Invalid,
    );

    assert_eq!(store.load_state().await.expect("loads"), Some(before));
    assert_eq!(ids(&store.unprocessed().await.expect("lists")), ["t1"]);
    assert!(store.unpublished().await.expect("lists").is_empty());
    assert_eq!(
        ids(&store.events(&EventFilter::default()).await.expect("lists")),
        ["t1"]
    );
}

#[tokio::test]
async fn reopening_keeps_state_inbox_outbox_and_history() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (state, emitted) = running_state();
    {
        let store = open(&dir).await;
        store.accept(&delivery("t1", "c1")).await.expect("accepts");
        store.accept(&delivery("t2", "c2")).await.expect("accepts");
        store
            .commit_transition(&state, Some("t1"), &emitted)
            .await
            .expect("commits");
        store
            .mark_published(&[emitted[0].id.clone()])
            .await
            .expect("marks");
        store
            .create_project(&ProjectRecord {
                name: "sockshop".into(),
                shipyard: SHIPYARD.into(),
                git_remote_url: None,
                services: vec!["carts".into()],
            })
            .await
            .expect("creates");
        // Dropped without close: the pool goes away as in a killed process.
    }
    let store = open(&dir).await;
    assert_eq!(store.load_state().await.expect("loads"), Some(state));
    assert_eq!(ids(&store.unprocessed().await.expect("lists")), ["t2"]);
    assert_eq!(
        store.unpublished().await.expect("lists"),
        emitted[1..].to_vec()
    );
    assert_eq!(
        store
            .events(&EventFilter::default())
            .await
            .expect("lists")
            .len(),
        2 + emitted.len()
    );
    assert_eq!(
        store.projects().await.expect("lists")[0].services,
        ["carts"]
    );
    // Deduplication survives the restart as well.
    assert!(!store.accept(&delivery("t1", "c1")).await.expect("accepts"));
    store.close().await;
    let error = assert_kind(store.load_state().await, AdapterErrorKind::Unavailable);
    assert_eq!(error, "cannot load the state");
}

#[tokio::test]
async fn concurrent_writers_queue_instead_of_failing() {
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for task_idx in 0..40 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let id = format!("e{task_idx}");
            store.accept(&delivery(&id, "c1")).await?;
            let emitted = [delivery(&format!("x{task_idx}"), "c1")];
            store
                .commit_transition(&State::default(), Some(&id), &emitted)
                .await
        }));
    }
    for task in tasks {
        task.await
            .expect("the task runs")
            .expect("the writes succeed");
    }
    assert!(store.unprocessed().await.expect("lists").is_empty());
    assert_eq!(store.unpublished().await.expect("lists").len(), 40);
}

// History queries.

async fn history_store() -> (TempDir, Sqlite) {
    let (dir, store) = fresh().await;
    let accepted = [
        delivery("a1", "c1"),
        event("a2", "sh.keptn.event.deployment.finished", "c1", CARTS),
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
    for event in &accepted[..2] {
        store.accept(event).await.expect("accepts");
    }
    let emitted = [event("x1", "sh.keptn.event.test.triggered", "c1", CARTS)];
    store
        .commit_transition(&State::default(), Some("a1"), &emitted)
        .await
        .expect("commits");
    for event in &accepted[2..] {
        store.accept(event).await.expect("accepts");
    }
    (dir, store)
}

async fn check_events(store: &Sqlite, filter: EventFilter, expected: &[&str]) {
    let events = store.events(&filter).await.expect("lists");
    assert_eq!(ids(&events), expected, "{filter:?}");
}

#[tokio::test]
async fn events_filter_and_order() {
    let (_dir, store) = history_store().await;
    let by = |set: fn(&mut EventFilter)| {
        let mut filter = EventFilter::default();
        set(&mut filter);
        filter
    };
    check_events(
        &store,
        EventFilter::default(),
        &["a1", "a2", "x1", "a3", "a4", "a5"],
    )
    .await;
    check_events(
        &store,
        by(|f| f.keptn_context = Some("c1".into())),
        &["a1", "a2", "x1"],
    )
    .await;
    check_events(
        &store,
        by(|f| f.event_type = Some("sh.keptn.event.dev.delivery.triggered".into())),
        &["a1", "a4", "a5"],
    )
    .await;
    check_events(
        &store,
        by(|f| f.project = Some("sockshop".into())),
        &["a1", "a2", "x1", "a3", "a4"],
    )
    .await;
    check_events(&store, by(|f| f.stage = Some("prod".into())), &["a3"]).await;
    check_events(&store, by(|f| f.service = Some("orders".into())), &["a4"]).await;
    check_events(
        &store,
        by(|f| {
            f.project = Some("sockshop".into());
            f.stage = Some("dev".into());
            f.service = Some("carts".into());
        }),
        &["a1", "a2", "x1"],
    )
    .await;
    check_events(
        &store,
        by(|f| f.keptn_context = Some("unknown".into())),
        &[],
    )
    .await;
    // A limit lists the newest first.
    check_events(&store, by(|f| f.limit = 2), &["a5", "a4"]).await;
    check_events(
        &store,
        by(|f| {
            f.keptn_context = Some("c1".into());
            f.limit = 2;
        }),
        &["x1", "a2"],
    )
    .await;
    check_events(
        &store,
        by(|f| f.limit = 100),
        &["a5", "a4", "a3", "x1", "a2", "a1"],
    )
    .await;
}

#[tokio::test]
async fn a_corrupt_stored_event_is_reported_with_its_id() {
    let (_dir, store) = fresh().await;
    store.accept(&delivery("e1", "c1")).await.expect("accepts");
    sqlx::query("UPDATE events SET json = '{\"id\": 42' WHERE id = 'e1'")
        .execute(&store.pool)
        .await
        .expect("updates");
    let message = assert_kind(store.unprocessed().await, AdapterErrorKind::Failed);
    assert_eq!(message, "stored event 'e1' cannot be decoded");
    let error = store
        .events(&EventFilter::default())
        .await
        .expect_err("fails");
    assert!(error.source.is_some(), "the decode error is the source");
}

// Projects and services.

fn project(name: &str, services: &[&str]) -> ProjectRecord {
    ProjectRecord {
        name: name.into(),
        shipyard: SHIPYARD.into(),
        git_remote_url: Some(format!("https://git.example/{name}.git")),
        services: services.iter().map(|&service| service.to_owned()).collect(),
    }
}

#[tokio::test]
async fn projects_are_listed_by_name_with_services_in_creation_order() {
    let (_dir, store) = fresh().await;
    assert!(store.projects().await.expect("lists").is_empty());
    store
        .create_project(&project("sockshop", &["carts", "orders"]))
        .await
        .expect("creates");
    store
        .create_project(&project("podtato", &[]))
        .await
        .expect("creates");
    store
        .create_service("sockshop", "adservice")
        .await
        .expect("adds");
    store
        .create_service("sockshop", "carts")
        .await
        .expect("idempotent");
    store.create_service("podtato", "head").await.expect("adds");
    assert_eq!(
        store.projects().await.expect("lists"),
        [
            project("podtato", &["head"]),
            project("sockshop", &["carts", "orders", "adservice"]),
        ]
    );
}

#[tokio::test]
async fn project_conflicts_and_missing_projects_are_errors() {
    let (_dir, store) = fresh().await;
    store
        .create_project(&project("sockshop", &["carts"]))
        .await
        .expect("creates");
    let message = assert_kind(
        store
            .create_project(&project("sockshop", &["orders"]))
            .await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(message, "project 'sockshop' exists already");
    // The refused project did not add its service.
    assert_eq!(
        store.projects().await.expect("lists")[0].services,
        ["carts"]
    );
    let message = assert_kind(
        store.create_service("nope", "carts").await,
        AdapterErrorKind::NotFound,
    );
    assert_eq!(message, "project 'nope' does not exist");
    let message = assert_kind(
        store.delete_project("nope").await,
        AdapterErrorKind::NotFound,
    );
    assert_eq!(message, "project 'nope' does not exist");
}

#[tokio::test]
async fn deleting_a_project_keeps_its_history() {
    let (_dir, store) = fresh().await;
    store
        .create_project(&project("sockshop", &["carts"]))
        .await
        .expect("creates");
    store.accept(&delivery("e1", "c1")).await.expect("accepts");
    store
        .record_evaluation(&evaluation("v1", 1_000))
        .await
        .expect("records");
    store.delete_project("sockshop").await.expect("deletes");
    assert!(store.projects().await.expect("lists").is_empty());
    assert_eq!(
        store
            .events(&EventFilter::default())
            .await
            .expect("lists")
            .len(),
        1
    );
    assert_eq!(
        store
            .evaluations("sockshop", "dev", "carts", 0)
            .await
            .expect("lists")
            .len(),
        1
    );
    // A project created again under the name starts without services.
    store
        .create_project(&project("sockshop", &[]))
        .await
        .expect("creates");
    assert_eq!(
        store.projects().await.expect("lists"),
        [project("sockshop", &[])]
    );
}

// Evaluations.

fn evaluation(event_id: &str, time: u64) -> EvaluationRecord {
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

#[tokio::test]
async fn evaluations_newest_first_per_scope_with_limit() {
    let (_dir, store) = fresh().await;
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

    let all = store
        .evaluations("sockshop", "dev", "carts", 0)
        .await
        .expect("lists");
    // Equal times: the later recorded one first.
    assert_eq!(event_ids(&all), ["v3b", "v3", "v2", "v1"]);
    assert_eq!(all[3], evaluation("v1", 1_000));
    let newest = store
        .evaluations("sockshop", "dev", "carts", 2)
        .await
        .expect("lists");
    assert_eq!(event_ids(&newest), ["v3b", "v3"]);
    let prod = store
        .evaluations("sockshop", "prod", "carts", 0)
        .await
        .expect("lists");
    assert_eq!(prod, [other_stage]);
    assert!(
        store
            .evaluations("sockshop", "dev", "orders", 0)
            .await
            .expect("lists")
            .is_empty()
    );
}

#[tokio::test]
async fn record_evaluation_is_idempotent_and_can_invalidate() {
    let (_dir, store) = fresh().await;
    store
        .record_evaluation(&evaluation("v1", 1_000))
        .await
        .expect("records");
    store
        .record_evaluation(&evaluation("v2", 2_000))
        .await
        .expect("records");
    store
        .record_evaluation(&evaluation("v1", 1_000))
        .await
        .expect("records again");
    let mut invalidated = evaluation("v2", 2_000);
    invalidated.invalidated = true;
    store
        .record_evaluation(&invalidated)
        .await
        .expect("records again");
    assert_eq!(
        store
            .evaluations("sockshop", "dev", "carts", 0)
            .await
            .expect("lists"),
        [invalidated, evaluation("v1", 1_000)]
    );
}

#[tokio::test]
async fn an_evaluation_time_beyond_i64_is_invalid() {
    let (_dir, store) = fresh().await;
    let message = assert_kind(
        store.record_evaluation(&evaluation("v1", u64::MAX)).await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(message, format!("time {} is too large to store", u64::MAX));
}

#[tokio::test]
async fn commit_accepting_records_new_events_as_processed_in_the_same_transaction() {
    let (dir, store) = fresh().await;
    let (state, emitted) = running_state();
    let incoming = delivery("t1", "c1");
    assert_eq!(
        store
            .known_ids(&["t1".to_owned(), "nope".to_owned()])
            .await
            .expect("looks up"),
        vec![false, false]
    );
    store
        .commit_accepting(&state, std::slice::from_ref(&incoming), &[], &emitted)
        .await
        .expect("commits");
    let emitted_id = emitted[0].id.clone();
    assert_eq!(
        store
            .known_ids(&["t1".to_owned(), emitted_id, "nope".to_owned()])
            .await
            .expect("looks up"),
        vec![true, true, false]
    );
    // Accepted and processed at once: nothing to replay, but it is in the history.
    assert!(store.unprocessed().await.expect("reads").is_empty());
    assert_eq!(
        ids(&store.unpublished().await.expect("reads")),
        ids(&emitted)
    );
    let history = store
        .events(&EventFilter {
            keptn_context: Some("c1".to_owned()),
            ..EventFilter::default()
        })
        .await
        .expect("reads");
    assert_eq!(history.first().map(|event| event.id.as_str()), Some("t1"));
    // Accepting an id again fails the whole transaction and changes nothing.
    let later = State::default();
    assert_kind(
        store
            .commit_accepting(&later, std::slice::from_ref(&incoming), &[], &[])
            .await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(store.load_state().await.expect("reads"), Some(state));
    drop(dir);
}

// The state in rows, and large batches.

/// Records every write to the state rows in `state_writes` (triggers fire for every connection).
async fn record_state_writes(store: &Sqlite) {
    sqlx::raw_sql(
        "CREATE TABLE state_writes (what TEXT NOT NULL);
         CREATE TRIGGER entry_inserted AFTER INSERT ON state_entries BEGIN
             INSERT INTO state_writes VALUES ('insert ' || NEW.kind || '/' || NEW.key); END;
         CREATE TRIGGER entry_updated AFTER UPDATE ON state_entries BEGIN
             INSERT INTO state_writes VALUES ('update ' || NEW.kind || '/' || NEW.key); END;
         CREATE TRIGGER entry_deleted AFTER DELETE ON state_entries BEGIN
             INSERT INTO state_writes VALUES ('delete ' || OLD.kind || '/' || OLD.key); END;
         CREATE TRIGGER rest_inserted AFTER INSERT ON state BEGIN
             INSERT INTO state_writes VALUES ('insert state'); END;
         CREATE TRIGGER rest_updated AFTER UPDATE ON state BEGIN
             INSERT INTO state_writes VALUES ('update state'); END;",
    )
    .execute(&store.pool)
    .await
    .expect("creates the triggers");
}

/// The state writes since the last call, in order.
async fn take_state_writes(store: &Sqlite) -> Vec<String> {
    let writes: Vec<String> = sqlx::query_scalar("SELECT what FROM state_writes ORDER BY rowid")
        .fetch_all(&store.pool)
        .await
        .expect("reads");
    sqlx::query("DELETE FROM state_writes")
        .execute(&store.pool)
        .await
        .expect("deletes");
    writes
}

async fn commit_state(store: &Sqlite, state: &State) {
    store
        .commit_transition(state, None, &[])
        .await
        .expect("commits");
}

#[tokio::test]
async fn a_commit_writes_only_the_state_rows_that_changed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(&dir).await;
    record_state_writes(&store).await;
    let (mut state, _) = running_state();
    let first_id = *state.executions.keys().next().expect("one execution");
    commit_state(&store, &state).await;
    assert_eq!(
        take_state_writes(&store).await,
        [
            "insert state".to_owned(),
            "insert shipyard/sockshop".to_owned(),
            format!("insert execution/{first_id}"),
        ]
    );
    // Unchanged: nothing is written.
    commit_state(&store, &state).await;
    assert!(take_state_writes(&store).await.is_empty());

    // A new execution (and the counter in the `state` row).
    let second_id = state.next_execution_id;
    let mut second = state.executions[&first_id].clone();
    second.id = second_id;
    state.executions.insert(second_id, second);
    state.next_execution_id += 1;
    commit_state(&store, &state).await;
    assert_eq!(
        take_state_writes(&store).await,
        [
            "update state".to_owned(),
            format!("insert execution/{second_id}")
        ]
    );
    // One execution changes.
    if let Some(execution) = state.executions.get_mut(&first_id) {
        execution.queue_position += 10;
    }
    commit_state(&store, &state).await;
    assert_eq!(
        take_state_writes(&store).await,
        [format!("update execution/{first_id}")]
    );
    // One ends, and the shipyard changes.
    state.executions.remove(&first_id);
    if let Some(shipyard) = state.shipyards.get_mut("sockshop") {
        shipyard.stages[0].sequences[0].tasks.pop();
    }
    commit_state(&store, &state).await;
    assert_eq!(
        take_state_writes(&store).await,
        [
            format!("delete execution/{first_id}"),
            "update shipyard/sockshop".to_owned(),
        ]
    );
    assert_eq!(
        store.load_state().await.expect("loads"),
        Some(state.clone())
    );

    // Another store knows nothing of the rows: its first commit rewrites them all.
    let reopened = open(&dir).await;
    assert_eq!(
        reopened.load_state().await.expect("loads"),
        Some(state.clone())
    );
    commit_state(&reopened, &state).await;
    assert_eq!(
        take_state_writes(&store).await,
        [
            format!("delete execution/{second_id}"),
            "delete shipyard/sockshop".to_owned(),
            "update state".to_owned(),
            "insert shipyard/sockshop".to_owned(),
            format!("insert execution/{second_id}"),
        ]
    );
    commit_state(&reopened, &state).await;
    assert!(take_state_writes(&store).await.is_empty());
    // After a failed commit the store forgets what the rows hold and rewrites them.
    assert_kind(
        reopened
            .commit_transition(&State::default(), Some("never-accepted"), &[])
            .await,
        AdapterErrorKind::Invalid,
    );
    assert!(take_state_writes(&store).await.is_empty(), "rolled back");
    commit_state(&reopened, &state).await;
    assert_eq!(take_state_writes(&store).await.len(), 5);
    assert_eq!(reopened.load_state().await.expect("loads"), Some(state));
}

#[tokio::test]
async fn a_version_1_database_is_read_and_converted_by_the_first_commit() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("data").join("keptn.db");
    std::fs::create_dir_all(dir.path().join("data")).expect("creates the directory");
    // A database as the previous version left it: schema 1, the whole state in one row.
    let (state, emitted) = running_state();
    assert!(!state.executions.is_empty() && !state.shipyards.is_empty());
    {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePool::connect_with(options).await.expect("opens");
        super::schema::migrator_up_to(1)
            .run(&pool)
            .await
            .expect("migrates to version 1");
        sqlx::query("INSERT INTO state (id, json) VALUES (1, ?)")
            .bind(serde_json::to_string(&state).expect("encodes"))
            .execute(&pool)
            .await
            .expect("writes the old state row");
        pool.close().await;
    }
    let store = open(&dir).await;
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&store.pool)
        .await
        .expect("reads");
    assert_eq!(version, 2);
    assert_eq!(
        store.load_state().await.expect("loads"),
        Some(state.clone())
    );
    // The first commit moves the executions and shipyards into their rows.
    store.accept(&delivery("t1", "c1")).await.expect("accepts");
    store
        .commit_transition(&state, Some("t1"), &emitted)
        .await
        .expect("commits");
    let row: String = sqlx::query_scalar("SELECT json FROM state WHERE id = 1")
        .fetch_one(&store.pool)
        .await
        .expect("reads");
    let rest: State = serde_json::from_str(&row).expect("the row is still a State");
    assert!(rest.executions.is_empty() && rest.shipyards.is_empty());
    assert_eq!(rest.next_event_number, state.next_event_number);
    let n_entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM state_entries")
        .fetch_one(&store.pool)
        .await
        .expect("reads");
    assert_eq!(
        n_entries,
        i64::try_from(state.executions.len() + state.shipyards.len()).expect("small")
    );
    store.close().await;
    let store = open(&dir).await;
    assert_eq!(store.load_state().await.expect("loads"), Some(state));
}

#[tokio::test]
async fn a_corrupt_state_entry_is_reported_with_its_key() {
    let (_dir, store) = fresh().await;
    let (state, _) = running_state();
    commit_state(&store, &state).await;
    sqlx::query("UPDATE state_entries SET json = '{' WHERE kind = 'execution'")
        .execute(&store.pool)
        .await
        .expect("breaks the row");
    let id = state.executions.keys().next().expect("one execution");
    let message = assert_kind(store.load_state().await, AdapterErrorKind::Failed);
    assert_eq!(
        message,
        format!("stored state entry 'execution/{id}' cannot be decoded")
    );
}

#[test]
fn batches_are_cut_into_powers_of_two() {
    let lengths = |n: usize| -> Vec<usize> {
        let items: Vec<usize> = (0..n).collect();
        let chunks: Vec<&[usize]> = super::client::chunks(&items).collect();
        assert_eq!(chunks.concat(), items, "every item once, in order");
        chunks.iter().map(|chunk| chunk.len()).collect()
    };
    assert_eq!(lengths(0), Vec::<usize>::new());
    assert_eq!(lengths(1), [1]);
    assert_eq!(lengths(7), [4, 2, 1]);
    assert_eq!(lengths(64), [64]);
    assert_eq!(lengths(200), [64, 64, 64, 8]);
}

fn numbered(prefix: &str, n: usize) -> Vec<KeptnEvent> {
    (0..n)
        .map(|idx| delivery(&format!("{prefix}{idx}"), &format!("c-{prefix}{idx}")))
        .collect()
}

#[tokio::test]
async fn a_large_batch_commits_in_several_statements_all_or_nothing() {
    let (_dir, store) = fresh().await;
    let (state, emitted) = running_state();
    let earlier = numbered("early-", 70);
    let accepted = store.accept_batch(&earlier).await.expect("accepts");
    assert!(accepted.iter().all(|&accepted| accepted));
    let earlier_ids: Vec<String> = earlier.iter().map(|event| event.id.clone()).collect();
    let incoming = numbered("new-", 100);
    let n_history = |store: &Sqlite| {
        let store = store.clone();
        async move {
            store
                .events(&EventFilter::default())
                .await
                .expect("lists")
                .len()
        }
    };

    // A duplicate deep in the batch (it repeats an earlier one of the batch).
    let mut clashing = numbered("other-", 100);
    clashing[90].id = clashing[3].id.clone();
    let message = assert_kind(
        store
            .commit_accepting(&state, &clashing, &earlier_ids, &emitted)
            .await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(
        message,
        "emitted event 'other-3' has the id of an event in the history"
    );
    // An unknown id late in the processed list.
    let mut processed = earlier_ids.clone();
    processed.insert(65, "never-accepted".to_owned());
    let message = assert_kind(
        store
            .commit_accepting(&state, &incoming, &processed, &emitted)
            .await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        message,
        "event 'never-accepted' was never accepted, so it cannot be marked processed"
    );
    assert_eq!(n_history(&store).await, 70, "nothing half written");
    assert_eq!(store.unprocessed().await.expect("lists").len(), 70);
    assert_eq!(store.load_state().await.expect("loads"), None);

    store
        .commit_accepting(&state, &incoming, &earlier_ids, &emitted)
        .await
        .expect("commits");
    assert_eq!(n_history(&store).await, 170 + emitted.len());
    assert!(store.unprocessed().await.expect("lists").is_empty());
    assert_eq!(store.unpublished().await.expect("lists"), emitted);
    let new_ids: Vec<String> = incoming.iter().map(|event| event.id.clone()).collect();
    assert!(
        store
            .known_ids(&new_ids)
            .await
            .expect("looks up")
            .into_iter()
            .all(|known| known)
    );
    // An emitted event repeating one accepted in the batch before (the 71st of the incoming).
    let again = numbered("again-", 80);
    let mut emitting = emitted.clone();
    emitting
        .iter_mut()
        .for_each(|event| event.id.push_str("-2"));
    emitting.push(again[71].clone());
    let message = assert_kind(
        store
            .commit_accepting(&State::default(), &again, &[], &emitting)
            .await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(
        message,
        "emitted event 'again-71' has the id of an event in the history"
    );
    assert_eq!(store.load_state().await.expect("loads"), Some(state));
}

/// Frames in the write-ahead log file (a 32-byte header, then 24 bytes and a page each).
fn wal_frames(store: &Sqlite) -> u64 {
    let wal_bytes = std::fs::metadata(format!("{}-wal", store.path().display()))
        .expect("the write-ahead log exists")
        .len();
    wal_bytes.saturating_sub(32) / (4096 + 24)
}

async fn wait_for_checkpoint(store: &Sqlite) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store
        .checkpoints
        .running
        .load(std::sync::atomic::Ordering::Acquire)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a checkpoint runs for 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_write_ahead_log_is_checkpointed_in_the_background() {
    let (_dir, store) = fresh().await;
    let n_rounds = 8;
    let mut frames_of_a_round = 0;
    for round in 0..n_rounds {
        for idx in 0..super::CHECKPOINT_EVERY {
            let event = delivery(&format!("e{round}-{idx}"), "c1");
            store
                .commit_accepting(&State::default(), &[event], &[], &[])
                .await
                .expect("commits");
        }
        if round == 0 {
            frames_of_a_round = wal_frames(&store);
        }
        // A pause in the writes: the checkpoint catches up, the next write starts the log over.
        wait_for_checkpoint(&store).await;
    }
    // Without background checkpoints the log would hold every round (far fewer pages than
    // SQLite's own threshold); the file keeps the size of the largest round.
    let n_frames = wal_frames(&store);
    assert!(
        frames_of_a_round > 0 && n_frames < 2 * frames_of_a_round,
        "{n_frames} frames in the log after {n_rounds} rounds of {frames_of_a_round}"
    );
}

// The store contract (crate::testing), on fresh files.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_contract() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut n_stores = 0;
    crate::testing::check_store(|| {
        n_stores += 1;
        let config = Config::new(dir.path().join(format!("store-{n_stores}.db")));
        async move {
            Sqlite::open(config.validate().expect("the test config is valid"))
                .await
                .expect("a temporary database opens")
        }
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_what_was_committed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    crate::testing::check_reopen(|| open(&dir)).await;
}

/// Inserts `events` as an earlier version accepted them: in the inbox, unprocessed.
async fn insert_unprocessed(store: &Sqlite, events: Vec<KeptnEvent>) {
    for event in events {
        sqlx::query(
            "INSERT INTO events \
             (id, type, keptn_context, project, stage, service, json, processed, published) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL)",
        )
        .bind(&event.id)
        .bind(event.event_type.to_string())
        .bind(event.keptn_context.as_deref())
        .bind(event.data.project.as_deref())
        .bind(event.data.stage.as_deref())
        .bind(event.data.service.as_deref())
        .bind(event.to_json())
        .execute(&store.writer)
        .await
        .expect("inserts an inbox row");
    }
}

#[tokio::test]
async fn inbox_rows_of_an_earlier_version_are_replayed() {
    let (_dir, store) = fresh().await;
    crate::testing::check_legacy_inbox(&store, |events| insert_unprocessed(&store, events)).await;
}

#[tokio::test]
async fn errors_name_what_failed() {
    let (_dir, store) = fresh().await;
    let messages: Vec<String> = crate::testing::contract_errors(&store)
        .await
        .into_iter()
        .map(|error| error.message)
        .collect();
    assert_eq!(
        messages,
        [
            "event of type 'sh.keptn.event.dev.delivery.triggered' has an empty id",
            "event of type 'sh.keptn.event.dev.delivery.triggered' has an empty id",
            "event 'never-accepted' was never accepted, so it cannot be marked processed",
            "emitted event 't1' has the id of an event in the history",
            "emitted event 't1' has the id of an event in the history",
            "emitted event 'x1' has the id of an event in the history",
            "emitted event 'other-3' has the id of an event in the history",
            "emitted event 'again-71' has the id of an event in the history",
            "project 'sockshop' exists already",
            "project 'nope' does not exist",
            "project 'nope' does not exist",
            "time 18446744073709551615 is too large to store",
        ]
    );
}
