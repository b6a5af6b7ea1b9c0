//! Project configuration in git: [`keptn_core::ports::ConfigRepo`] on local repositories,
//! optionally pushed to an upstream, through the git command-line tool.
//!
//! Layout, as Keptn's configuration service kept it: one bare repository per project,
//! `<base_dir>/<project>.git`. Branch `main` holds the project-level files (`shipyard.yaml`,
//! ...); each stage has a branch of its name, created from `main` at the stage's first write,
//! and a service's files live under `<service>/` on its stage's branch. Until a stage has a
//! branch, reading it (and its latest commit) reads `main`, which is what the branch will
//! start from. Every write is one commit by `keptn <keptn@localhost>`; writing the content a
//! file already has makes no commit and returns the current one.
//!
//! Writes never use a working tree: the file becomes a blob, a private index builds the new
//! tree, `commit-tree` makes the commit and `update-ref` moves the branch only if nobody moved
//! it meanwhile (compare and swap, retried). So readers never see a half-written state and
//! concurrent writers cannot corrupt a checkout. Writes to one project are serialised inside
//! the process; reads run freely. Several processes on one base directory are safe (no write
//! is lost) but may give up with `Conflict` under heavy contention.
//!
//! When a project has an upstream ([`Git::set_upstream`]), every write pushes all branches
//! after committing. A failed push keeps the local commit and reports
//! [`AdapterErrorKind::Unavailable`](keptn_core::ports::AdapterErrorKind); the next write
//! pushes it along.
//!
//! Git runs with system and user configuration ignored (`GIT_CONFIG_NOSYSTEM`,
//! `GIT_CONFIG_GLOBAL=/dev/null`), so hooks paths, commit signing or default-branch settings
//! of the machine do not change what the adapter does. Settings such as a credential helper
//! for the upstream belong in the repository's own config (`<project>.git/config`).
//!
//! What it does not do: it does not merge or promote between stages (the service writes what
//! each stage needs), does not delete files or repositories, and does not pull changes made
//! in the upstream (a diverged upstream makes pushes fail).

mod client;
mod config;
mod error;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use keptn_core::ports::{AdapterError, ConfigRepo};

use client::{GitCli, Invocation, command_failed};
pub use config::{Config, DEFAULT_TIMEOUT, ValidConfig};
pub use error::Error;

/// The branch with the project-level files.
pub const PROJECT_BRANCH: &str = "main";

/// How often a write is prepared again when another process moved the branch meanwhile.
/// Writers inside one process queue on a lock and never race.
const MAX_WRITE_ATTEMPTS: usize = 5;

/// The git config repo.
#[derive(Debug)]
pub struct Git {
    base_dir: PathBuf,
    cli: GitCli,
    /// One lock per project, held by writes.
    write_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Makes private index file names unique within the process.
    index_counter: AtomicU64,
}

impl Git {
    /// Creates the base directory when missing and checks that git runs.
    pub async fn new(config: ValidConfig) -> Result<Self, Error> {
        tokio::fs::create_dir_all(&config.base_dir)
            .await
            .map_err(|source| Error::CreateDir {
                path: config.base_dir.clone(),
                source,
            })?;
        let cli = GitCli::new(config.git, config.timeout);
        cli.run(&Invocation::new(None, &["--version"])).await?;
        Ok(Self {
            base_dir: config.base_dir,
            cli,
            write_locks: Mutex::new(HashMap::new()),
            index_counter: AtomicU64::new(0),
        })
    }

    /// The bare repository of `project` (it may not exist yet).
    pub fn repository_path(&self, project: &str) -> Result<PathBuf, Error> {
        check_name("project", project)?;
        Ok(self.base_dir.join(format!("{project}.git")))
    }

