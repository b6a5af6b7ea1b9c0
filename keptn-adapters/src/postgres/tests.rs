//! Unit tests against a real PostgreSQL server: each test creates its own database and drops
//! it at the end, so tests run in parallel. The server is `KEPTN_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a maintenance database the tests connect to
//! for `CREATE DATABASE`). Without a reachable server a test prints a line and passes, except
//! under `CI=true`, where it fails.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keptn_core::event::{EventData, EventType, KeptnEvent, Timestamp};
use keptn_core::orchestrator::{self, Input, Orchestrator, Output, State};
use keptn_core::ports::{
    AdapterError, AdapterErrorKind, EvaluationRecord, EventFilter, ProjectRecord, Store,
};
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::{Config, Error, Postgres};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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

// A database per test.

fn admin_url() -> String {
    std::env::var("KEPTN_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    format!("{scheme}://{authority}/{database}{query}")
}

/// A database of its own for one test, dropped (with its connections) when this goes away,
/// also when the test panics.
struct TestDb {
    name: String,
    url: String,
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// `None` (after a line on stderr) when the server is unreachable outside CI.
    async fn create() -> Option<Self> {
        let admin_url = admin_url();
        let connected =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url)).await;
        let mut admin = match connected {
            Ok(Ok(admin)) => admin,
            Ok(Err(error)) => return unreachable(&admin_url, &error.to_string()),
            Err(_) => return unreachable(&admin_url, "timed out after 5 s"),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!(
            "keptn_test_{}_{}_{}",
            std::process::id(),
            nanos,
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("the test database is created");
        admin.close().await.expect("closes");
        Some(Self {
            url: with_database(&admin_url, &name),
            name,
        })
    }

    async fn open(&self) -> Postgres {
        Postgres::open(
            Config::new(&self.url)
                .validate()
                .expect("the test config is valid"),
        )
        .await
        .expect("the test database opens")
    }

    /// A connection of the test's own, outside the store.
    async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connects")
    }
}

fn unreachable<T>(url: &str, why: &str) -> Option<T> {
    let url = super::config::redact(url);
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "PostgreSQL at {url} (KEPTN_TEST_POSTGRES_URL) is required under CI=true: {why}"
    );
    eprintln!("skipped: PostgreSQL at {url} is unreachable: {why}");
    None
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin_url = admin_url();
        // Drop runs inside the test's runtime, which cannot be blocked on: another thread with
        // a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("cannot drop the test database {}: {dropped:?}", self.name);
        }
    }
}

macro_rules! test_db {
    () => {
        match TestDb::create().await {
            Some(db) => db,
            None => return,
        }
    };
}

// Fixtures, as in the SQLite store's tests.

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

fn numbered(prefix: &str, n: usize) -> Vec<KeptnEvent> {
    (0..n)
        .map(|idx| delivery(&format!("{prefix}{idx}"), &format!("c-{prefix}{idx}")))
        .collect()
}

fn assert_kind<T: std::fmt::Debug>(
    result: Result<T, AdapterError>,
    kind: AdapterErrorKind,
) -> String {
    let error = result.expect_err("the call fails");
    assert_eq!(error.kind, kind, "{error}");
    error.message
}

// Configuration and opening.

