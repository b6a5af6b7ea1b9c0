//! Running the built `keptn` binary, shared by every test module.

use std::process::Command;

/// How a `keptn` run ended.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `keptn` with `args` and extra environment variables.
pub(crate) fn keptn_with_env<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = Command::new(env!("CARGO_BIN_EXE_keptn"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the keptn binary runs");
    Run {
        code: output
            .status
            .code()
            .expect("exited normally, not by a signal"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `keptn` with `args`.
pub(crate) fn keptn<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    keptn_with_env(args, &[])
}

/// Whether `tool` is on PATH; under `CI=true` a missing tool fails the test (never a silent
/// skip), elsewhere the test prints that it skipped.
pub(crate) fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {tool} is missing (scripts/test.sh installs it)"
    );
    if !found {
        println!("skipped: {tool} is not installed");
    }
    found
}

/// Held by the tests that measure response times (quality gates over real requests) and by the
/// ones that load the machine: run one at a time, the measured tests see the latency of the
/// code, not of their neighbours (cargo runs a binary's tests in parallel threads).
pub(crate) fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
