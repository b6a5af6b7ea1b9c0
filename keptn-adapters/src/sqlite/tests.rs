//! Tests of what is particular to the SQLite store, against real files in temporary
//! directories: configuration, opening, the connection settings (WAL, `synchronous=FULL`),
//! migrations and the conversion of version-1 state rows, the state rows a commit writes,
//! corrupt rows, batches cut into statements, background checkpoints, and the inbox rows an
//! earlier version left. The `Store` contract itself is checked by `crate::testing`, here on
//! fresh files.

use std::path::Path;

use keptn_core::event::KeptnEvent;
use keptn_core::orchestrator::State;
use keptn_core::ports::{AdapterError, AdapterErrorKind, EventFilter, Store};
use serde_json::json;
use tempfile::TempDir;

use super::{Config, Error, Sqlite};
use crate::testing::{self, assert_kind, delivery, running_state};

async fn open_path(path: &Path) -> Sqlite {
    Sqlite::open(
        Config::new(path)
            .validate()
            .expect("the test config is valid"),
    )
    .await
    .expect("a temporary database opens")
}

async fn open(dir: &TempDir) -> Sqlite {
    open_path(&dir.path().join("data").join("keptn.db")).await
}

async fn fresh() -> (TempDir, Sqlite) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(&dir).await;
    (dir, store)
}

async fn commit_state(store: &Sqlite, state: &State) {
    store.commit(state, &[], &[], &[]).await.expect("commits");
}

/// Inserts `events` as an earlier version accepted them: in the inbox, unprocessed.
async fn insert_unprocessed(store: &Sqlite, events: Vec<KeptnEvent>) {
    insert_unprocessed_into(&store.writer, events).await;
}

async fn insert_unprocessed_into(pool: &sqlx::SqlitePool, events: Vec<KeptnEvent>) {
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
        .execute(pool)
        .await
        .expect("inserts an inbox row");
    }
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

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let (_dir, store) = fresh().await;
    store.close().await;
    let error = assert_kind(store.load_state().await, AdapterErrorKind::Unavailable);
    assert_eq!(error.message, "cannot load the state");
}

// The store contract (crate::testing), on fresh files.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_contract() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut n_stores = 0;
    testing::check_store(|| {
        n_stores += 1;
        let path = dir.path().join(format!("store-{n_stores}.db"));
        async move { open_path(&path).await }
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_what_was_committed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    testing::check_reopen(|| open(&dir)).await;
}

#[tokio::test]
async fn inbox_rows_of_an_earlier_version_are_replayed() {
    let (dir, store) = fresh().await;
    testing::check_legacy_inbox(&store, |events| insert_unprocessed(&store, events)).await;
    // Inbox rows outlive the store that found them.
    insert_unprocessed(&store, vec![delivery("left", "c9")]).await;
    drop(store);
    let store = open(&dir).await;
    assert_eq!(
        store.unprocessed().await.expect("lists"),
        [delivery("left", "c9")]
    );
}

#[tokio::test]
async fn errors_name_what_failed() {
    let (_dir, store) = fresh().await;
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

// The state in rows, corrupt rows, and large batches.

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
            .commit(&State::default(), &[], &["never-accepted".to_owned()], &[])
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
    // A database as the previous version left it: schema 1, the whole state in one row, an
    // event accepted and not processed yet.
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
        insert_unprocessed_into(&pool, vec![delivery("t1", "c1")]).await;
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
    assert_eq!(
        store.unprocessed().await.expect("lists"),
        [delivery("t1", "c1")]
    );
    // The first commit (the replay of the inbox event) moves the executions and shipyards
    // into their rows.
    store
        .commit(&state, &[], &["t1".to_owned()], &emitted)
        .await
        .expect("commits");
    assert!(store.unprocessed().await.expect("lists").is_empty());
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
    let error = assert_kind(store.load_state().await, AdapterErrorKind::Failed);
    assert_eq!(
        error.message,
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
                .commit(&State::default(), &[event], &[], &[])
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

#[tokio::test]
async fn a_corrupt_stored_event_is_reported_with_its_id() {
    let (_dir, store) = fresh().await;
    insert_unprocessed(&store, vec![delivery("e1", "c1")]).await;
    sqlx::query("UPDATE events SET json = '{\"id\": 42' WHERE id = 'e1'")
        .execute(&store.pool)
        .await
        .expect("updates");
    let error = assert_kind(store.unprocessed().await, AdapterErrorKind::Failed);
    assert_eq!(error.message, "stored event 'e1' cannot be decoded");
    let error = store
        .events(&EventFilter::default())
        .await
        .expect_err("fails");
    assert!(error.source.is_some(), "the decode error is the source");
}
