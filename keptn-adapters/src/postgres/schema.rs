//! The schema, as embedded migrations.
//!
//! The SQL files live in `keptn-adapters/migrations/postgres/` and are compiled into the
//! binary, so a `keptn` binary upgrades its own database and needs no files next to it. sqlx
//! records each applied migration with a checksum in `_sqlx_migrations`: an edited migration,
//! or a database written by a newer binary, is refused at open instead of being misread. While
//! it migrates, the migrator holds a PostgreSQL advisory lock, so replicas that start together
//! apply each migration once.
//!
//! They are listed by hand rather than with `sqlx::migrate!`, which needs sqlx's `macros`
//! feature (proc macros and their build cost) for nothing else here.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration, in version order. Add a file and a line; never edit an applied one.
const MIGRATIONS: [(i64, &str, &str); 1] = [(
    1,
    "initial",
    include_str!("../../migrations/postgres/0001_initial.sql"),
)];

/// The migrator for the current schema.
pub(super) fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
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
