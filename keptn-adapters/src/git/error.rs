//! Errors of the git config repo.

use std::path::PathBuf;
use std::time::Duration;

use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the git config repo.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; every problem is listed.
    #[error("invalid git config repo configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with the field name.
        problems: Vec<String>,
    },
    /// A project, stage or service name that cannot name a repository, branch or directory.
    #[error("invalid {what} name '{name}': {reason}")]
    InvalidName {
        /// `project`, `stage` or `service`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A file path that is empty, absolute, or leaves its directory.
    #[error("invalid path '{path}': {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A commit id that is not 4 to 64 hexadecimal digits.
    #[error("invalid commit id '{commit}'")]
    InvalidCommit {
        /// The commit id as given.
        commit: String,
    },
    /// An upstream URL that is empty or could be read as an option.
    #[error("invalid upstream url '{url}'")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The project has no repository yet.
    #[error("project '{project}' has no configuration repository")]
    ProjectNotFound {
        /// The project.
        project: String,
    },
    /// The project's repository has no commit yet.
    #[error("project '{project}' has no commits yet")]
    NoCommits {
        /// The project.
        project: String,
    },
    /// The commit does not exist in the project's repository.
    #[error("commit '{commit}' does not exist in project '{project}'")]
    CommitNotFound {
        /// The project.
        project: String,
        /// The commit id as given.
        commit: String,
    },
    /// The file does not exist at that revision.
    #[error("file '{path}' does not exist in project '{project}' at '{revision}'")]
    FileNotFound {
        /// The project.
        project: String,
        /// The path inside the repository (with the service directory).
        path: String,
        /// The branch or commit read.
        revision: String,
    },
    /// The path names a directory.
    #[error("'{path}' is a directory in project '{project}' at '{revision}'")]
    NotAFile {
        /// The project.
        project: String,
        /// The path inside the repository.
        path: String,
        /// The branch or commit read.
        revision: String,
    },
    /// Other processes kept moving the branch while this write was prepared.
    #[error("branch '{branch}' of project '{project}' kept changing during the write")]
    Contended {
        /// The project.
        project: String,
        /// The branch.
        branch: String,
    },
    /// The commit was made locally but could not be pushed to the upstream.
    #[error("commit '{commit}' of project '{project}' cannot be pushed: {stderr}")]
    Push {
        /// The project.
        project: String,
        /// The local commit (it stays; the next write pushes it too).
        commit: String,
        /// What git printed.
        stderr: String,
    },
    /// A directory could not be created.
    #[error("cannot create the directory '{}'", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The git executable could not be started.
    #[error("cannot run '{}'", program.display())]
    Spawn {
        /// The executable.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A git command did not finish in time (it was killed).
    #[error("git {command} did not finish within {timeout:?}")]
    Timeout {
        /// The git subcommand.
        command: String,
        /// The limit.
        timeout: Duration,
    },
    /// A git command failed.
    #[error("git {command} failed ({status}): {stderr}")]
    Command {
        /// The git subcommand.
        command: String,
        /// The exit status.
        status: String,
        /// What git printed on stderr, trimmed.
        stderr: String,
    },
    /// Git answered in a way this adapter does not understand.
    #[error("unexpected output of git {command}: '{output}'")]
    Unexpected {
        /// The git subcommand.
        command: String,
        /// The output (or its first line).
        output: String,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. }
            | Error::InvalidName { .. }
            | Error::InvalidPath { .. }
            | Error::InvalidCommit { .. }
            | Error::InvalidUrl { .. }
            | Error::NotAFile { .. } => AdapterErrorKind::Invalid,
            Error::ProjectNotFound { .. }
            | Error::NoCommits { .. }
            | Error::CommitNotFound { .. }
            | Error::FileNotFound { .. } => AdapterErrorKind::NotFound,
            Error::Contended { .. } => AdapterErrorKind::Conflict,
            Error::Push { .. } | Error::Spawn { .. } => AdapterErrorKind::Unavailable,
            Error::Timeout { .. } => AdapterErrorKind::Timeout,
            Error::CreateDir { .. } | Error::Command { .. } | Error::Unexpected { .. } => {
                AdapterErrorKind::Failed
            }
        }
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let message = error.to_string();
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match error {
            Error::CreateDir { source, .. } | Error::Spawn { source, .. } => Some(Box::new(source)),
            _ => None,
        };
        AdapterError {
            kind,
            message,
            source,
        }
    }
}
