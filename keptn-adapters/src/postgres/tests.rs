//! Tests of what is particular to the PostgreSQL store, against a real server: configuration,
//! opening and migrating (once, under the migrator's advisory lock), the connection settings
//! (`synchronous_commit`, `plan_cache_mode`), the state rows a commit writes, corrupt rows,
//! several writers on one database, the instance lock, and commits in a row, timed. The
//! `Store` contract itself is checked by `crate::testing`, each check on a database of its own.
//!
//! Each test creates its own database and drops it at the end, so tests run in parallel. The
//! server is `KEPTN_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! a maintenance database the tests connect to for `CREATE DATABASE`). Without a reachable
//! server a test prints a line and passes, except under `CI=true`, where it fails.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keptn_core::event::KeptnEvent;
use keptn_core::orchestrator::State;
use keptn_core::ports::{AdapterError, AdapterErrorKind, EventFilter, Store};
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgPool};

use super::{Config, Error, Postgres};
use crate::testing::{self, assert_kind, delivery, ids, numbered, running_state};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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

async fn commit_state(store: &Postgres, state: &State) {
    store.commit(state, &[], &[], &[]).await.expect("commits");
}

/// Inserts `events` as an earlier version accepted them: in the inbox, unprocessed.
async fn insert_unprocessed(pool: &PgPool, events: Vec<KeptnEvent>) {
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
        .execute(pool)
        .await
        .expect("inserts an inbox row");
    }
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

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let db = test_db!();
    let store = db.open().await;
    store.close().await;
    let error = assert_kind(store.load_state().await, AdapterErrorKind::Unavailable);
    assert_eq!(error.message, "cannot load the state");
}

// The store contract (crate::testing), each check on a database of its own.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_contract() {
    let Some(probe) = TestDb::create().await else {
        return;
    };
    // Dropped (with their databases) at the end of the test.
    let databases = &std::sync::Mutex::new(vec![probe]);
    testing::check_store(move || async move {
        let db = TestDb::create()
            .await
            .expect("the server answered a moment ago");
        let store = db.open().await;
        databases.lock().expect("not poisoned").push(db);
        store
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_what_was_committed() {
    let db = test_db!();
    testing::check_reopen(|| db.open()).await;
}

#[tokio::test]
async fn inbox_rows_of_an_earlier_version_are_replayed() {
    let db = test_db!();
    let store = db.open().await;
    testing::check_legacy_inbox(&store, |events| insert_unprocessed(&store.pool, events)).await;
    // Inbox rows outlive the store that found them.
    insert_unprocessed(&store.pool, vec![delivery("left", "c9")]).await;
    store.close().await;
    assert_eq!(
        db.open().await.unprocessed().await.expect("lists"),
        [delivery("left", "c9")]
    );
}

#[tokio::test]
async fn errors_name_what_failed() {
    let db = test_db!();
    let store = db.open().await;
    let messages: Vec<String> = testing::contract_errors(&store)
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
            .commit(&State::default(), &[], &["never-accepted".to_owned()], &[])
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
    insert_unprocessed(&store.pool, vec![delivery("e1", "c1")]).await;
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
    let error = assert_kind(store.load_state().await, AdapterErrorKind::Failed);
    assert_eq!(
        error.message,
        format!("stored state entry 'execution/{id}' cannot be decoded")
    );
    let error = assert_kind(store.unprocessed().await, AdapterErrorKind::Failed);
    assert_eq!(error.message, "stored event 'e1' cannot be decoded");
    let error = store
        .events(&EventFilter::default())
        .await
        .expect_err("fails");
    assert!(error.source.is_some(), "the decode error is the source");
    connection.close().await.expect("closes");
}

// Several writers on one database.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_commit_concurrently_without_lost_or_doubled_events() {
    let db = test_db!();
    let stores = [Arc::new(db.open().await), Arc::new(db.open().await)];
    let n_rounds = 60;
    // Inbox rows an earlier version left, which the commits of both stores mark processed.
    let earlier: Vec<KeptnEvent> = (0..2)
        .flat_map(|store_idx| {
            (0..n_rounds).map(move |round| delivery(&format!("s{store_idx}-in-{round}"), "c1"))
        })
        .collect();
    insert_unprocessed(&stores[0].pool, earlier).await;
    let mut tasks = Vec::new();
    for (store_idx, store) in stores.iter().enumerate() {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for round in 0..n_rounds {
                // Both replicas receive the same event from the bus: one of them stores it, the
                // other one's commit of it fails.
                let shared = delivery(&format!("shared-{round}"), "c-shared");
                match store
                    .commit(&State::default(), std::slice::from_ref(&shared), &[], &[])
                    .await
                {
                    Ok(()) => won.push(shared.id.clone()),
                    Err(error) if error.kind == AdapterErrorKind::Conflict => {}
                    Err(error) => return Err(error),
                }
                // Each one's own work: an inbox event, one accepted in the commit, and two
                // emitted events.
                let earlier_id = format!("s{store_idx}-in-{round}");
                let incoming = [delivery(&format!("s{store_idx}-new-{round}"), "c1")];
                let emitted = [
                    delivery(&format!("s{store_idx}-out-{round}-a"), "c1"),
                    delivery(&format!("s{store_idx}-out-{round}-b"), "c1"),
                ];
                store
                    .commit(
                        &State::default(),
                        &incoming,
                        std::slice::from_ref(&earlier_id),
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
    // Every shared event was stored exactly once, by one store or the other.
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
    // Nothing is left to process; every emitted event waits for publishing.
    let unprocessed = stores[1].unprocessed().await.expect("lists");
    assert!(unprocessed.is_empty(), "{:?}", ids(&unprocessed));
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

/// 200 `commit` calls in a row, each of one changed execution and 8 accepted
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
            .commit(&state, &accepted, &[], &[])
            .await
            .expect("commits");
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile).round() as usize];
    println!(
        "commit (1 execution changed, 8 accepted) n={} median={:?} p90={:?} p99={:?} max={:?}",
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
