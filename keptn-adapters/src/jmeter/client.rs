//! [`JMeter`]: the only file that runs programs (jmeter, javac, jar) and opens connections.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use keptn_core::event::Timestamp;
use keptn_core::ports::{AdapterError, Scope, TestReport, TestRequest, TestRunner};
use tokio::process::Command;
use tokio::sync::OnceCell;

use super::config::ValidConfig;
use super::jtl::{self, Stats};
use super::workloads::{Workload, Workloads, check_script};
use super::{Error, HEALTHCHECK, REAL_USER};

/// The Java source of the XStream fix (see [`JMeter::prepare`]).
pub const XSTREAM_FIX_SOURCE: &str = include_str!("XStreamAllowAll.java");
/// The line registering the fix as a converter in the copied `saveservice.properties`.
pub const XSTREAM_FIX_REGISTRATION: &str = "_keptn.XStreamAllowAll=collection";
/// `CHECK_PATH` when the target URL has no path (or just `/`).
pub const DEFAULT_CHECK_PATH: &str = "/health";

/// Where JMeter plans come from: the service reads them from the configuration repository
/// (service, then stage, then project level); tests and fixed setups use a map of path to
/// content.
#[async_trait]
pub trait PlanSource: Send + Sync {
    /// The plan at `path` (`jmeter/load.jmx`), `None` when there is none.
    async fn plan(&self, path: &str) -> Result<Option<Vec<u8>>, AdapterError>;
}

#[async_trait]
impl PlanSource for BTreeMap<String, Vec<u8>> {
    async fn plan(&self, path: &str) -> Result<Option<Vec<u8>>, AdapterError> {
        Ok(self.get(path).cloned())
    }
}

/// The target URL split into the properties jmeter-service passed to JMeter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetProperties {
    /// `PROTOCOL` and `SERVER_PROTOCOL`: `http` or `https`.
    pub protocol: String,
    /// `SERVER_URL`: the host only (an IPv6 address without brackets).
    pub host: String,
    /// `SERVER_PORT`: the URL's port, else 80 for http and 443 for https.
    pub port: u16,
    /// `CHECK_PATH`: the URL's path, else `/health`.
    pub check_path: String,
}

impl TargetProperties {
    /// Splits `url` (`http://carts.sockshop-dev:8080/health`). Only `http` and `https` are
    /// accepted (JMeter's HTTP sampler); user info is dropped, query and fragment are not
    /// part of `CHECK_PATH`.
    ///
    /// Unlike jmeter-service, an empty path and `/` both give `CHECK_PATH` `/health`:
    /// jmeter-service turned an empty path into `/` before defaulting, so in practice it
    /// checked `/`.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidTarget {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected 'http://host[:port][/path]'"))?;
        let protocol = scheme.to_ascii_lowercase();
        let default_port = match protocol.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host_port)| host_port);
        let (host, port_text) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("an IPv6 host lacks its closing ']'"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| invalid("expected ':' and a port after ']'"))?,
                    ),
                ),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("the url has no host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(invalid("the host contains whitespace"));
        }
        let port = match port_text {
            None | Some("") => default_port,
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
        };
        let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
        let path = &tail[..path_end];
        let check_path = if path.is_empty() || path == "/" {
            DEFAULT_CHECK_PATH.to_owned()
        } else {
            path.to_owned()
        };
        Ok(Self {
            protocol,
            host: host.to_owned(),
            port,
            check_path,
        })
    }
}

/// One test run to make.
pub struct RunRequest<'a> {
    /// Project, stage and service (`KEPTN_PROJECT`, `KEPTN_STAGE`, `KEPTN_SERVICE`).
    pub scope: Scope,
    /// The test strategy (`KEPTN_TESTSTRATEGY`): `functional`, `performance`, `healthcheck`,
    /// one of the jmeter.conf.yaml, `real-user` (not handled) or empty (nothing to run).
    pub strategy: String,
    /// The deployment's URL (`deploymentURIsLocal[0]`, else `deploymentURIsPublic[0]`).
    pub target: String,
    /// The jmeter.conf.yaml's workloads ([`Workloads::default`] when there is no file).
    pub workloads: &'a Workloads,
    /// Where the plans named by the workloads come from.
    pub plans: &'a dyn PlanSource,
}

