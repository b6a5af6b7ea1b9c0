//! `keptn serve --database postgres://…`: the control plane on a real PostgreSQL (the
//! scale-out store) — deliveries survive `kill -9` with every task triggered once, nothing goes
//! to the SQLite file, and a second control plane on the same database is refused.
//!
//! The server is `KEPTN_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! as on the project's machine); each test makes a database of its own with `psql` and drops
//! it. Under `CI=true` a missing `psql` or an unreachable server fails the test.

use std::process::Command;

use crate::serve::{Scratch, Server, UNIFORM, deliveries_survive_kill_9};

/// A database of the test's own, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    /// `None` (skipped) when `psql` or the server is missing outside CI.
    fn create(name: &str) -> Option<Database> {
        if !crate::support::have("psql") {
            return None;
        }
        let admin_url = std::env::var("KEPTN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let database = Database {
            admin_url,
            name: format!("keptn_it_{name}_{}", std::process::id()),
        };
        let _ = database.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            database.name
        ));
        if let Err(error) = database.psql(&format!("CREATE DATABASE {}", database.name)) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but PostgreSQL at {} is not usable: {error}",
                database.admin_url
            );
            println!("skipped: PostgreSQL is not usable: {error}");
            return None;
        }
        Some(database)
    }

    /// The database's URL: the admin URL with the test database's name.
    fn url(&self) -> String {
        let (base, _) = self
            .admin_url
            .rsplit_once('/')
            .expect("the URL names a database");
        format!("{base}/{}", self.name)
    }

    /// Runs SQL through psql on the admin database; stdout, or stderr as the error.
    fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_on(&self.admin_url, sql)
    }

    fn psql_on(&self, url: &str, sql: &str) -> Result<String, String> {
        let output = Command::new("psql")
            .args([
                url,
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = self.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[test]
fn deliveries_on_postgres_survive_kill_9_and_a_second_control_plane_is_refused() {
    let _exclusive = crate::support::exclusive();
    let Some(database) = Database::create("serve") else {
        return;
    };
    let url = database.url();
    let scratch = Scratch::new("postgres");
    let mut server = Server::start_with_args(&scratch, UNIFORM, &["--database", &url]);
    deliveries_survive_kill_9(&mut server, &scratch, 20, &[4, 12]);

    // State and history are in PostgreSQL, not in a SQLite file of the data directory.
    assert!(
        !scratch.0.join("data").join("keptn.db").exists(),
        "no SQLite database with --database"
    );
    let stored: usize = database
        .psql_on(&url, "SELECT count(*) FROM events")
        .expect("events counted")
        .parse()
        .expect("a count");
    let listed = server.get("/api/v1/event?project=sockshop")["events"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    assert!(
        stored >= listed && listed >= 20 * 33,
        "{stored} events in the database, {listed} listed for sockshop"
    );

    // A second control plane on the same database is refused, with the reason.
    let other_data = scratch.0.join("other-data");
    let output = Command::new(env!("CARGO_BIN_EXE_keptn"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &url,
            "--data-dir",
        ])
        .arg(&other_data)
        .env("KEPTN_API_TOKEN", crate::serve::TOKEN)
        .output()
        .expect("keptn serve runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused: {stderr}");
    assert!(
        stderr.contains("another keptn control plane uses the database"),
        "{stderr}"
    );
    // The first one still serves.
    assert!(server.get("/api/v1/project")["projects"].is_array());
}

#[test]
fn an_invalid_database_url_is_a_located_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_keptn"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "mysql://db/keptn",
        ])
        .arg("--data-dir")
        .arg(std::env::temp_dir().join(format!("keptn-pg-invalid-{}", std::process::id())))
        .output()
        .expect("keptn serve runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--database"), "{stderr}");
}