    /// Sets (or replaces) the upstream of `project`, creating its repository when missing.
    /// A new, empty local repository adopts the upstream's branches; otherwise the local
    /// branches are pushed at once.
    pub async fn set_upstream(&self, project: &str, url: &str) -> Result<(), Error> {
        if url.is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
            });
        }
        let repo = self.repository_path(project)?;
        let lock = self.write_lock(project);
        let _guard = lock.lock().await;
        self.ensure_repository(&repo).await?;
        let verb = if self.upstream_configured(&repo).await? {
            "set-url"
        } else {
            "add"
        };
        self.cli
            .run(&Invocation::new(
                Some(&repo),
                &["remote", verb, "origin", url],
            ))
            .await?;
        match self.branch_head(&repo, PROJECT_BRANCH).await? {
            None => {
                self.cli
                    .run(&Invocation::new(
                        Some(&repo),
                        &["fetch", "--quiet", "origin", "+refs/heads/*:refs/heads/*"],
                    ))
                    .await?;
            }
            Some(head) => self.push(&repo, project, &head).await?,
        }
        Ok(())
    }

    fn write_lock(&self, project: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .write_locks
            .lock()
            .expect("the write-lock map is never left poisoned: no code panics while holding it");
        Arc::clone(locks.entry(project.to_owned()).or_default())
    }

    async fn repository_exists(repo: &Path) -> bool {
        tokio::fs::try_exists(repo.join("HEAD"))
            .await
            .unwrap_or(false)
    }

    async fn existing_repository(&self, project: &str) -> Result<PathBuf, Error> {
        let repo = self.repository_path(project)?;
        if !Self::repository_exists(&repo).await {
            return Err(Error::ProjectNotFound {
                project: project.to_owned(),
            });
        }
        Ok(repo)
    }

    async fn ensure_repository(&self, repo: &Path) -> Result<(), Error> {
        if Self::repository_exists(repo).await {
            return Ok(());
        }
        // `git init` on a half-created repository (a crash during init) completes it.
        let repo_text = repo.to_string_lossy();
        self.cli
            .run(&Invocation::new(
                None,
                &[
                    "init",
                    "--quiet",
                    "--bare",
                    "--initial-branch",
                    PROJECT_BRANCH,
                    "--",
                    &repo_text,
                ],
            ))
            .await?;
        Ok(())
    }

    /// The commit a branch points at, `None` when the branch does not exist.
    async fn branch_head(&self, repo: &Path, branch: &str) -> Result<Option<String>, Error> {
        let reference = format!("refs/heads/{branch}^{{commit}}");
        let args = ["rev-parse", "--verify", "--quiet", reference.as_str()];
        let invocation = Invocation::new(Some(repo), &args);
        let output = self.cli.output(&invocation).await?;
        match output.status.code() {
            Some(0) => Ok(Some(
                String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            )),
            // `--verify --quiet` exits 1, silently, when the name does not resolve.
            Some(1) => Ok(None),
            _ => Err(command_failed(&invocation, &output)),
        }
    }

    /// The commit a stage reads: its branch, or `main` until the stage has a branch.
    async fn stage_head(&self, repo: &Path, stage: Option<&str>) -> Result<Option<String>, Error> {
        if let Some(stage) = stage
            && let Some(head) = self.branch_head(repo, stage).await?
        {
            return Ok(Some(head));
        }
        self.branch_head(repo, PROJECT_BRANCH).await
    }

    async fn upstream_configured(&self, repo: &Path) -> Result<bool, Error> {
        let args = ["config", "--get", "remote.origin.url"];
        let invocation = Invocation::new(Some(repo), &args);
        let output = self.cli.output(&invocation).await?;
        match output.status.code() {
            Some(0) => Ok(true),
            // Exit 1: the key is not set.
            Some(1) => Ok(false),
            _ => Err(command_failed(&invocation, &output)),
        }
    }

    async fn push(&self, repo: &Path, project: &str, commit: &str) -> Result<(), Error> {
        let args = ["push", "--quiet", "origin", "refs/heads/*:refs/heads/*"];
        let invocation = Invocation::new(Some(repo), &args);
        let output = self.cli.output(&invocation).await?;
        if !output.status.success() {
            return Err(Error::Push {
                project: project.to_owned(),
                commit: commit.to_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(())
    }

    /// The commit `main` points at, made first (empty) when the project has none.
    async fn ensure_project_branch(&self, repo: &Path) -> Result<String, Error> {
        if let Some(head) = self.branch_head(repo, PROJECT_BRANCH).await? {
            return Ok(head);
        }
        let empty_tree = self
            .cli
            .run_line(&Invocation::new(Some(repo), &["mktree"]).stdin(b""))
            .await?;
        let commit = self
            .cli
            .run_line(&Invocation::new(
                Some(repo),
                &["commit-tree", &empty_tree, "-m", "keptn: create project"],
            ))
            .await?;
        let reference = format!("refs/heads/{PROJECT_BRANCH}");
        self.cli
            .run(&Invocation::new(
                Some(repo),
                &["update-ref", &reference, &commit, ""],
            ))
            .await?;
        Ok(commit)
    }

    /// The tree of `parent` (or an empty one) with `path` set to `blob`.
    async fn tree_with(
        &self,
        repo: &Path,
        parent: Option<&str>,
        path: &str,
        blob: &str,
    ) -> Result<String, Error> {
        let index_number = self.index_counter.fetch_add(1, Ordering::Relaxed);
        let index_file = repo.join(format!(
            "keptn-write-{}-{index_number}.index",
            std::process::id()
        ));
        let result = async {
            let read_args = match parent {
                Some(parent) => vec!["read-tree", parent],
                None => vec!["read-tree", "--empty"],
            };
            self.cli
                .run(&Invocation::new(Some(repo), &read_args).index_file(&index_file))
                .await?;
            let entry = format!("100644 {blob}\t{path}\n");
            self.cli
                .run(
                    &Invocation::new(Some(repo), &["update-index", "--index-info"])
                        .stdin(entry.as_bytes())
                        .index_file(&index_file),
                )
                .await?;
            self.cli
                .run_line(&Invocation::new(Some(repo), &["write-tree"]).index_file(&index_file))
                .await
        }
        .await;
        // The index is scratch space; a leftover file is harmless.
        let _ = tokio::fs::remove_file(&index_file).await;
        result
    }

    async fn write_inner(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        content: &[u8],
    ) -> Result<String, Error> {
        let repo = self.repository_path(project)?;
        let full_path = repository_file(stage, service, path)?;
        let lock = self.write_lock(project);
        let _guard = lock.lock().await;
        self.ensure_repository(&repo).await?;
        let branch = stage.unwrap_or(PROJECT_BRANCH);
        let reference = format!("refs/heads/{branch}");
        let blob = self
            .cli
            .run_line(
                &Invocation::new(Some(&repo), &["hash-object", "-w", "--stdin"]).stdin(content),
            )
            .await?;
        let mut last_failure = None;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let head = self.branch_head(&repo, branch).await?;
            let parent = match (&head, stage) {
                (Some(head), _) => Some(head.clone()),
                (None, Some(_)) => Some(self.ensure_project_branch(&repo).await?),
                (None, None) => None,
            };
            let tree = self
                .tree_with(&repo, parent.as_deref(), &full_path, &blob)
                .await?;
            if let Some(head) = &head {
                let head_tree = format!("{head}^{{tree}}");
                let current_tree = self
                    .cli
                    .run_line(&Invocation::new(Some(&repo), &["rev-parse", &head_tree]))
                    .await?;
                if current_tree == tree {
                    return Ok(head.clone());
                }
            }
            let message = format!("keptn: write {full_path} on {branch}");
            let mut commit_args = vec!["commit-tree", tree.as_str(), "-m", message.as_str()];
            if let Some(parent) = &parent {
                commit_args.extend(["-p", parent.as_str()]);
            }
            let commit = self
                .cli
                .run_line(&Invocation::new(Some(&repo), &commit_args))
                .await?;
            let expected_old = head.as_deref().unwrap_or("");
            let update_args = [
                "update-ref",
                reference.as_str(),
                commit.as_str(),
                expected_old,
            ];
            let update = Invocation::new(Some(&repo), &update_args);
            let output = self.cli.output(&update).await?;
            if output.status.success() {
                if self.upstream_configured(&repo).await? {
                    self.push(&repo, project, &commit).await?;
                }
                return Ok(commit);
            }
            // Another process moved the branch or holds its lock: prepare the write again on
            // top of whatever the branch is now.
            let moved = self.branch_head(&repo, branch).await? != head;
            last_failure = Some(if moved {
                Error::Contended {
                    project: project.to_owned(),
                    branch: branch.to_owned(),
                }
            } else {
                command_failed(&update, &output)
            });
        }
        Err(last_failure.expect("the loop runs at least once and records each failure"))
    }

    async fn read_inner(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        commit: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        let full_path = repository_file(stage, service, path)?;
        if let Some(commit) = commit {
            check_commit(commit)?;
        }
        let repo = self.existing_repository(project).await?;
        let (revision, revision_name) = match commit {
            Some(commit) => (commit.to_owned(), commit.to_owned()),
            None => {
                let branch_name = stage.unwrap_or(PROJECT_BRANCH).to_owned();
                match self.stage_head(&repo, stage).await? {
                    Some(head) => (head, branch_name),
                    None => {
                        return Err(Error::FileNotFound {
                            project: project.to_owned(),
                            path: full_path,
                            revision: branch_name,
                        });
                    }
                }
            }
        };
        let request = format!("{revision}^{{commit}}\n{revision}:{full_path}\n");
        let args = ["cat-file", "--batch"];
        let invocation = Invocation::new(Some(&repo), &args).stdin(request.as_bytes());
        let stdout = self.cli.run(&invocation).await?;
        let mut answers = BatchAnswers::new(&stdout);
        let unexpected = || Error::Unexpected {
            command: "cat-file".to_owned(),
            output: String::from_utf8_lossy(&stdout).chars().take(200).collect(),
        };
        match answers.next().ok_or_else(unexpected)? {
            BatchAnswer::Object { kind: "commit", .. } => {}
            _ => {
                return Err(Error::CommitNotFound {
                    project: project.to_owned(),
                    commit: revision_name,
                });
            }
        }
        match answers.next().ok_or_else(unexpected)? {
            BatchAnswer::Object {
                kind: "blob",
                content,
            } => Ok(content.to_vec()),
            BatchAnswer::Object { kind: "tree", .. } => Err(Error::NotAFile {
                project: project.to_owned(),
                path: full_path,
                revision: revision_name,
            }),
            _ => Err(Error::FileNotFound {
                project: project.to_owned(),
                path: full_path,
                revision: revision_name,
            }),
        }
    }

    async fn latest_commit_inner(&self, project: &str, stage: &str) -> Result<String, Error> {
        check_stage(stage)?;
        let repo = self.existing_repository(project).await?;
        self.stage_head(&repo, Some(stage))
            .await?
            .ok_or_else(|| Error::NoCommits {
                project: project.to_owned(),
            })
    }
}

/// One answer of `git cat-file --batch`.
enum BatchAnswer<'a> {
    Object {
        kind: &'a str,
        content: &'a [u8],
    },
    /// `missing`, `ambiguous` or anything else without content.
    Absent,
}

