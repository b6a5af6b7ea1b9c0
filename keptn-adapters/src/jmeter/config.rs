//! The JMeter runner's configuration: where JMeter and the JDK tools are, where runs happen,
//! time limits and the reachability check. What to run (workloads) comes with each request,
//! from Keptn's `jmeter/jmeter.conf.yaml` (see [`super::Workloads`]).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Error;

/// Default of [`Config::jmeter_home`]: Debian's JMeter.
pub const DEFAULT_JMETER_HOME: &str = "/usr/share/jmeter";
/// Default of [`Config::xstream_jar`]: Debian's XStream (package libxstream-java, a dependency
/// of jmeter).
pub const DEFAULT_XSTREAM_JAR: &str = "/usr/share/java/xstream.jar";
/// Default of [`Config::timeout_seconds`]: one hour per JMeter run.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 3600.0;
/// Default of [`HealthcheckConfig::tries`] (jmeter-service: 3).
pub const DEFAULT_HEALTHCHECK_TRIES: u32 = 3;
/// Default of [`HealthcheckConfig::interval_seconds`] (jmeter-service: 5 s).
pub const DEFAULT_HEALTHCHECK_INTERVAL_SECONDS: f64 = 5.0;
/// Default of [`HealthcheckConfig::connect_timeout_seconds`] (jmeter-service: 5 s).
pub const DEFAULT_CONNECT_TIMEOUT_SECONDS: f64 = 5.0;

/// The longest run time accepted, in seconds (one day).
const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;
/// The most reachability tries accepted.
const MAX_TRIES: u32 = 100;
/// The longest wait between tries and connect timeout accepted, in seconds.
const MAX_WAIT_SECONDS: f64 = 600.0;

/// The JMeter runner's configuration, as written in the service configuration.
///
/// ```yaml
/// work_dir: /var/lib/keptn/jmeter
/// jmeter: jmeter                  # on PATH
/// jmeter_home: /usr/share/jmeter
/// timeout_seconds: 3600
/// healthcheck: { tries: 3, interval_seconds: 5, connect_timeout_seconds: 5 }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// An absolute directory the runner owns: each run gets a directory below `runs/` (the
    /// plan, JMeter's log and results), and the compiled XStream fix and the copied
    /// `saveservice.properties` live in `xstream-fix/`. Created when missing.
    pub work_dir: PathBuf,
    /// The `jmeter` command. Default `jmeter`, looked up on PATH (Debian packages `jmeter` and
    /// `jmeter-http`; without `jmeter-http` JMeter has no HTTP sampler).
    #[serde(default)]
    pub jmeter: Option<PathBuf>,
    /// JMeter's installation directory, holding `bin/saveservice.properties`. Default
    /// `/usr/share/jmeter`.
    #[serde(default)]
    pub jmeter_home: Option<PathBuf>,
    /// The `javac` command that compiles the XStream fix. Default `javac` on PATH (Debian
    /// package default-jdk-headless).
    #[serde(default)]
    pub javac: Option<PathBuf>,
    /// The `jar` command that packs the XStream fix. Default `jar` on PATH (Debian package
    /// default-jdk-headless).
    #[serde(default)]
    pub jar: Option<PathBuf>,
    /// XStream's jar, to compile the fix against. Default `/usr/share/java/xstream.jar`.
    #[serde(default)]
    pub xstream_jar: Option<PathBuf>,
    /// Whether to apply the XStream fix. Debian's JMeter 2.13 with XStream 1.4.20 loads no
    /// plan without it (XStream's default allow-list refuses JMeter's classes); turn it off
    /// for a JMeter that brings its own XStream. Default `true`.
    #[serde(default)]
    pub xstream_fix: Option<bool>,
    /// How long one JMeter run may take, in seconds (fractions allowed); a run still going
    /// is killed and the test errors. Default 3600.
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// Keep each run's directory (plan, `jmeter.log`, `results.jtl`, stdout) for
    /// troubleshooting instead of deleting it after the run. Default `false`.
    #[serde(default)]
    pub keep_runs: Option<bool>,
    /// The reachability check before the health check workload.
    #[serde(default)]
    pub healthcheck: Option<HealthcheckConfig>,
}

/// How the target's reachability is checked before any workload runs: a TCP connection to
/// its host and port, tried up to `tries` times, `interval_seconds` apart.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckConfig {
    /// Connection attempts before the target counts as unreachable. Default 3.
    #[serde(default)]
    pub tries: Option<u32>,
    /// Pause between attempts, in seconds. Default 5 (as jmeter-service).
    #[serde(default)]
    pub interval_seconds: Option<f64>,
    /// How long one attempt may take, in seconds. Default 5.
    #[serde(default)]
    pub connect_timeout_seconds: Option<f64>,
}

