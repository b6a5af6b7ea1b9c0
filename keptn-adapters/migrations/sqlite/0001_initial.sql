-- keptn-rs store, schema version 1. Applied once, in one transaction, by the embedded migrator
-- (keptn-adapters/src/sqlite/schema.rs). Never edit an applied migration: add the next file.

-- The orchestrator state: one row, the serde JSON of keptn_core::orchestrator::State.
CREATE TABLE state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL
);

-- The event history. Every accepted (inbox) and emitted (outbox) event is one row, unique by
-- event id; `seq` orders the history.
--   processed: NULL for an emitted event; 0 = accepted and not processed yet, 1 = processed.
--   published: NULL for an accepted event; 0 = emitted and not published yet, 1 = published.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    keptn_context TEXT,
    project TEXT,
    stage TEXT,
    service TEXT,
    json TEXT NOT NULL,
    processed INTEGER CHECK (processed IN (0, 1)),
    published INTEGER CHECK (published IN (0, 1)),
    CHECK ((processed IS NULL) <> (published IS NULL))
);
CREATE INDEX events_by_context ON events (keptn_context, seq);
CREATE INDEX events_by_type ON events (type, seq);
CREATE INDEX events_by_scope ON events (project, stage, service, seq);
-- The inbox and the outbox are the small unfinished parts of the history.
CREATE INDEX events_unprocessed ON events (seq) WHERE processed = 0;
CREATE INDEX events_unpublished ON events (seq) WHERE published = 0;

CREATE TABLE projects (
    name TEXT PRIMARY KEY,
    shipyard TEXT NOT NULL,
    git_remote_url TEXT
);

-- Services of a project in creation order (`seq`); they go with their project.
CREATE TABLE services (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (project, name)
);

-- Evaluations stay when their project is deleted (no foreign key).
CREATE TABLE evaluations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    stage TEXT NOT NULL,
    service TEXT NOT NULL,
    time INTEGER NOT NULL,
    data TEXT NOT NULL,
    invalidated INTEGER NOT NULL CHECK (invalidated IN (0, 1))
);
CREATE INDEX evaluations_by_scope ON evaluations (project, stage, service, time, seq);
