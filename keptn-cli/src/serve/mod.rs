//! `keptn serve`: the control plane of keptn-service behind Keptn's HTTP API, on the embedded
//! default (one process, SQLite, git, no setup) or on PostgreSQL.
//!
//! Start-up: open (or create) the data directory, its database and the API token; build the
//! integrations the uniform lists (`kinds.rs`: an unknown kind or a bad config stops here with
//! exit code 2, located in the uniform file); start the control plane, which loads its state
//! and recovers what a crash left (outbox, open task triggers); then serve the HTTP API. A
//! `kill -9` at any moment loses no accepted event: the next start picks up exactly where the
//! last commit left off.

pub mod api;
pub mod kinds;
pub mod metrics;
pub mod platform;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use keptn_core::orchestrator::Config as OrchestratorConfig;
use keptn_core::ports::{ConfigRepo, Store};
use keptn_core::uniform::Uniform;
use keptn_service::ControlPlane;

use crate::{Exit, InvalidInput};

/// Arguments of `keptn serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the database, the API token and the configuration repositories live.
    #[arg(long, value_name = "DIR", env = "KEPTN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep state and event history in this PostgreSQL database
    /// (`postgres://user:password@host:5432/keptn`, which must exist) instead of the SQLite file
    /// in the data directory. One `keptn serve` per database: a second one is refused (after
    /// waiting 5 s for the first to go away).
    #[arg(long, value_name = "URL", env = "KEPTN_DATABASE_URL")]
    pub database: Option<String>,
    /// The address the HTTP API listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// How long a triggered task may wait for its first `.started` (or `.finished`) before the
    /// sequence ends with `fail` (Go duration: 10m, 90s).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub task_started_timeout: std::time::Duration,
    /// How long a task may run after its first answer before the sequence ends with `fail`;
    /// `none` for no limit. Per task: `--task-finished-timeout test=30m` (repeatable); manual
    /// approvals have no limit unless one is given for `approval`.
    #[arg(long, value_name = "[TASK=]DURATION|none", default_value = "1h")]
    pub task_finished_timeout: Vec<String>,
    /// The uniform: which integrations run and what they subscribe to. Default: Keptn's
    /// approval-service and lighthouse-service (the built-in evaluator).
    #[arg(long, value_name = "FILE")]
    pub uniform: Option<PathBuf>,
}

/// The API token file inside the data directory (0600).
pub const TOKEN_FILE: &str = "api-token";

/// How long `keptn serve --database` waits for another control plane's instance lock before
/// giving up (a crashed predecessor's session may take a moment to end).
const INSTANCE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The file that fixes the instance's event-id namespace.
pub const INSTANCE_FILE: &str = "instance-id";

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    keptn_core::shipyard::parse_go_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration such as 10m, 90s or 1h30m"))
}

fn parse_limit(text: &str) -> Result<Option<std::time::Duration>, InvalidInput> {
    if text == "none" {
        return Ok(None);
    }
    parse_duration(text)
        .map(Some)
        .map_err(|err| InvalidInput(format!("--task-finished-timeout: {err}, or none")))
}

/// The orchestrator settings from the flags.
fn orchestrator_config(args: &Args) -> Result<OrchestratorConfig, InvalidInput> {
    let mut config = OrchestratorConfig {
        task_started_timeout: args.task_started_timeout,
        ..OrchestratorConfig::default()
    };
    for limit in &args.task_finished_timeout {
        match limit.split_once('=') {
            Some((task, duration)) => {
                config
                    .task_finished_timeouts
                    .insert(task.to_owned(), parse_limit(duration)?);
            }
            None => config.task_finished_timeout = parse_limit(limit)?,
        }
    }
    Ok(config)
}

/// Runs `keptn serve` until interrupted.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let (uniform, uniform_file) = match &args.uniform {
        Some(path) => {
            let (uniform, text) = read_uniform(path)?;
            (uniform, Some((path.clone(), text)))
        }
        None => (default_uniform(), None),
    };
    let config = orchestrator_config(args)?;
    crate::log::init("keptn serve");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let options = Options {
        data_dir,
        database: args.database.clone(),
        listen: args.listen,
        uniform,
        uniform_file,
        orchestrator: config,
    };
    runtime.block_on(serve(options, None, shutdown_signal()))?;
    Ok(Exit::Success)
}

/// What a control plane is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Database, API token, configuration repositories, platform state.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL for state and history instead of the SQLite file in `data_dir`.
    pub database: Option<String>,
    /// The HTTP API's address (port 0: any free port).
    pub listen: SocketAddr,
    /// The integrations to run.
    pub uniform: Uniform,
    /// The uniform's file and text, to locate problems of its entries in (`None` for a
    /// uniform made in code).
    pub uniform_file: Option<(PathBuf, String)>,
    /// Orchestrator settings (timeouts).
    pub orchestrator: OrchestratorConfig,
}

/// A started control plane: where it listens and its API token.
#[derive(Debug, Clone)]
pub struct Started {
    /// The API's address.
    pub addr: SocketAddr,
    /// The API token.
    pub token: String,
}