/// A [`Config`] that passed [`Config::validate`], defaults applied: the only way to build a
/// [`super::JMeter`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig {
    pub(super) work_dir: PathBuf,
    pub(super) jmeter: PathBuf,
    pub(super) jmeter_home: PathBuf,
    pub(super) javac: PathBuf,
    pub(super) jar: PathBuf,
    pub(super) xstream_jar: PathBuf,
    pub(super) xstream_fix: bool,
    pub(super) timeout: Duration,
    pub(super) keep_runs: bool,
    pub(super) tries: u32,
    pub(super) interval: Duration,
    pub(super) connect_timeout: Duration,
}

impl ValidConfig {
    /// The runner's directory.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The `jmeter` command.
    pub fn jmeter(&self) -> &Path {
        &self.jmeter
    }

    /// JMeter's installation directory.
    pub fn jmeter_home(&self) -> &Path {
        &self.jmeter_home
    }

    /// How long one JMeter run may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Reachability tries.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Pause between reachability tries.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl Config {
    /// A configuration with every default and `work_dir` as the runner's directory.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        Self {
            work_dir: work_dir.into(),
            jmeter: None,
            jmeter_home: None,
            javac: None,
            jar: None,
            xstream_jar: None,
            xstream_fix: None,
            timeout_seconds: None,
            keep_runs: None,
            healthcheck: None,
        }
    }

    /// Checks the configuration without touching the file system and applies the defaults
    /// (named `DEFAULT_*` in this module): `jmeter`, `javac` and `jar` on PATH, JMeter in
    /// `/usr/share/jmeter`, XStream at `/usr/share/java/xstream.jar`, the XStream fix on,
    /// 3600 s per run, runs deleted afterwards, 3 reachability tries 5 s apart with a 5 s
    /// connect timeout. Reports every problem at once, each with its field.
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        check_absolute("work_dir", &self.work_dir, &mut problems);
        let jmeter_home = self
            .jmeter_home
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_JMETER_HOME));
        check_absolute("jmeter_home", &jmeter_home, &mut problems);
        let xstream_jar = self
            .xstream_jar
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_XSTREAM_JAR));
        let mut program = |field: &str, value: &Option<PathBuf>, default: &str| match value {
            Some(path) if path.as_os_str().is_empty() => {
                problems.push(format!("{field}: must not be empty"));
                PathBuf::from(default)
            }
            Some(path) => path.clone(),
            None => PathBuf::from(default),
        };
        let jmeter = program("jmeter", &self.jmeter, "jmeter");
        let javac = program("javac", &self.javac, "javac");
        let jar = program("jar", &self.jar, "jar");
        let timeout = seconds(
            "timeout_seconds",
            self.timeout_seconds,
            DEFAULT_TIMEOUT_SECONDS,
            MAX_TIMEOUT_SECONDS,
            false,
            &mut problems,
        );
        let healthcheck = self.healthcheck.clone().unwrap_or_default();
        let tries = healthcheck.tries.unwrap_or(DEFAULT_HEALTHCHECK_TRIES);
        if tries == 0 || tries > MAX_TRIES {
            problems.push(format!(
                "healthcheck.tries: must be between 1 and {MAX_TRIES}, got '{tries}'"
            ));
        }
        let interval = seconds(
            "healthcheck.interval_seconds",
            healthcheck.interval_seconds,
            DEFAULT_HEALTHCHECK_INTERVAL_SECONDS,
            MAX_WAIT_SECONDS,
            true,
            &mut problems,
        );
        let connect_timeout = seconds(
            "healthcheck.connect_timeout_seconds",
            healthcheck.connect_timeout_seconds,
            DEFAULT_CONNECT_TIMEOUT_SECONDS,
            MAX_WAIT_SECONDS,
            false,
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(Error::Config { problems });
        }
        Ok(ValidConfig {
            work_dir: self.work_dir.clone(),
            jmeter,
            jmeter_home,
            javac,
            jar,
            xstream_jar,
            xstream_fix: self.xstream_fix.unwrap_or(true),
            timeout,
            keep_runs: self.keep_runs.unwrap_or(false),
            tries,
            interval,
            connect_timeout,
        })
    }
}

fn check_absolute(field: &str, path: &Path, problems: &mut Vec<String>) {
    if !path.is_absolute() {
        problems.push(format!(
            "{field}: must be an absolute path, got '{}'",
            path.display()
        ));
    } else if path
        .components()
        .any(|component| matches!(component, Component::ParentDir))
    {
        problems.push(format!(
            "{field}: must not contain '..', got '{}'",
            path.display()
        ));
    }
}

fn seconds(
    field: &str,
    value: Option<f64>,
    default: f64,
    max: f64,
    zero_allowed: bool,
    problems: &mut Vec<String>,
) -> Duration {
    let value = value.unwrap_or(default);
    let low_ok = if zero_allowed {
        value >= 0.0
    } else {
        value > 0.0
    };
    if value.is_finite() && low_ok && value <= max {
        Duration::from_secs_f64(value)
    } else {
        let low = if zero_allowed {
            "at least 0"
        } else {
            "above 0"
        };
        problems.push(format!(
            "{field}: must be {low} and at most {max}, got '{value}'"
        ));
        Duration::from_secs_f64(default)
    }
}