/// The result of [`JMeter::run`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The test ran (or had nothing to run) and passed or failed.
    Tested(Box<Run>),
    /// The strategy is `real-user`, which jmeter-service ignored without sending any event:
    /// the caller sends nothing either.
    NotHandled,
}

/// What a test run did and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// What the test task reports. `start` and `end` bound the strategy's JMeter run (its
    /// JVM start included); they become the evaluation's timeframe. When the strategy did not
    /// run, they bound what did run (the reachability check and health check).
    pub report: TestReport,
    /// The strategy's measurements; `None` when it did not run (empty strategy, unreachable
    /// target, failed health check, script not found).
    pub stats: Option<Stats>,
    /// The health check workload's measurements, when it ran.
    pub healthcheck: Option<Stats>,
    /// Why the run failed, one entry per broken criterion; empty when it passed.
    pub failures: Vec<String>,
    /// Scripts that were not found, so their workload was skipped (and passed, as in
    /// jmeter-service).
    pub skipped: Vec<String>,
}

/// The XStream fix's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixFiles {
    /// The jar holding `keptn.XStreamAllowAll`, passed as `-Juser.classpath`.
    pub jar: PathBuf,
    /// JMeter's `saveservice.properties` with the fix registered, passed as
    /// `-Jsaveservice_properties`.
    pub saveservice_properties: PathBuf,
}

/// The JMeter test runner. Cheap to clone: clones share the prepared XStream fix.
#[derive(Debug, Clone)]
pub struct JMeter {
    config: Arc<ValidConfig>,
    fix: Arc<OnceCell<Option<FixFiles>>>,
}

/// Numbers runs and builds, so that runners sharing a work directory in one process never
/// pick the same directory name (the process id separates processes).
static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

use crate::clock::now;

/// What running one workload gave.
enum WorkloadOutcome {
    /// The script was not found.
    Skipped,
    /// JMeter ran between `start` and `end`.
    Measured {
        stats: Stats,
        start: Timestamp,
        end: Timestamp,
    },
}