#[test]
fn config_validation() {
    let valid = Config::new("postgres://keptn:s3cret@db.example:6543/keptn")
        .validate()
        .expect("valid");
    assert_eq!(valid.database(), "db.example:6543/keptn");
    assert_eq!(valid.max_connections(), super::DEFAULT_MAX_CONNECTIONS);
    assert!(
        !format!("{valid:?}").contains("s3cret"),
        "the password stays out of Debug"
    );
    let check = |config: Config, expected: &str| {
        let error = config.validate().expect_err("invalid");
        assert_eq!(error.to_string(), expected);
        assert_eq!(AdapterError::from(error).kind, AdapterErrorKind::Invalid);
    };
    check(
        Config::new(""),
        "invalid postgres store configuration: url: must not be empty",
    );
    check(
        Config::new("mysql://root:pw@db/keptn"),
        "invalid postgres store configuration: url: 'mysql://root:***@db/keptn' is not a \
         PostgreSQL URL (postgres://user@host:5432/database)",
    );
    check(
        Config::new("postgres://keptn@db.example:5432"),
        "invalid postgres store configuration: url: 'postgres://keptn@db.example:5432' names \
         no database (postgres://user@host:5432/database)",
    );
    check(
        Config {
            url: "postgresql://keptn:pw@db/keptn".into(),
            max_connections: 0,
        },
        "invalid postgres store configuration: max_connections: must be at least 1",
    );
}

#[test]
fn config_from_json_has_a_default_pool_size_and_rejects_unknown_fields() {
    let parsed: Config =
        serde_json::from_value(json!({"url": "postgres://db/keptn"})).expect("parses");
    assert_eq!(parsed, Config::new("postgres://db/keptn"));
    let parsed: Result<Config, _> =
        serde_json::from_value(json!({"url": "postgres://db/keptn", "uri": "x"}));
    let error = parsed.expect_err("an unknown field is refused");
    assert!(error.to_string().contains("unknown field `uri`"), "{error}");
    assert!(
        !format!("{:?}", Config::new("postgres://u:hunter2@db/keptn")).contains("hunter2"),
        "the password stays out of Debug"
    );
}

#[test]
fn test_urls_name_the_test_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/postgres?sslmode=disable", "t1"),
        "postgres://u:p@h/t1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:1", "t1"), "postgres://h:1/t1");
}

#[tokio::test]
async fn an_unreachable_server_is_an_open_error_without_the_password() {
    // Port 1: nothing listens there.
    let config = Config::new("postgres://keptn:s3cret@127.0.0.1:1/keptn");
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        Postgres::open(config.validate().expect("valid")),
    )
    .await
    .expect("gives up within the acquire timeout")
    .expect_err("nothing listens on port 1");
    assert!(matches!(error, Error::Open { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "cannot connect to the database '127.0.0.1:1/keptn'"
    );
    let error = AdapterError::from(error);
    assert!(
        matches!(
            error.kind,
            AdapterErrorKind::Unavailable | AdapterErrorKind::Timeout
        ),
        "{error}"
    );
}

#[tokio::test]
async fn open_migrates_once_and_refuses_a_newer_schema() {
    let db = test_db!();
    let store = db.open().await;
    assert_eq!(store.database().rsplit('/').next(), Some(db.name.as_str()));
    // Opening again (a second replica) applies nothing twice.
    let again = db.open().await;
    let mut connection = db.connect().await;
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&mut connection)
        .await
        .expect("reads");
    assert_eq!(versions, [1]);
    // Durable commits, and plans made for the table as it is (a generic plan cached while the
    // history was small scanned the whole table for every id lookup later: 1,000 events/s
    // instead of 6,800 after 48,000 events).
    let settings: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('synchronous_commit'), current_setting('application_name'), \
         current_setting('plan_cache_mode')",
    )
    .fetch_one(&store.pool)
    .await
    .expect("reads");
    assert_eq!(
        settings,
        (
            "on".to_owned(),
            "keptn".to_owned(),
            "force_custom_plan".to_owned()
        )
    );
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .execute(&mut connection)
    .await
    .expect("inserts");
    store.close().await;
    again.close().await;
    let error = Postgres::open(Config::new(&db.url).validate().expect("valid"))
        .await
        .expect_err("schema version 99 is unknown to this binary");
    assert!(matches!(error, Error::Migrate { .. }), "{error:?}");
    connection.close().await.expect("closes");
}

// State, inbox and outbox.