/// A control plane running on a thread of its own (the quickstart's, and tests').
pub struct Background {
    /// Where it listens and its token.
    pub started: Started,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Background {
    /// Starts a control plane and returns once its API is up.
    pub fn start(options: Options) -> anyhow::Result<Background> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        crate::log::init("keptn serve");
        let thread = std::thread::Builder::new()
            .name("keptn-serve".to_owned())
            .spawn(move || {
                let runtime =
                    tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
                let (started_tx, started_rx) = tokio::sync::oneshot::channel();
                runtime.block_on(async move {
                    tokio::spawn(async move {
                        if let Ok(started) = started_rx.await {
                            let _ = ready_tx.send(started);
                        }
                    });
                    serve(options, Some(started_tx), async {
                        let _ = stop_rx.await;
                    })
                    .await
                })
            })
            .context("cannot start the control plane's thread")?;
        match ready_rx.recv() {
            Ok(started) => Ok(Background {
                started,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(_) => match thread.join() {
                Ok(Ok(())) => anyhow::bail!("the control plane stopped before it was up"),
                Ok(Err(err)) => Err(err),
                Err(_) => anyhow::bail!("the control plane panicked while starting"),
            },
        }
    }

    /// Stops it (in-flight requests finish, integrations' processes stop) and waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => anyhow::bail!("the control plane panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".keptn").join("data"))
}

/// Keptn's approval-service and lighthouse-service (the built-in evaluator); everything else
/// is left to external integrations.
fn default_uniform() -> Uniform {
    let mut uniform = Uniform::keptn_defaults();
    uniform.integrations.retain(|integration| {
        matches!(
            integration.kind.as_str(),
            "approval-service" | "lighthouse-service"
        )
    });
    uniform
}

/// The uniform of `path` and its text.
fn read_uniform(path: &Path) -> anyhow::Result<(Uniform, String)> {
    let file = crate::source::SourceFile::read(path)?;
    match keptn_core::uniform::parse(&file.text) {
        Ok((uniform, warnings)) => {
            for warning in warnings {
                eprintln!("{}:{warning}", path.display());
            }
            Ok((uniform, file.text))
        }
        Err(keptn_core::Error::InvalidUniform { diagnostics }) => {
            let lines: Vec<String> = diagnostics
                .iter()
                .map(|diagnostic| format!("{}:{diagnostic}", path.display()))
                .collect();
            Err(InvalidInput(lines.join("\n")).into())
        }
        Err(other) => Err(InvalidInput(format!("{}: {other}", path.display())).into()),
    }
}

/// The API token: `KEPTN_API_TOKEN` if set, else the one stored in the data directory, else a
/// new random one (stored 0600 and printed once).
fn api_token(data_dir: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("KEPTN_API_TOKEN")
        && !token.is_empty()
    {
        return Ok(token);
    }
    let path = data_dir.join(TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(&path, &token)
        .with_context(|| format!("cannot write the API token to {}", path.display()))?;
    eprintln!(
        "keptn serve: new API token (stored in {}): {token}",
        path.display()
    );
    Ok(token)
}

/// A random number fixed for the data directory: the first 8 hex digits of every event id the
/// orchestrator generates, so that ids of two installations (or of one whose database was
/// reset) never collide.
fn instance_id(data_dir: &Path) -> anyhow::Result<u32> {
    let path = data_dir.join(INSTANCE_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return u32::from_str_radix(text.trim(), 16)
            .with_context(|| format!("{} is not an 8-digit hex number", path.display()));
    }
    let id = u32::from_be_bytes(
        uuid::Uuid::new_v4().as_bytes()[..4]
            .try_into()
            .expect("4 bytes"),
    );
    write_private(&path, &format!("{id:08x}"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what process managers send): the server
/// stops taking requests and finishes the ones in flight. Nothing else needs flushing: every
/// accepted event is committed before it is acknowledged.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(stream) => stream,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("keptn serve: stopping");
}

/// The store: the SQLite file in the data directory, or the PostgreSQL database `url` with
/// its instance lock, held while the control plane runs (the state diff assumes one writer).
async fn open_store(
    data_dir: &Path,
    url: Option<&str>,
) -> anyhow::Result<(
    Arc<dyn Store>,
    Option<keptn_adapters::postgres::InstanceLock>,
)> {
    let Some(url) = url else {
        let config = keptn_adapters::sqlite::Config::new(data_dir.join("keptn.db"))
            .validate()
            .map_err(|err| anyhow::anyhow!("invalid database path: {err}"))?;
        let store = keptn_adapters::sqlite::Sqlite::open(config)
            .await
            .map_err(|err| {
                anyhow::anyhow!("cannot open the database in {}: {err}", data_dir.display())
            })?;
        return Ok((Arc::new(store), None));
    };
    let config = keptn_adapters::postgres::Config::new(url)
        .validate()
        .map_err(|err| InvalidInput(format!("--database: {err}")))?;
    let store = keptn_adapters::postgres::Postgres::open(config)
        .await
        .map_err(anyhow::Error::new)?;
    // A control plane restarted right after a crash may find its previous session still
    // holding the lock until the server notices the closed connection: it waits a little.
    let deadline = tokio::time::Instant::now() + INSTANCE_LOCK_WAIT;
    let lock = loop {
        match store.lock_instance().await {
            Ok(lock) => break lock,
            Err(keptn_adapters::postgres::Error::InUse { .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(err) => return Err(anyhow::Error::new(err)),
        }
    };
    Ok((Arc::new(store), Some(lock)))
}

/// Every problem of the uniform's entries, located in its file when there is one, as one
/// [`InvalidInput`] (exit code 2).
fn uniform_problems(
    problems: &[kinds::Problem],
    uniform_file: Option<&(PathBuf, String)>,
) -> InvalidInput {
    let Some((path, text)) = uniform_file else {
        let lines: Vec<String> = problems
            .iter()
            .map(|problem| format!("error: uniform: {}", problem.message))
            .collect();
        return InvalidInput(lines.join("\n"));
    };
    let source_map = keptn_core::yaml::SourceMap::new(text);
    // Which keys each entry has, to point at the one written (the kind defaults to the name).
    let entries: Vec<serde_yaml::Value> = serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .and_then(|document| document.get("integrations").cloned())
        .and_then(|integrations| integrations.as_sequence().cloned())
        .unwrap_or_default();
    let has = |index: usize, key: &str| {
        entries
            .get(index)
            .is_some_and(|entry| entry.get(key).is_some())
    };
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| {
            let entry = keptn_core::yaml::YamlPath::root()
                .key("integrations")
                .index(problem.index);
            let field = match problem.field {
                kinds::Field::Kind if has(problem.index, "kind") => entry.key("kind"),
                kinds::Field::Kind => entry.key("name"),
                kinds::Field::Config if has(problem.index, "config") => entry.key("config"),
                kinds::Field::Config => entry,
            };
            let mut diagnostics = keptn_core::diagnostic::Diagnostics::new(&source_map);
            diagnostics.error(&field, problem.message.clone());
            let diagnostic = diagnostics
                .items
                .pop()
                .expect("one diagnostic was just added");
            format!("{}:{diagnostic}", path.display())
        })
        .collect();
    InvalidInput(lines.join("\n"))
}

async fn serve(
    options: Options,
    ready: Option<tokio::sync::oneshot::Sender<Started>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Options {
        data_dir,
        database,
        listen,
        uniform,
        uniform_file,
        orchestrator: orchestrator_config,
    } = options;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let token = api_token(&data_dir)?;
    let (store, _instance_lock) = open_store(&data_dir, database.as_deref()).await?;
    let git = keptn_adapters::git::Config::new(data_dir.join("config"))
        .validate()
        .map_err(|err| anyhow::anyhow!("invalid configuration repository directory: {err}"))?;
    let config_repo: Arc<dyn ConfigRepo> =
        Arc::new(keptn_adapters::git::Git::new(git).await.map_err(|err| {
            anyhow::anyhow!("cannot use git for the configuration repositories: {err}")
        })?);
    let platform = platform::start(&uniform, &data_dir)
        .await
        .map_err(InvalidInput)?;
    let needs = kinds::Needs {
        config_repo: &config_repo,
        data_dir: &data_dir,
        platform: platform.as_ref(),
    };
    let integrations = match kinds::build(&uniform, &needs) {
        Ok(integrations) => integrations,
        Err(problems) => {
            if let Some(platform) = &platform {
                platform.shutdown().await;
            }
            return Err(uniform_problems(&problems, uniform_file.as_ref()).into());
        }
    };
    let control_plane = ControlPlane::builder()
        .store(Arc::clone(&store))
        .config_repo(Arc::clone(&config_repo))
        .orchestrator(OrchestratorConfig {
            id_namespace: instance_id(&data_dir)?,
            ..orchestrator_config
        })
        .integrations(integrations)
        .start()
        .await
        .context("cannot start the control plane")?;
    eprintln!(
        "keptn serve: integrations running in process: {}",
        if control_plane.integrations().is_empty() {
            "none".to_owned()
        } else {
            control_plane.integrations().join(", ")
        }
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    eprintln!("keptn serve: listening on http://{addr}");
    let app = api::app(api::AppState {
        token: Arc::new(token.clone()),
        control_plane: control_plane.clone(),
        platform: platform.clone(),
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    if let Some(ready) = ready {
        let _ = ready.send(Started { addr, token });
    }
    let outcome = tokio::select! {
        served = server => served.context("the HTTP server failed"),
        stopped = control_plane.stopped() => stopped.context("the control plane stopped"),
    };
    let stopped = control_plane.shutdown().await;
    if let Some(platform) = platform {
        platform.shutdown().await;
    }
    outcome?;
    stopped.context("the control plane did not stop cleanly")
}