impl JMeter {
    /// The runner. Touches nothing yet: the XStream fix is built on the first run (or by
    /// [`JMeter::prepare`]).
    pub fn new(config: ValidConfig) -> Self {
        Self {
            config: Arc::new(config),
            fix: Arc::new(OnceCell::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// Builds the XStream fix once per runner (`None` when `xstream_fix` is off); call it at
    /// start-up to find a missing JDK or JMeter early.
    ///
    /// In `<work_dir>/xstream-fix/` it writes `XStreamAllowAll.java` (only when its content
    /// changed), compiles it with `javac --release 8 -cp <xstream_jar>` and packs it with
    /// `jar cf` into `xstream-allow.jar`, unless that jar is newer than the source already;
    /// and it copies `<jmeter_home>/bin/saveservice.properties` with
    /// `_keptn.XStreamAllowAll=collection` appended on a line of its own (Debian's file ends
    /// without a line break, so a plain append would land in its last comment). JMeter
    /// instantiates the registered class while loading its save service, and its constructor
    /// lifts XStream 1.4.20's type allow-list, which otherwise refuses every plan.
    pub async fn prepare(&self) -> Result<Option<FixFiles>, Error> {
        let fix = self
            .fix
            .get_or_try_init(|| async {
                if self.config.xstream_fix {
                    build_fix(&self.config).await.map(Some)
                } else {
                    Ok(None)
                }
            })
            .await?;
        Ok(fix.clone())
    }

    /// Runs the test of `request` as jmeter-service did:
    ///
    /// 1. An empty strategy passes without running anything; `real-user` is
    ///    [`Outcome::NotHandled`].
    /// 2. The target must answer a TCP connection (`healthcheck.tries` attempts,
    ///    `healthcheck.interval_seconds` apart); if it does not, the test fails.
    /// 3. The `healthcheck` workload runs (unless the strategy is `healthcheck` itself, which
    ///    then runs once, in step 4); if it fails, the test fails without running the
    ///    strategy.
    /// 4. The strategy's workload runs and is judged ([`judge`]).
    ///
    /// A workload whose script the plan source does not have is skipped and passes. `Err`
    /// means the test could not be run or read (jmeter-service's `errored`): an invalid
    /// target, no workload for the strategy, JMeter or the JDK missing, a plan JMeter cannot
    /// load (with the log lines saying why), no sample recorded, a timeout.
    pub async fn run(&self, request: RunRequest<'_>) -> Result<Outcome, Error> {
        let strategy = request.strategy.as_str();
        if strategy.is_empty() {
            let at = now();
            return Ok(Outcome::Tested(Box::new(Run {
                report: TestReport {
                    passed: true,
                    start: at,
                    end: at,
                    message: "no test strategy: nothing to run".to_owned(),
                },
                stats: None,
                healthcheck: None,
                failures: Vec::new(),
                skipped: Vec::new(),
            })));
        }
        if strategy.eq_ignore_ascii_case(REAL_USER) {
            return Ok(Outcome::NotHandled);
        }
        let target = TargetProperties::parse(&request.target)?;
        let workload =
            request
                .workloads
                .workload(strategy)
                .ok_or_else(|| Error::UnknownStrategy {
                    strategy: strategy.to_owned(),
                    defined: request.workloads.strategies(),
                })?;
        let check_start = now();
        if let Err(reason) = self.reachable(&target).await {
            let failure = format!(
                "cannot reach {}:{} after {} tries: {reason}",
                target.host, target.port, self.config.tries
            );
            return Ok(Outcome::Tested(Box::new(Run {
                report: TestReport {
                    passed: false,
                    start: check_start,
                    end: now(),
                    message: format!("{strategy}: not run, {failure}"),
                },
                stats: None,
                healthcheck: None,
                failures: vec![failure],
                skipped: Vec::new(),
            })));
        }
        let mut skipped = Vec::new();
        let mut healthcheck = None;
        if !strategy.eq_ignore_ascii_case(HEALTHCHECK)
            && let Some(check) = request.workloads.workload(HEALTHCHECK)
        {
            match self.run_workload(&request, &target, &check).await? {
                WorkloadOutcome::Skipped => skipped.push(check.script.clone()),
                WorkloadOutcome::Measured { stats, start, end } => {
                    let failures = judge(&check, &stats);
                    if !failures.is_empty() {
                        let message = format!(
                            "{strategy}: not run, the health check failed: {}",
                            summary(&check, &stats, &failures)
                        );
                        return Ok(Outcome::Tested(Box::new(Run {
                            report: TestReport {
                                passed: false,
                                start,
                                end,
                                message,
                            },
                            stats: None,
                            healthcheck: Some(stats),
                            failures,
                            skipped,
                        })));
                    }
                    healthcheck = Some(stats);
                }
            }
        }
        let run = match self.run_workload(&request, &target, &workload).await? {
            WorkloadOutcome::Skipped => {
                let at = now();
                skipped.push(workload.script.clone());
                Run {
                    report: TestReport {
                        passed: true,
                        start: at,
                        end: at,
                        message: format!(
                            "{strategy}: skipped, script '{}' not found",
                            workload.script
                        ),
                    },
                    stats: None,
                    healthcheck,
                    failures: Vec::new(),
                    skipped,
                }
            }
            WorkloadOutcome::Measured { stats, start, end } => {
                let failures = judge(&workload, &stats);
                Run {
                    report: TestReport {
                        passed: failures.is_empty(),
                        start,
                        end,
                        message: summary(&workload, &stats, &failures),
                    },
                    stats: Some(stats),
                    healthcheck,
                    failures,
                    skipped,
                }
            }
        };
        Ok(Outcome::Tested(Box::new(run)))
    }

    /// Tries a TCP connection to the target; the last error when every try failed.
    async fn reachable(&self, target: &TargetProperties) -> Result<(), String> {
        let mut last_error = String::new();
        for try_idx in 0..self.config.tries {
            if try_idx > 0 {
                tokio::time::sleep(self.config.interval).await;
            }
            let connect = tokio::net::TcpStream::connect((target.host.as_str(), target.port));
            match tokio::time::timeout(self.config.connect_timeout, connect).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(error)) => last_error = error.to_string(),
                Err(_) => {
                    last_error = format!("no connection within {:?}", self.config.connect_timeout);
                }
            }
        }
        Err(last_error)
    }

    async fn run_workload(
        &self,
        request: &RunRequest<'_>,
        target: &TargetProperties,
        workload: &Workload,
    ) -> Result<WorkloadOutcome, Error> {
        check_script(&workload.script).map_err(|reason| Error::InvalidScript {
            strategy: workload.teststrategy.clone(),
            script: workload.script.clone(),
            reason: reason.to_owned(),
        })?;
        let Some(plan) = request
            .plans
            .plan(&workload.script)
            .await
            .map_err(|source| Error::Plan {
                script: workload.script.clone(),
                source,
            })?
        else {
            return Ok(WorkloadOutcome::Skipped);
        };
        let fix = self.prepare().await?;
        let run_name = format!(
            "{}_{}_{}_{}_{}_{}_{}",
            sanitize(&request.scope.project),
            sanitize(&request.scope.service),
            sanitize(&request.scope.stage),
            sanitize(&workload.teststrategy),
            now().0,
            std::process::id(),
            RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let run_dir = self.config.work_dir.join("runs").join(&run_name);
        let res = self
            .run_in(
                &run_dir,
                &run_name,
                &plan,
                request,
                target,
                workload,
                fix.as_ref(),
            )
            .await;
        if !self.config.keep_runs {
            // Best effort: a directory left behind only costs disk space.
            let _ = tokio::fs::remove_dir_all(&run_dir).await;
        }
        res
    }

    // Each argument is a different input of one run; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    async fn run_in(
        &self,
        run_dir: &Path,
        run_name: &str,
        plan: &[u8],
        request: &RunRequest<'_>,
        target: &TargetProperties,
        workload: &Workload,
        fix: Option<&FixFiles>,
    ) -> Result<WorkloadOutcome, Error> {
        let plan_path = run_dir.join(&workload.script);
        let plan_dir = plan_path.parent().unwrap_or(run_dir);
        tokio::fs::create_dir_all(plan_dir)
            .await
            .map_err(|source| Error::Io {
                action: "create the run directory",
                path: plan_dir.to_owned(),
                source,
            })?;
        tokio::fs::write(&plan_path, plan)
            .await
            .map_err(|source| Error::Io {
                action: "write the plan",
                path: plan_path.clone(),
                source,
            })?;
        let files = RunFiles::in_dir(run_dir);
        let dynatrace: Vec<(String, String)> = ["DT_TENANT", "DT_API_TOKEN"]
            .into_iter()
            .filter_map(|name| {
                std::env::var(name)
                    .ok()
                    .map(|value| (name.to_owned(), value))
            })
            .collect();
        let args = jmeter_args(&JMeterInvocation {
            plan: &plan_path,
            files: &files,
            fix,
            jmeter_home: &self.config.jmeter_home,
            target,
            workload,
            scope: &request.scope,
            strategy: &request.strategy,
            load_test_name: run_name,
            dynatrace: &dynatrace,
        });
        let open = |path: &Path| {
            std::fs::File::create(path).map_err(|source| Error::Io {
                action: "create",
                path: path.to_owned(),
                source,
            })
        };
        let stdout = open(&files.stdout)?;
        let stderr = open(&files.stderr)?;
        let mut command = Command::new(&self.config.jmeter);
        command
            .args(&args)
            .current_dir(run_dir)
            .stdin(Stdio::null())
            // Files, not pipes: a process JMeter leaves behind cannot block the reading.
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let start = now();
        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| {
            spawn_error("jmeter", &self.config.jmeter, "jmeter jmeter-http", source)
        })?;
        let status = match tokio::time::timeout(self.config.timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(source)) => {
                return Err(Error::Io {
                    action: "wait for jmeter running",
                    path: plan_path,
                    source,
                });
            }
            Err(_) => {
                // The Debian script execs java, so this ends the JVM itself.
                let _ = child.kill().await;
                return Err(Error::Timeout {
                    what: format!("jmeter {}", workload.script),
                    timeout: self.config.timeout,
                });
            }
        };
        let wall_time = started.elapsed();
        let end = now();
        let read = |path: PathBuf| async move {
            tokio::fs::read(&path)
                .await
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        let output = format!(
            "{}{}",
            read(files.stdout.clone()).await.unwrap_or_default(),
            read(files.stderr.clone()).await.unwrap_or_default()
        );
        let log = read(files.log.clone()).await.unwrap_or_default();
        let jtl_text = match read(files.jtl.clone()).await {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(Error::Io {
                    action: "read the results",
                    path: files.jtl.clone(),
                    source,
                });
            }
        };
        let mut stats = jtl::parse_jtl(&files.jtl, &jtl_text)?;
        if stats.samples == 0 {
            return Err(no_samples(&workload.script, status, &log, &output));
        }
        stats.summary_line = jtl::last_summary_line(&output).map(str::to_owned);
        stats.wall_time = wall_time;
        Ok(WorkloadOutcome::Measured { stats, start, end })
    }
}