#[tokio::test]
async fn state_is_none_until_committed_then_round_trips() {
    let db = test_db!();
    let store = db.open().await;
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
    // Another store (a restarted replica) reads the same state.
    assert_eq!(
        db.open().await.load_state().await.expect("loads"),
        Some(state)
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
    let db = test_db!();
    let store = db.open().await;
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
    // A batch: new, known, new, and a repeat of the batch's own first event.
    let batch = [
        delivery("e2", "c1"),
        delivery("e1", "c1"),
        delivery("e3", "c1"),
        delivery("e2", "c9"),
    ];
    assert_eq!(
        store.accept_batch(&batch).await.expect("accepts"),
        [true, false, true, false]
    );
    let unprocessed = store.unprocessed().await.expect("lists");
    assert_eq!(ids(&unprocessed), ["e1", "e2", "e3"]);
    assert_eq!(unprocessed[1], batch[0], "the first of the twins is kept");
    assert!(store.accept_batch(&[]).await.expect("accepts").is_empty());
}

#[tokio::test]
async fn accept_of_an_emitted_id_is_a_duplicate() {
    let db = test_db!();
    let store = db.open().await;
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
    let db = test_db!();
    let store = db.open().await;
    let message = assert_kind(
        store.accept(&delivery("", "c1")).await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        message,
        "event of type 'sh.keptn.event.dev.delivery.triggered' has an empty id"
    );
    assert!(
        store
            .events(&EventFilter::default())
            .await
            .expect("lists")
            .is_empty()
    );
}

#[tokio::test]
async fn unprocessed_lists_oldest_first_until_processed() {
    let db = test_db!();
    let store = db.open().await;
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
    let db = test_db!();
    let store = db.open().await;
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
    let db = test_db!();
    let store = db.open().await;
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
    let db = test_db!();
    let store = db.open().await;
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
    // An emitted event reuses a history id (after others were written in the same
    // transaction): the state, the processed mark and the other events are rolled back.
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
    let message = assert_kind(
        store.commit_transition(&after, Some("t1"), &twins).await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(
        message,
        "emitted event 'x1' has the id of an event in the history"
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
async fn commit_accepting_records_new_events_as_processed_in_the_same_transaction() {
    let db = test_db!();
    let store = db.open().await;
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
    let message = assert_kind(
        store
            .commit_accepting(&State::default(), std::slice::from_ref(&incoming), &[], &[])
            .await,
        AdapterErrorKind::Conflict,
    );
    assert_eq!(
        message,
        "emitted event 't1' has the id of an event in the history"
    );
    assert_eq!(store.load_state().await.expect("reads"), Some(state));
}

#[tokio::test]
async fn a_large_batch_commits_all_or_nothing() {
    let db = test_db!();
    let store = db.open().await;
    let (state, emitted) = running_state();
    let earlier = numbered("early-", 70);
    let accepted = store.accept_batch(&earlier).await.expect("accepts");
    assert!(accepted.iter().all(|&accepted| accepted));
    let earlier_ids: Vec<String> = earlier.iter().map(|event| event.id.clone()).collect();
    let incoming = numbered("new-", 100);
    let n_history = |store: &Postgres| {
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
    // The history keeps the order of the batch.
    let history = store.events(&EventFilter::default()).await.expect("lists");
    assert_eq!(ids(&history[70..170]), ids(&incoming));
    // An emitted event repeating one accepted in the batch before (the 72nd of the incoming).
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
    assert_eq!(n_history(&store).await, 170 + emitted.len());
}

#[tokio::test]
async fn reopening_keeps_state_inbox_outbox_and_history() {
    let db = test_db!();
    let (state, emitted) = running_state();
    {
        let store = db.open().await;
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
            .create_project(&project("sockshop", &["carts"]))
            .await
            .expect("creates");
        // Dropped without close.
    }
    let store = db.open().await;
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

// The state in rows.

/// Records every write to the state rows in `state_writes` (triggers fire for every
/// connection).
async fn record_state_writes(connection: &mut PgConnection) {
    sqlx::raw_sql(
        "CREATE TABLE state_writes (seq BIGSERIAL PRIMARY KEY, what TEXT NOT NULL);
         CREATE FUNCTION record_entry_write() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF TG_OP = 'DELETE' THEN
                 INSERT INTO state_writes (what) VALUES ('delete ' || OLD.kind || '/' || OLD.key);
             ELSE
                 INSERT INTO state_writes (what)
                 VALUES (lower(TG_OP) || ' ' || NEW.kind || '/' || NEW.key);
             END IF;
             RETURN NULL;
         END $$;
         CREATE TRIGGER entry_written AFTER INSERT OR UPDATE OR DELETE ON state_entries
             FOR EACH ROW EXECUTE FUNCTION record_entry_write();
         CREATE FUNCTION record_rest_write() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO state_writes (what) VALUES (lower(TG_OP) || ' state');
             RETURN NULL;
         END $$;
         CREATE TRIGGER rest_written AFTER INSERT OR UPDATE ON state
             FOR EACH ROW EXECUTE FUNCTION record_rest_write();",
    )
    .execute(connection)
    .await
    .expect("creates the triggers");
}

/// The state writes since the last call, in order.
async fn take_state_writes(connection: &mut PgConnection) -> Vec<String> {
    let mut writes: Vec<(String, i64)> =
        sqlx::query_as("DELETE FROM state_writes RETURNING what, seq")
            .fetch_all(&mut *connection)
            .await
            .expect("takes the writes");
    writes.sort_by_key(|(_, seq)| *seq);
    writes.into_iter().map(|(what, _)| what).collect()
}

async fn commit_state(store: &Postgres, state: &State) {
    store
        .commit_transition(state, None, &[])
        .await
        .expect("commits");
}

fn sorted(mut writes: Vec<String>) -> Vec<String> {
    writes.sort();
    writes
}

#[tokio::test]
async fn a_commit_writes_only_the_state_rows_that_changed() {
    let db = test_db!();
    let store = db.open().await;
    let mut watcher = db.connect().await;
    record_state_writes(&mut watcher).await;
    let (mut state, _) = running_state();
    let first_id = *state.executions.keys().next().expect("one execution");
    commit_state(&store, &state).await;
    assert_eq!(
        take_state_writes(&mut watcher).await,
        [
            "insert state".to_owned(),
            "insert shipyard/sockshop".to_owned(),
            format!("insert execution/{first_id}"),
        ]
    );
    // Unchanged: nothing is written.
    commit_state(&store, &state).await;
    assert!(take_state_writes(&mut watcher).await.is_empty());

    // A new execution (and the counter in the `state` row).
    let second_id = state.next_execution_id;
    let mut second = state.executions[&first_id].clone();
    second.id = second_id;
    state.executions.insert(second_id, second);
    state.next_execution_id += 1;
    commit_state(&store, &state).await;
    assert_eq!(
        take_state_writes(&mut watcher).await,
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
        take_state_writes(&mut watcher).await,
        [format!("update execution/{first_id}")]
    );
    // One ends, and the shipyard changes.
    state.executions.remove(&first_id);
    if let Some(shipyard) = state.shipyards.get_mut("sockshop") {
        shipyard.stages[0].sequences[0].tasks.pop();
    }
    commit_state(&store, &state).await;
    assert_eq!(
        take_state_writes(&mut watcher).await,
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
    let reopened = db.open().await;
    assert_eq!(
        reopened.load_state().await.expect("loads"),
        Some(state.clone())
    );
    commit_state(&reopened, &state).await;
    assert_eq!(
        sorted(take_state_writes(&mut watcher).await),
        sorted(vec![
            format!("delete execution/{second_id}"),
            "delete shipyard/sockshop".to_owned(),
            "update state".to_owned(),
            "insert shipyard/sockshop".to_owned(),
            format!("insert execution/{second_id}"),
        ])
    );
    commit_state(&reopened, &state).await;
    assert!(take_state_writes(&mut watcher).await.is_empty());
    // After a failed commit the store forgets what the rows hold and rewrites them.
    assert_kind(
        reopened
            .commit_transition(&State::default(), Some("never-accepted"), &[])
            .await,
        AdapterErrorKind::Invalid,
    );
    assert!(
        take_state_writes(&mut watcher).await.is_empty(),
        "rolled back"
    );
    commit_state(&reopened, &state).await;
    assert_eq!(take_state_writes(&mut watcher).await.len(), 5);
    assert_eq!(reopened.load_state().await.expect("loads"), Some(state));
    watcher.close().await.expect("closes");
}

#[tokio::test]
async fn a_corrupt_state_entry_or_event_is_reported_with_its_key() {
    let db = test_db!();
    let store = db.open().await;
    let (state, _) = running_state();
    commit_state(&store, &state).await;
    store.accept(&delivery("e1", "c1")).await.expect("accepts");
    let mut connection = db.connect().await;
    sqlx::query("UPDATE state_entries SET json = '{' WHERE kind = 'execution'")
        .execute(&mut connection)
        .await
        .expect("breaks the row");
    sqlx::query("UPDATE events SET json = '{\"id\": 42' WHERE id = 'e1'")
        .execute(&mut connection)
        .await
        .expect("breaks the row");
    let id = state.executions.keys().next().expect("one execution");
    let message = assert_kind(store.load_state().await, AdapterErrorKind::Failed);
    assert_eq!(
        message,
        format!("stored state entry 'execution/{id}' cannot be decoded")
    );
    let message = assert_kind(store.unprocessed().await, AdapterErrorKind::Failed);
    assert_eq!(message, "stored event 'e1' cannot be decoded");
    let error = store
        .events(&EventFilter::default())
        .await
        .expect_err("fails");
    assert!(error.source.is_some(), "the decode error is the source");
    connection.close().await.expect("closes");
}

// History queries.

async fn history_store(db: &TestDb) -> Postgres {
    let store = db.open().await;
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
    store
}

async fn check_events(store: &Postgres, filter: EventFilter, expected: &[&str]) {
    let events = store.events(&filter).await.expect("lists");
    assert_eq!(ids(&events), expected, "{filter:?}");
}

#[tokio::test]
async fn events_filter_and_order() {
    let db = test_db!();
    let store = history_store(&db).await;
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
    let db = test_db!();
    let store = db.open().await;
    assert!(store.projects().await.expect("lists").is_empty());
    store
        .create_project(&project("sockshop", &["carts", "orders"]))
        .await
        .expect("creates");
    store
        .create_project(&project("podtato", &[]))
        .await
        .expect("creates");
    // Byte order, as SQLite sorts: upper case before lower case.
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
    let mut zoo = no_remote.clone();
    zoo.services = vec!["b".into(), "a".into()];
    assert_eq!(
        store.projects().await.expect("lists"),
        [
            zoo,
            project("podtato", &["head"]),
            project("sockshop", &["carts", "orders", "adservice"]),
        ]
    );
}

#[tokio::test]
async fn project_conflicts_and_missing_projects_are_errors() {
    let db = test_db!();
    let store = db.open().await;
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
    let db = test_db!();
    let store = db.open().await;
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
    let db = test_db!();
    let store = db.open().await;
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
    let db = test_db!();
    let store = db.open().await;
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
    let message = assert_kind(
        store.record_evaluation(&evaluation("v9", u64::MAX)).await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(message, format!("time {} is too large to store", u64::MAX));
}

// Several writers on one database.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_commit_concurrently_without_lost_or_doubled_events() {
    let db = test_db!();
    let stores = [Arc::new(db.open().await), Arc::new(db.open().await)];
    let n_rounds = 60;
    let mut tasks = Vec::new();
    for (store_idx, store) in stores.iter().enumerate() {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for round in 0..n_rounds {
                // Both replicas receive the same event from the bus: one of them stores it.
                let shared = delivery(&format!("shared-{round}"), "c-shared");
                if store.accept(&shared).await? {
                    won.push(shared.id.clone());
                }
                // Each one's own work: an input accepted earlier, one accepted in the commit,
                // and two emitted events.
                let earlier = delivery(&format!("s{store_idx}-in-{round}"), "c1");
                assert!(store.accept(&earlier).await?, "a new id is accepted");
                let incoming = [delivery(&format!("s{store_idx}-new-{round}"), "c1")];
                let emitted = [
                    delivery(&format!("s{store_idx}-out-{round}-a"), "c1"),
                    delivery(&format!("s{store_idx}-out-{round}-b"), "c1"),
                ];
                store
                    .commit_accepting(
                        &State::default(),
                        &incoming,
                        std::slice::from_ref(&earlier.id),
                        &emitted,
                    )
                    .await?;
            }
            Ok::<_, AdapterError>(won)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(
            task.await
                .expect("the task runs")
                .expect("the writes succeed"),
        );
    }
    // Every shared event was accepted exactly once, by one store or the other.
    let distinct: HashSet<&String> = winners.iter().collect();
    assert_eq!(winners.len(), n_rounds, "{winners:?}");
    assert_eq!(distinct.len(), n_rounds);

    let history = stores[0]
        .events(&EventFilter::default())
        .await
        .expect("lists");
    let history_ids: HashSet<&str> = history.iter().map(|event| event.id.as_str()).collect();
    assert_eq!(
        history.len(),
        n_rounds * (1 + 2 * 4),
        "nothing lost or doubled"
    );
    assert_eq!(history_ids.len(), history.len(), "every id once");
    for store_idx in 0..2 {
        for round in 0..n_rounds {
            for id in [
                format!("s{store_idx}-in-{round}"),
                format!("s{store_idx}-new-{round}"),
                format!("s{store_idx}-out-{round}-a"),
                format!("s{store_idx}-out-{round}-b"),
            ] {
                assert!(history_ids.contains(id.as_str()), "{id} is missing");
            }
        }
    }
    // Only the shared events are left to process; every emitted event waits for publishing.
    let unprocessed = stores[1].unprocessed().await.expect("lists");
    assert!(
        unprocessed
            .iter()
            .all(|event| event.id.starts_with("shared-")),
        "{:?}",
        ids(&unprocessed)
    );
    assert_eq!(unprocessed.len(), n_rounds);
    assert_eq!(
        stores[1].unpublished().await.expect("lists").len(),
        2 * 2 * n_rounds
    );
    assert_eq!(
        stores[0].load_state().await.expect("loads"),
        Some(State::default())
    );
    for store in &stores {
        store.close().await;
    }
}

// Many commits in a row, timed.

/// 200 `commit_accepting` calls in a row, each of one changed execution and 8 accepted
/// events: every event is in the history and the last state is what loads. The calls are
/// timed (median, p90, p99, printed); `KEPTN_PG_COMMITS=1000` makes it the measurement of
/// BENCHMARKS.md:
/// `KEPTN_PG_COMMITS=1000 cargo test --release -p keptn-adapters --features postgres --lib postgres::tests::commits_in_a_row -- --nocapture`.
#[tokio::test]
async fn commits_in_a_row_keep_every_event_and_the_last_state() {
    let db = test_db!();
    let store = db.open().await;
    let (mut state, _) = running_state();
    let execution_id = *state.executions.keys().next().expect("one execution");
    commit_state(&store, &state).await;
    let n_calls: usize = std::env::var("KEPTN_PG_COMMITS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(200);
    let mut samples = Vec::with_capacity(n_calls);
    for call_idx in 0..n_calls {
        if let Some(execution) = state.executions.get_mut(&execution_id) {
            execution.queue_position += 1;
        }
        let accepted = numbered(&format!("call-{call_idx}-"), 8);
        let started = Instant::now();
        store
            .commit_accepting(&state, &accepted, &[], &[])
            .await
            .expect("commits");
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile).round() as usize];
    println!(
        "commit_accepting (1 execution changed, 8 accepted) n={} median={:?} p90={:?} p99={:?} max={:?}",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    assert_eq!(
        store
            .events(&EventFilter::default())
            .await
            .expect("lists")
            .len(),
        8 * n_calls
    );
    assert_eq!(store.load_state().await.expect("loads"), Some(state));
}

#[tokio::test]
async fn one_control_plane_at_a_time_holds_the_instance_lock() {
    let db = test_db!();
    let first = db.open().await;
    let second = db.open().await;
    let held = first
        .lock_instance()
        .await
        .expect("the first takes the lock");
    let refused = second.lock_instance().await.expect_err("the lock is taken");
    assert!(
        matches!(&refused, Error::InUse { database } if database == first.database()),
        "{refused:?}"
    );
    assert_eq!(AdapterError::from(refused).kind, AdapterErrorKind::Conflict);
    // Released when dropped (its session ends), so the next one gets it.
    drop(held);
    let mut taken = None;
    for _ in 0..50 {
        match second.lock_instance().await {
            Ok(lock) => {
                taken = Some(lock);
                break;
            }
            // The server ends the dropped session asynchronously.
            Err(Error::InUse { .. }) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert!(taken.is_some(), "the lock is free once its holder is gone");
}

// The store contract (crate::testing), each check on a database of its own.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_contract() {
    let Some(first) = TestDb::create().await else {
        return;
    };
    // Dropped (with their databases) at the end of the test.
    let databases = std::sync::Mutex::new(vec![first]);
    let mut n_stores = 0;
    crate::testing::check_store(|| {
        n_stores += 1;
        let databases = &databases;
        let reuse_first = n_stores == 1;
        async move {
            let db = if reuse_first {
                None
            } else {
                Some(TestDb::create().await.expect("the server answered before"))
            };
            let mut databases = databases.lock().expect("not poisoned");
            if let Some(db) = db {
                databases.push(db);
            }
            let url = databases.last().expect("one database at least").url.clone();
            drop(databases);
            Postgres::open(
                Config::new(&url)
                    .validate()
                    .expect("the test config is valid"),
            )
            .await
            .expect("the test database opens")
        }
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_what_was_committed() {
    let db = test_db!();
    crate::testing::check_reopen(|| db.open()).await;
}

/// Inserts `events` as an earlier version accepted them: in the inbox, unprocessed.
async fn insert_unprocessed(
    connection: &tokio::sync::Mutex<PgConnection>,
    events: Vec<KeptnEvent>,
) {
    let mut connection = connection.lock().await;
    for event in events {
        sqlx::query(
            "INSERT INTO events \
             (id, type, keptn_context, project, stage, service, json, processed, published) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, false, NULL)",
        )
        .bind(&event.id)
        .bind(event.event_type.to_string())
        .bind(event.keptn_context.as_deref())
        .bind(event.data.project.as_deref())
        .bind(event.data.stage.as_deref())
        .bind(event.data.service.as_deref())
        .bind(event.to_json())
        .execute(&mut *connection)
        .await
        .expect("inserts an inbox row");
    }
}

#[tokio::test]
async fn inbox_rows_of_an_earlier_version_are_replayed() {
    let db = test_db!();
    let store = db.open().await;
    let connection = tokio::sync::Mutex::new(db.connect().await);
    crate::testing::check_legacy_inbox(&store, |events| insert_unprocessed(&connection, events))
        .await;
    connection.into_inner().close().await.expect("closes");
}

#[tokio::test]
async fn errors_name_what_failed() {
    let db = test_db!();
    let store = db.open().await;
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