/// Splits `git cat-file --batch` output into answers: `<oid> <type> <size>\n<content>\n`, or
/// `<name> missing\n`.
struct BatchAnswers<'a> {
    rest: &'a [u8],
}

impl<'a> BatchAnswers<'a> {
    fn new(output: &'a [u8]) -> Self {
        Self { rest: output }
    }
}

impl<'a> Iterator for BatchAnswers<'a> {
    type Item = BatchAnswer<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let line_end = self.rest.iter().position(|&byte| byte == b'\n')?;
        let header = std::str::from_utf8(&self.rest[..line_end]).ok()?;
        self.rest = &self.rest[line_end + 1..];
        let mut fields = header.rsplitn(3, ' ');
        let (Some(size), Some(kind)) = (fields.next(), fields.next()) else {
            return Some(BatchAnswer::Absent);
        };
        let Ok(size) = size.parse::<usize>() else {
            return Some(BatchAnswer::Absent);
        };
        if self.rest.len() < size + 1 {
            return None;
        }
        let content = &self.rest[..size];
        self.rest = &self.rest[size + 1..];
        Some(BatchAnswer::Object { kind, content })
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 100 {
        Some("must be at most 100 characters long")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("must start with a letter or a digit")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("may hold only letters, digits, '-', '_' and '.'")
    } else if name.contains("..") || name.ends_with('.') || name.ends_with(".lock") {
        Some("must not contain '..' or end with '.' or '.lock'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_stage(stage: &str) -> Result<(), Error> {
    check_name("stage", stage)?;
    if stage == PROJECT_BRANCH {
        return Err(Error::InvalidName {
            what: "stage",
            name: stage.to_owned(),
            reason: "is the branch of the project-level files",
        });
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), Error> {
    let reason = if path.is_empty() {
        Some("must not be empty")
    } else if path.starts_with('/') {
        Some("must be relative to the project, stage or service")
    } else if path.chars().any(|c| c.is_control() || c == '\\') {
        Some("must not contain control characters or backslashes")
    } else {
        path.split('/').find_map(|segment| match segment {
            "" => Some("must not contain empty segments"),
            "." => Some("must not contain '.' segments"),
            ".." => Some("must not leave its directory ('..')"),
            _ if segment.eq_ignore_ascii_case(".git") => Some("must not name '.git'"),
            _ => None,
        })
    };
    match reason {
        Some(reason) => Err(Error::InvalidPath {
            path: path.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_commit(commit: &str) -> Result<(), Error> {
    if (4..=64).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::InvalidCommit {
            commit: commit.to_owned(),
        })
    }
}

/// Checks the names and the path, and returns the path inside the repository.
fn repository_file(
    stage: Option<&str>,
    service: Option<&str>,
    path: &str,
) -> Result<String, Error> {
    if let Some(stage) = stage {
        check_stage(stage)?;
    }
    check_path(path)?;
    match service {
        Some(service) => {
            check_name("service", service)?;
            Ok(format!("{service}/{path}"))
        }
        None => Ok(path.to_owned()),
    }
}

#[async_trait]
impl ConfigRepo for Git {
    async fn read(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        commit: Option<&str>,
    ) -> Result<Vec<u8>, AdapterError> {
        Ok(self
            .read_inner(project, stage, service, path, commit)
            .await?)
    }

    async fn write(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        content: &[u8],
    ) -> Result<String, AdapterError> {
        Ok(self
            .write_inner(project, stage, service, path, content)
            .await?)
    }

    async fn latest_commit(&self, project: &str, stage: &str) -> Result<String, AdapterError> {
        Ok(self.latest_commit_inner(project, stage).await?)
    }

    async fn set_upstream(&self, project: &str, url: &str) -> Result<(), AdapterError> {
        Ok(Git::set_upstream(self, project, url).await?)
    }
}
