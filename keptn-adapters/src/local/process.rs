//! Replicas as local processes: resolving the command, choosing a port, starting, health
//! checks, stopping. The only file that starts processes.
//!
//! Each replica's stdout and stderr go to one log file (appended to, never rotated). A
//! replica is stopped with `SIGKILL` and reaped (`tokio::process::Child::kill`); one that is
//! dropped without being stopped is killed by `kill_on_drop` and reaped by tokio.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use keptn_core::ports::Scope;
use tokio::process::{Child, Command};

use super::Error;
use super::client::HttpClient;
use super::spec::{DeploymentKind, Spec, Values};

/// How many log lines an error shows.
const LOG_TAIL_LINES: usize = 20;
/// How often a starting replica is checked.
const HEALTH_POLL: Duration = Duration::from_millis(100);
/// How long one health request may take.
const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything needed to start replicas of one deployment.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub(crate) scope: Scope,
    pub(crate) spec: Arc<Spec>,
    pub(crate) program: PathBuf,
    pub(crate) image: String,
    pub(crate) tag: String,
    pub(crate) kind: DeploymentKind,
    pub(crate) logs_dir: PathBuf,
}

/// One running replica.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
    log_offset: u64,
    child: Child,
}

/// The program `command` names: itself when it holds a `/`, else the first executable file
/// of that name in `search_path` and then `PATH`.
pub(crate) fn resolve_command(command: &str, search_path: &[PathBuf]) -> Result<PathBuf, Error> {
    if command.contains('/') {
        let path = PathBuf::from(command);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(Error::CommandNotFound {
                command: command.to_owned(),
                searched: vec![path],
            })
        };
    }
    let mut searched: Vec<PathBuf> = search_path.to_vec();
    if let Some(path) = std::env::var_os("PATH") {
        searched.extend(std::env::split_paths(&path));
    }
    searched
        .iter()
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| Error::CommandNotFound {
            command: command.to_owned(),
            searched,
        })
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A loopback port that was free a moment ago.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Keeps only characters that are safe in a file name.
fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The last [`LOG_TAIL_LINES`] lines of a log file written after byte `offset` (or why it
/// cannot be read).
pub(crate) fn log_tail(path: &Path, offset: u64) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let from = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let text = String::from_utf8_lossy(&bytes[from..]);
            let lines: Vec<&str> = text.lines().collect();
            let first = lines.len().saturating_sub(LOG_TAIL_LINES);
            if lines.is_empty() {
                "(the log is empty)".to_owned()
            } else {
                lines[first..].join("\n")
            }
        }
        Err(error) => format!("(cannot read the log: {error})"),
    }
}

impl Launch {
    /// Starts the replicas numbered `indices` (from 1) with `n_replicas` as `{replicas}`, all
    /// at once, and waits until each is healthy. On any failure every replica started here
    /// is stopped and the first failure is returned.
    pub(crate) async fn start(
        &self,
        indices: std::ops::RangeInclusive<u32>,
        n_replicas: u32,
        client: &HttpClient,
    ) -> Result<Vec<Replica>, Error> {
        let mut started = Vec::new();
        let mut failure = None;
        for index in indices {
            match self.spawn(index, n_replicas) {
                Ok(replica) => started.push(replica),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if failure.is_none() {
            let checks = started
                .iter_mut()
                .map(|replica| wait_healthy(replica, &self.spec, client));
            let outcomes = futures_join_all(checks).await;
            failure = outcomes.into_iter().find_map(Result::err);
        }
        match failure {
            None => Ok(started),
            Some(error) => {
                for replica in started {
                    replica.stop().await;
                }
                Err(error)
            }
        }
    }

    fn spawn(&self, index: u32, n_replicas: u32) -> Result<Replica, Error> {
        let scope = &self.scope;
        let name = format!(
            "{}-{}-{}-{}-{}-{index}",
            scope.project,
            scope.stage,
            scope.service,
            self.kind,
            file_safe(&self.tag)
        );
        let log = self.logs_dir.join(format!("{}.log", file_safe(&name)));
        let port = free_port().map_err(|source| Error::Bind {
            addr: "127.0.0.1:0".to_owned(),
            what: format!("a port for replica '{name}'"),
            source,
        })?;
        let values = Values {
            port,
            image: &self.image,
            tag: &self.tag,
            replicas: n_replicas,
            service: &scope.service,
            stage: &scope.stage,
            project: &scope.project,
            deployment: self.kind,
        };
        let io_error = |source| Error::Io {
            action: "open the log file",
            path: log.clone(),
            source,
        };
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io_error)?;
        let stderr = log_file.try_clone().map_err(io_error)?;
        // The log is appended to (the same version may still run while it is redeployed):
        // error messages show only what this process wrote.
        let log_offset = log_file.metadata().map_or(0, |metadata| metadata.len());
        let mut command = Command::new(&self.program);
        command
            .args(self.spec.args.iter().map(|arg| arg.render(&values)))
            .envs(
                self.spec
                    .env
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.render(&values))),
            )
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|source| Error::Spawn {
            replica: name.clone(),
            program: self.program.clone(),
            source,
        })?;
        Ok(Replica {
            name,
            port,
            log,
            log_offset,
            child,
        })
    }
}

impl Replica {
    /// Stops the process and reaps it.
    pub(crate) async fn stop(mut self) {
        // An error means the process is gone already; `kill` waits for it either way.
        let _ = self.child.kill().await;
    }
}

/// Polls `GET <health_path>` until it answers 2xx. Fails when the process exits first or
/// when the start timeout passes (then the process is left for the caller to stop).
async fn wait_healthy(
    replica: &mut Replica,
    spec: &Spec,
    client: &HttpClient,
) -> Result<(), Error> {
    let url = format!("http://127.0.0.1:{}{}", replica.port, spec.health_path);
    let log = replica.log.clone();
    let started = Instant::now();
    loop {
        // An error to query the process shows up as a failing health check.
        if let Ok(Some(status)) = replica.child.try_wait() {
            return Err(Error::Exited {
                replica: replica.name.clone(),
                status: status.to_string(),
                log_tail: log_tail(&log, replica.log_offset),
                log,
            });
        }
        let last_problem = match health_check(client, &url).await {
            Ok(()) => return Ok(()),
            Err(problem) => problem,
        };
        if started.elapsed() >= spec.start_timeout {
            return Err(Error::Unhealthy {
                replica: replica.name.clone(),
                timeout: spec.start_timeout,
                last_check: format!("GET {url}: {last_problem}"),
                log_tail: log_tail(&log, replica.log_offset),
                log,
            });
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

async fn health_check(client: &HttpClient, url: &str) -> Result<(), String> {
    let request = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|error| format!("invalid health url: {error}"))?;
    match tokio::time::timeout(HEALTH_REQUEST_TIMEOUT, client.request(request)).await {
        Err(_) => Err(format!("no answer within {HEALTH_REQUEST_TIMEOUT:?}")),
        Ok(Err(error)) => Err(format!("{error}")),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(format!("http {}", response.status().as_u16())),
    }
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
