//! The only file that runs git: one command at a time through `tokio::process`.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::Error;

/// Who the adapter's commits are by.
const AUTHOR_NAME: &str = "keptn";
const AUTHOR_EMAIL: &str = "keptn@localhost";

/// Runs git with a fixed, isolated environment.
#[derive(Debug, Clone)]
pub(super) struct GitCli {
    program: PathBuf,
    timeout: Duration,
}

/// One git invocation.
pub(super) struct Invocation<'a> {
    /// `--git-dir`, when the command works on a repository.
    pub(super) git_dir: Option<&'a Path>,
    /// The arguments after the global options.
    pub(super) args: &'a [&'a str],
    /// Bytes for stdin.
    pub(super) stdin: Option<&'a [u8]>,
    /// `GIT_INDEX_FILE`, for commands that build a tree in a private index.
    pub(super) index_file: Option<&'a Path>,
}

impl<'a> Invocation<'a> {
    pub(super) fn new(git_dir: Option<&'a Path>, args: &'a [&'a str]) -> Self {
        Self {
            git_dir,
            args,
            stdin: None,
            index_file: None,
        }
    }

    pub(super) fn stdin(mut self, bytes: &'a [u8]) -> Self {
        self.stdin = Some(bytes);
        self
    }

    pub(super) fn index_file(mut self, path: &'a Path) -> Self {
        self.index_file = Some(path);
        self
    }

    fn command_name(&self) -> String {
        self.args.first().copied().unwrap_or_default().to_owned()
    }
}

impl GitCli {
    pub(super) fn new(program: PathBuf, timeout: Duration) -> Self {
        Self { program, timeout }
    }

    /// Runs the command and returns its output whatever the exit status.
    pub(super) async fn output(&self, invocation: &Invocation<'_>) -> Result<Output, Error> {
        let mut command = Command::new(&self.program);
        // Only the repository's own config counts: system and user config (hooks paths,
        // signing, default branch names, credential helpers) would make the adapter behave
        // differently per machine. Put per-repository settings in `<project>.git/config`.
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
            .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
            .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
            .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
            .stdin(if invocation.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(index_file) = invocation.index_file {
            command.env("GIT_INDEX_FILE", index_file);
        }
        if let Some(git_dir) = invocation.git_dir {
            command.arg("--git-dir").arg(git_dir);
        }
        command.args(invocation.args);
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            program: self.program.clone(),
            source,
        })?;
        // Feed stdin while the output is read, so a large file cannot fill both pipes.
        let writer = match (invocation.stdin, child.stdin.take()) {
            (Some(bytes), Some(mut stdin)) => {
                let bytes = bytes.to_vec();
                Some(tokio::spawn(async move {
                    // A git that exits early closes the pipe; its exit status tells why.
                    let _ = stdin.write_all(&bytes).await;
                }))
            }
            _ => None,
        };
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| Error::Timeout {
                command: invocation.command_name(),
                timeout: self.timeout,
            })?
            .map_err(|source| Error::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        Ok(output)
    }

    /// Runs the command and returns its stdout; a non-zero exit is [`Error::Command`].
    pub(super) async fn run(&self, invocation: &Invocation<'_>) -> Result<Vec<u8>, Error> {
        let output = self.output(invocation).await?;
        if !output.status.success() {
            return Err(command_failed(invocation, &output));
        }
        Ok(output.stdout)
    }

    /// Runs the command and returns its stdout as one trimmed line.
    pub(super) async fn run_line(&self, invocation: &Invocation<'_>) -> Result<String, Error> {
        let stdout = self.run(invocation).await?;
        String::from_utf8(stdout)
            .map(|text| text.trim().to_owned())
            .map_err(|source| Error::Unexpected {
                command: invocation.command_name(),
                output: String::from_utf8_lossy(source.as_bytes()).into_owned(),
            })
    }
}

pub(super) fn command_failed(invocation: &Invocation<'_>, output: &Output) -> Error {
    Error::Command {
        command: invocation.command_name(),
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    }
}
