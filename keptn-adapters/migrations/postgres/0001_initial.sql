-- keptn-rs PostgreSQL store, schema version 1. Applied once, in one transaction, by the embedded
-- migrator (keptn-adapters/src/postgres/schema.rs), which holds an advisory lock meanwhile so
-- replicas starting together migrate once. Never edit an applied migration: add the next file.
--
-- The same tables as the SQLite store's schema version 2 (keptn-adapters/migrations/sqlite/).

-- The orchestrator state: the serde JSON of keptn_core::orchestrator::State with its
-- `shipyards` and `executions` maps written empty; those live in `state_entries`.
CREATE TABLE state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL
);

-- The large parts of the state, one row each, so a commit rewrites only the ones that changed:
-- kind 'execution' (key: the execution id in decimal) and 'shipyard' (key: the project name);
-- json is the serde JSON of the Execution or Shipyard.
CREATE TABLE state_entries (
    kind TEXT NOT NULL CHECK (kind IN ('execution', 'shipyard')),
    key TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);

-- The event history. Every accepted (inbox) and emitted (outbox) event is one row, unique by
-- event id; `seq` orders the history (in the order sequence numbers were drawn, which under
-- concurrent writers is not always the order of the commits).
--   processed: NULL for an emitted event; false = accepted and not processed yet, true = processed.
--   published: NULL for an accepted event; false = emitted and not published yet, true = published.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    keptn_context TEXT,
    project TEXT,
    stage TEXT,
    service TEXT,
    json TEXT NOT NULL,
    processed BOOLEAN,
    published BOOLEAN,
    CHECK ((processed IS NULL) <> (published IS NULL))
);
CREATE INDEX events_by_context ON events (keptn_context, seq);
CREATE INDEX events_by_type ON events (type, seq);
CREATE INDEX events_by_scope ON events (project, stage, service, seq);
-- The inbox and the outbox are the small unfinished parts of the history.
CREATE INDEX events_unprocessed ON events (seq) WHERE processed = false;
CREATE INDEX events_unpublished ON events (seq) WHERE published = false;

CREATE TABLE projects (
    name TEXT PRIMARY KEY,
    shipyard TEXT NOT NULL,
    git_remote_url TEXT
);

-- Services of a project in creation order (`seq`); they go with their project.
CREATE TABLE services (
    seq BIGSERIAL PRIMARY KEY,
    project TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (project, name)
);

-- Evaluations stay when their project is deleted (no foreign key).
CREATE TABLE evaluations (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    stage TEXT NOT NULL,
    service TEXT NOT NULL,
    time BIGINT NOT NULL,
    data TEXT NOT NULL,
    invalidated BOOLEAN NOT NULL
);
CREATE INDEX evaluations_by_scope ON evaluations (project, stage, service, time, seq);
