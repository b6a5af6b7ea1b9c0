//! The schema, as embedded migrations.
//!
//! The SQL files live in `keptn-adapters/migrations/sqlite/` and are compiled into the binary,
//! so a `keptn` binary upgrades its own database and needs no files next to it. sqlx records
//! each applied migration with a checksum in `_sqlx_migrations`: an edited migration, or a
//! database written by a newer binary, is refused at open instead of being misread.
//!
//! They are listed by hand rather than with `sqlx::migrate!`, which needs sqlx's `macros`
//! feature (proc macros and their build cost) for nothing else here.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration, in version order. Add a file and a line; never edit an applied one.
const MIGRATIONS: [(i64, &str, &str); 2] = [
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "state entries",
        include_str!("../../migrations/sqlite/0002_state_entries.sql"),
    ),
];

/// The migrator for the current schema.
pub(super) fn migrator() -> Migrator {
    migrator_up_to(i64::MAX)
}

/// The migrator for the schema as of `version` (tests build old databases with it).
pub(super) fn migrator_up_to(version: i64) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .filter(|&&(migration_version, _, _)| migration_version <= version)
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}