fn no_samples(script: &str, status: ExitStatus, log: &str, output: &str) -> Error {
    let log_lines = jtl::relevant_lines(log, output);
    let hint = jtl::hint(log, output);
    if jtl::plan_not_loaded(log, output) {
        Error::PlanNotLoaded {
            script: script.to_owned(),
            log_lines,
            hint,
        }
    } else {
        Error::NoSamples {
            script: script.to_owned(),
            status,
            log_lines,
            hint,
        }
    }
}

fn spawn_error(
    program: &'static str,
    path: &Path,
    package: &'static str,
    source: std::io::Error,
) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::ToolMissing {
            program,
            path: path.to_owned(),
            package,
        }
    } else {
        Error::Spawn {
            path: path.to_owned(),
            source,
        }
    }
}

/// A name part made safe for a directory name.
fn sanitize(text: &str) -> String {
    let res: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if res.is_empty() { "_".to_owned() } else { res }
}

/// The files of one run, all in its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunFiles {
    /// The results (`-l`).
    pub(super) jtl: PathBuf,
    /// JMeter's log (`-j`).
    pub(super) log: PathBuf,
    /// Standard output.
    pub(super) stdout: PathBuf,
    /// Standard error.
    pub(super) stderr: PathBuf,
}

impl RunFiles {
    pub(super) fn in_dir(run_dir: &Path) -> Self {
        Self {
            jtl: run_dir.join("results.jtl"),
            log: run_dir.join("jmeter.log"),
            stdout: run_dir.join("stdout.txt"),
            stderr: run_dir.join("stderr.txt"),
        }
    }
}

