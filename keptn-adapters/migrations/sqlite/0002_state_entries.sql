-- keptn-rs store, schema version 2: the orchestrator state in rows. Applied once by the embedded
-- migrator (keptn-adapters/src/sqlite/schema.rs). Never edit an applied migration: add the next file.

-- The large parts of keptn_core::orchestrator::State, one row each, so a commit rewrites only
-- the ones that changed: kind 'execution' (key: the execution id in decimal) and 'shipyard'
-- (key: the project name); json is the serde JSON of the Execution or Shipyard. The `state`
-- row keeps the rest, with those two maps written empty.
--
-- A database of version 1 keeps everything in the `state` row until the first commit after the
-- upgrade, which moves it here (the store reads both layouts), so this migration moves no data.
CREATE TABLE state_entries (
    kind TEXT NOT NULL CHECK (kind IN ('execution', 'shipyard')),
    key TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