/// Everything the JMeter command line is made of.
pub(super) struct JMeterInvocation<'a> {
    pub(super) plan: &'a Path,
    pub(super) files: &'a RunFiles,
    pub(super) fix: Option<&'a FixFiles>,
    pub(super) jmeter_home: &'a Path,
    pub(super) target: &'a TargetProperties,
    pub(super) workload: &'a Workload,
    pub(super) scope: &'a Scope,
    pub(super) strategy: &'a str,
    pub(super) load_test_name: &'a str,
    pub(super) dynatrace: &'a [(String, String)],
}

/// The `saveservice_properties` value naming `path`: JMeter resolves it relative to its home,
/// so the home's depth in `/..` goes first.
pub(super) fn saveservice_property(jmeter_home: &Path, path: &Path) -> OsString {
    let depth = jmeter_home
        .components()
        .filter(|component| matches!(component, Component::Normal(_)))
        .count();
    let mut res = OsString::from("/..".repeat(depth.max(1)));
    res.push(path.as_os_str());
    res
}

/// JMeter's arguments: non-GUI mode, the plan, results and log files, the XStream fix, the
/// results format, then jmeter-service's properties in its order, then the workload's own.
pub(super) fn jmeter_args(invocation: &JMeterInvocation<'_>) -> Vec<OsString> {
    let mut res: Vec<OsString> = vec!["-n".into(), "-t".into(), invocation.plan.into()];
    res.push("-l".into());
    res.push(invocation.files.jtl.clone().into());
    res.push("-j".into());
    res.push(invocation.files.log.clone().into());
    let property = |name: &str, value: &str| OsString::from(format!("-J{name}={value}"));
    if let Some(fix) = invocation.fix {
        let mut classpath = OsString::from("-Juser.classpath=");
        classpath.push(fix.jar.as_os_str());
        res.push(classpath);
        let mut saveservice = OsString::from("-Jsaveservice_properties=");
        saveservice.push(saveservice_property(
            invocation.jmeter_home,
            &fix.saveservice_properties,
        ));
        res.push(saveservice);
    }
    for (name, value) in [
        ("jmeter.save.saveservice.output_format", "csv"),
        ("jmeter.save.saveservice.print_field_names", "true"),
        ("jmeter.save.saveservice.timestamp_format", "ms"),
        // One row per sample: sub-results (redirects, embedded resources) would count twice.
        ("jmeter.save.saveservice.subresults", "false"),
        ("sampleresult.timestamp.start", "true"),
    ] {
        res.push(property(name, value));
    }
    let target = invocation.target;
    let workload = invocation.workload;
    let port = target.port.to_string();
    let vuser = workload.vuser.to_string();
    let loopcount = workload.loopcount.to_string();
    let thinktime = workload.thinktime_ms.to_string();
    for (name, value) in [
        ("PROTOCOL", target.protocol.as_str()),
        ("SERVER_PROTOCOL", target.protocol.as_str()),
        ("SERVER_URL", target.host.as_str()),
        ("DT_LTN", invocation.load_test_name),
        ("VUCount", vuser.as_str()),
        ("LoopCount", loopcount.as_str()),
        ("CHECK_PATH", target.check_path.as_str()),
        ("SERVER_PORT", port.as_str()),
        ("ThinkTime", thinktime.as_str()),
    ] {
        res.push(property(name, value));
    }
    for (name, value) in invocation.dynatrace {
        res.push(property(name, value));
    }
    for (name, value) in [
        ("KEPTN_PROJECT", invocation.scope.project.as_str()),
        ("KEPTN_STAGE", invocation.scope.stage.as_str()),
        ("KEPTN_SERVICE", invocation.scope.service.as_str()),
        ("KEPTN_TESTSTRATEGY", invocation.strategy),
    ] {
        res.push(property(name, value));
    }
    for (name, value) in &workload.properties {
        res.push(property(name, value));
    }
    res
}

/// jmeter-service's criteria, one entry per broken one: a
/// `functional` workload fails on any failed sample; any workload fails when failed samples
/// exceed `acceptederrorrate` × samples, and when `avgrtvalidation` is above 0 and the
/// average (whole milliseconds, as JMeter's summary line prints it) is above it.
pub fn judge(workload: &Workload, stats: &Stats) -> Vec<String> {
    let mut res = Vec::new();
    if workload.is_functional() && stats.errors > 0 {
        res.push(format!(
            "{} of {} samples failed; a functional test accepts none",
            stats.errors, stats.samples
        ));
    }
    if stats.errors as f64 > workload.accepted_error_rate * stats.samples as f64 {
        res.push(format!(
            "{} of {} samples failed ({:.2} %), more than the accepted error rate of {:.2} %",
            stats.errors,
            stats.samples,
            stats.error_rate() * 100.0,
            workload.accepted_error_rate * 100.0
        ));
    }
    if workload.avg_rt_validation_ms > 0 && stats.avg_whole_ms > workload.avg_rt_validation_ms {
        res.push(format!(
            "average response time {} ms is above avgrtvalidation {} ms",
            stats.avg_whole_ms, workload.avg_rt_validation_ms
        ));
    }
    res
}

fn summary(workload: &Workload, stats: &Stats, failures: &[String]) -> String {
    let mut res = format!(
        "{} ({}, {} users x {} loops): {} samples, {} failed ({:.2} %); response time avg {:.1} ms, \
         p50 {} ms, p90 {} ms, p95 {} ms, p99 {} ms, max {} ms; jmeter ran {:.2} s",
        workload.teststrategy,
        workload.script,
        workload.vuser,
        workload.loopcount,
        stats.samples,
        stats.errors,
        stats.error_rate() * 100.0,
        stats.avg_ms,
        stats.p50_ms,
        stats.p90_ms,
        stats.p95_ms,
        stats.p99_ms,
        stats.max_ms,
        stats.wall_time.as_secs_f64(),
    );
    if let Some(failure) = &stats.first_failure {
        res.push_str(&format!("; first failure: {failure}"));
    }
    if failures.is_empty() {
        res.push_str("; passed");
    } else {
        res.push_str(&format!("; failed: {}", failures.join("; ")));
    }
    res
}

/// Runs a build tool and checks its exit status.
async fn run_tool(
    config: &ValidConfig,
    program: &'static str,
    path: &Path,
    args: &[OsString],
) -> Result<(), Error> {
    let mut command = Command::new(path);
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let output = match tokio::time::timeout(config.timeout, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => {
            return Err(spawn_error(program, path, "default-jdk-headless", source));
        }
        Err(_) => {
            return Err(Error::Timeout {
                what: program.to_owned(),
                timeout: config.timeout,
            });
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let text: String = text.trim().chars().take(2000).collect();
    Err(Error::FixBuild {
        program,
        status: output.status,
        output: text,
    })
}

async fn modified(path: &Path) -> Option<SystemTime> {
    tokio::fs::metadata(path).await.ok()?.modified().ok()
}

/// Writes `content` to `path` through a temporary file and a rename, so a concurrent reader
/// sees the old or the new file, never half of one.
async fn write_atomically(path: &Path, content: &[u8], unique: &str) -> Result<(), Error> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{unique}.tmp"));
    let temporary = PathBuf::from(temporary);
    tokio::fs::write(&temporary, content)
        .await
        .map_err(|source| Error::Io {
            action: "write",
            path: temporary.clone(),
            source,
        })?;
    tokio::fs::rename(&temporary, path)
        .await
        .map_err(|source| Error::Io {
            action: "replace",
            path: path.to_owned(),
            source,
        })
}

async fn build_fix(config: &ValidConfig) -> Result<FixFiles, Error> {
    let fix_dir = config.work_dir.join("xstream-fix");
    let unique = format!(
        "{}-{}-{}",
        std::process::id(),
        RUN_COUNTER.fetch_add(1, Ordering::Relaxed),
        now().0
    );
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    let source_dir = fix_dir.join("src").join("keptn");
    tokio::fs::create_dir_all(&source_dir)
        .await
        .map_err(io("create", &source_dir))?;

    // saveservice.properties: JMeter's own, with the fix registered on a line of its own.
    let original = config
        .jmeter_home
        .join("bin")
        .join("saveservice.properties");
    let mut properties = match tokio::fs::read(&original).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InstallationFile {
                path: original,
                package: "jmeter",
                field: "jmeter_home",
            });
        }
        Err(source) => return Err(io("read", &original)(source)),
    };
    if !properties.ends_with(b"\n") {
        properties.push(b'\n');
    }
    properties.extend_from_slice(XSTREAM_FIX_REGISTRATION.as_bytes());
    properties.push(b'\n');
    let saveservice_properties = fix_dir.join("saveservice.properties");
    write_atomically(&saveservice_properties, &properties, &unique).await?;

    // The converter's source, rewritten only when it changed, so its time stamp says when.
    let source = source_dir.join("XStreamAllowAll.java");
    let current = tokio::fs::read(&source).await.ok();
    if current.as_deref() != Some(XSTREAM_FIX_SOURCE.as_bytes()) {
        write_atomically(&source, XSTREAM_FIX_SOURCE.as_bytes(), &unique).await?;
    }
    let jar = fix_dir.join("xstream-allow.jar");
    let up_to_date = match (modified(&jar).await, modified(&source).await) {
        (Some(jar_time), Some(source_time)) => jar_time > source_time,
        _ => false,
    };
    if !up_to_date {
        if tokio::fs::metadata(&config.xstream_jar).await.is_err() {
            return Err(Error::InstallationFile {
                path: config.xstream_jar.clone(),
                package: "libxstream-java (a dependency of jmeter)",
                field: "xstream_jar",
            });
        }
        let build_dir = fix_dir.join(format!("build-{unique}"));
        let classes = build_dir.join("classes");
        tokio::fs::create_dir_all(&classes)
            .await
            .map_err(io("create", &classes))?;
        let built_jar = build_dir.join("xstream-allow.jar");
        let res = async {
            run_tool(
                config,
                "javac",
                &config.javac,
                &[
                    "--release".into(),
                    "8".into(),
                    "-nowarn".into(),
                    "-cp".into(),
                    config.xstream_jar.clone().into(),
                    "-d".into(),
                    classes.clone().into(),
                    source.clone().into(),
                ],
            )
            .await?;
            run_tool(
                config,
                "jar",
                &config.jar,
                &[
                    "cf".into(),
                    built_jar.clone().into(),
                    "-C".into(),
                    classes.clone().into(),
                    ".".into(),
                ],
            )
            .await?;
            tokio::fs::rename(&built_jar, &jar)
                .await
                .map_err(io("replace", &jar))
        }
        .await;
        // Best effort: a leftover build directory only costs disk space.
        let _ = tokio::fs::remove_dir_all(&build_dir).await;
        res?;
    }
    Ok(FixFiles {
        jar,
        saveservice_properties,
    })
}

/// [`TestRunner`] with fixed workloads and plans: the port's contract (strategy and target
/// in, report out) on top of [`JMeter::run`].
#[derive(Debug, Clone)]
pub struct JMeterRunner {
    /// The runner.
    pub jmeter: JMeter,
    /// The workloads (a parsed jmeter.conf.yaml, or [`Workloads::default`] for
    /// jmeter-service's defaults).
    pub workloads: Workloads,
    /// The plans by path (`jmeter/load.jmx`).
    pub plans: BTreeMap<String, Vec<u8>>,
}

#[async_trait]
impl TestRunner for JMeterRunner {
    /// Every strategy but `real-user`, which jmeter-service ignored.
    fn handles(&self, strategy: &str) -> bool {
        !strategy.eq_ignore_ascii_case(REAL_USER)
    }

    /// Runs the test; `real-user` is an [`keptn_core::ports::AdapterErrorKind::Invalid`]
    /// error (callers ask [`TestRunner::handles`] first).
    async fn run(&self, request: &TestRequest) -> Result<TestReport, AdapterError> {
        let outcome = self
            .jmeter
            .run(RunRequest {
                scope: request.scope.clone(),
                strategy: request.strategy.clone(),
                target: request.target.clone(),
                workloads: &self.workloads,
                plans: &self.plans,
            })
            .await?;
        match outcome {
            Outcome::Tested(run) => Ok(run.report),
            Outcome::NotHandled => Err(super::repo::not_handled(&request.strategy)),
        }
    }
}
