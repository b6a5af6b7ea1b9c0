//! In-memory implementations of the two storage ports, [`MemoryStore`] ([`Store`]) and
//! [`MemoryConfigRepo`] ([`ConfigRepo`]): for controllers that embed the control plane without
//! a database or git, for examples and for tests. Nothing is durable: what they hold is gone
//! with the process.
//!
//! Both follow the contracts of their traits exactly as the durable adapters do (the contract
//! checks of keptn-adapters, `keptn_adapters::testing`, run against them too), so code tested
//! against them behaves the same on SQLite, PostgreSQL and git.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::event::KeptnEvent;
use crate::orchestrator::State;
use crate::ports::{
    AdapterError, AdapterErrorKind, ConfigRepo, EvaluationRecord, EventFilter, ProjectRecord, Store,
};

/// One event of the history with its flags.
#[derive(Debug, Clone)]
struct StoredEvent {
    event: KeptnEvent,
    processed: bool,
    /// `None` for accepted events (nothing to publish), `Some(false)` while in the outbox.
    published: Option<bool>,
}

#[derive(Debug, Default)]
struct StoreData {
    state: Option<State>,
    /// The history in the order it was recorded.
    events: Vec<StoredEvent>,
    /// Event id to its index in `events`.
    index: HashMap<String, usize>,
    /// Projects by name, services in creation order.
    projects: BTreeMap<String, ProjectRecord>,
    /// Evaluations in the order they were first recorded.
    evaluations: Vec<EvaluationRecord>,
}

/// A [`Store`] in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<StoreData>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreData> {
        // A panic while the lock was held leaves the data as the last completed call left it:
        // every call below changes it only after all its checks passed.
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn conflict(message: String) -> AdapterError {
    AdapterError::new(AdapterErrorKind::Conflict, message)
}

fn not_found(message: String) -> AdapterError {
    AdapterError::new(AdapterErrorKind::NotFound, message)
}

fn matches(event: &KeptnEvent, filter: &EventFilter) -> bool {
    let is = |wanted: &Option<String>, actual: Option<&str>| {
        wanted
            .as_deref()
            .is_none_or(|wanted| actual == Some(wanted))
    };
    let event_type = event.event_type.to_string();
    is(&filter.keptn_context, event.keptn_context.as_deref())
        && is(&filter.event_type, Some(&event_type))
        && is(&filter.project, event.data.project.as_deref())
        && is(&filter.stage, event.data.stage.as_deref())
        && is(&filter.service, event.data.service.as_deref())
}

#[async_trait]
impl Store for MemoryStore {
    async fn load_state(&self) -> Result<Option<State>, AdapterError> {
        Ok(self.lock().state.clone())
    }

    async fn unprocessed(&self) -> Result<Vec<KeptnEvent>, AdapterError> {
        Ok(self
            .lock()
            .events
            .iter()
            .filter(|stored| stored.published.is_none() && !stored.processed)
            .map(|stored| stored.event.clone())
            .collect())
    }

    async fn commit(
        &self,
        state: &State,
        accepted: &[KeptnEvent],
        processed: &[String],
        emitted: &[KeptnEvent],
    ) -> Result<(), AdapterError> {
        let mut data = self.lock();
        // Every check first, so that a failed commit changes nothing; in the order of the
        // durable stores, so that a commit with several faults fails alike.
        if let Some(event) = accepted
            .iter()
            .chain(emitted)
            .find(|event| event.id.is_empty())
        {
            return Err(AdapterError::new(
                AdapterErrorKind::Invalid,
                format!("event of type '{}' has an empty id", event.event_type),
            ));
        }
        let mut new_ids = HashSet::new();
        let duplicate = |event: &KeptnEvent| {
            conflict(format!(
                "an event with id '{}' is in the history already",
                event.id
            ))
        };
        for event in accepted {
            if data.index.contains_key(&event.id) || !new_ids.insert(event.id.as_str()) {
                return Err(duplicate(event));
            }
        }
        for id in processed {
            // Accepted earlier (an inbox event), or in this very commit.
            let accepted_before = data
                .index
                .get(id)
                .is_some_and(|&position| data.events[position].published.is_none());
            if !accepted_before && !new_ids.contains(id.as_str()) {
                return Err(AdapterError::new(
                    AdapterErrorKind::Invalid,
                    format!("event '{id}' was never accepted, so it cannot be marked processed"),
                ));
            }
        }
        for event in emitted {
            if data.index.contains_key(&event.id) || !new_ids.insert(event.id.as_str()) {
                return Err(duplicate(event));
            }
        }
        for id in processed {
            // `None` for an event of this commit: it is stored processed below.
            let position = data.index.get(id).copied();
            if let Some(position) = position {
                data.events[position].processed = true;
            }
        }
        let stored = accepted
            .iter()
            .map(|event| StoredEvent {
                event: event.clone(),
                processed: true,
                published: None,
            })
            .chain(emitted.iter().map(|event| StoredEvent {
                event: event.clone(),
                processed: true,
                published: Some(false),
            }));
        for stored in stored {
            let position = data.events.len();
            data.index.insert(stored.event.id.clone(), position);
            data.events.push(stored);
        }
        data.state = Some(state.clone());
        Ok(())
    }

    async fn known_ids(&self, ids: &[String]) -> Result<Vec<bool>, AdapterError> {
        let data = self.lock();
        Ok(ids.iter().map(|id| data.index.contains_key(id)).collect())
    }

    async fn unpublished(&self) -> Result<Vec<KeptnEvent>, AdapterError> {
        Ok(self
            .lock()
            .events
            .iter()
            .filter(|stored| stored.published == Some(false))
            .map(|stored| stored.event.clone())
            .collect())
    }

    async fn mark_published(&self, event_ids: &[String]) -> Result<(), AdapterError> {
        let mut data = self.lock();
        for id in event_ids {
            if let Some(&position) = data.index.get(id)
                && data.events[position].published.is_some()
            {
                data.events[position].published = Some(true);
            }
        }
        Ok(())
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<KeptnEvent>, AdapterError> {
        let data = self.lock();
        let matching = data
            .events
            .iter()
            .map(|stored| &stored.event)
            .filter(|event| matches(event, filter));
        Ok(if filter.limit == 0 {
            matching.cloned().collect()
        } else {
            matching.rev().take(filter.limit).cloned().collect()
        })
    }

    async fn create_project(&self, project: &ProjectRecord) -> Result<(), AdapterError> {
        let mut data = self.lock();
        if data.projects.contains_key(&project.name) {
            return Err(conflict(format!(
                "project '{}' already exists",
                project.name
            )));
        }
        let mut record = project.clone();
        let mut seen = HashSet::new();
        record
            .services
            .retain(|service| seen.insert(service.clone()));
        data.projects.insert(project.name.clone(), record);
        Ok(())
    }

    async fn delete_project(&self, name: &str) -> Result<(), AdapterError> {
        match self.lock().projects.remove(name) {
            Some(_) => Ok(()),
            None => Err(not_found(format!("project '{name}' does not exist"))),
        }
    }

    async fn projects(&self) -> Result<Vec<ProjectRecord>, AdapterError> {
        Ok(self.lock().projects.values().cloned().collect())
    }

    async fn create_service(&self, project: &str, service: &str) -> Result<(), AdapterError> {
        let mut data = self.lock();
        let record = data
            .projects
            .get_mut(project)
            .ok_or_else(|| not_found(format!("project '{project}' does not exist")))?;
        if !record.services.iter().any(|existing| existing == service) {
            record.services.push(service.to_owned());
        }
        Ok(())
    }

    async fn record_evaluation(&self, evaluation: &EvaluationRecord) -> Result<(), AdapterError> {
        // The durable stores keep times as signed 64-bit milliseconds.
        if i64::try_from(evaluation.time.0).is_err() {
            return Err(AdapterError::new(
                AdapterErrorKind::Invalid,
                format!("time {} is too large to store", evaluation.time.0),
            ));
        }
        let mut data = self.lock();
        match data
            .evaluations
            .iter_mut()
            .find(|existing| existing.event_id == evaluation.event_id)
        {
            Some(existing) => *existing = evaluation.clone(),
            None => data.evaluations.push(evaluation.clone()),
        }
        Ok(())
    }

    async fn evaluations(
        &self,
        project: &str,
        stage: &str,
        service: &str,
        limit: usize,
    ) -> Result<Vec<EvaluationRecord>, AdapterError> {
        let data = self.lock();
        // Newest first: by time, and among equal times the one recorded last.
        let mut matching: Vec<(usize, &EvaluationRecord)> = data
            .evaluations
            .iter()
            .enumerate()
            .filter(|(_, record)| {
                record.project == project && record.stage == stage && record.service == service
            })
            .collect();
        matching.sort_by(|(left_idx, left), (right_idx, right)| {
            right.time.cmp(&left.time).then(right_idx.cmp(left_idx))
        });
        let limit = if limit == 0 { usize::MAX } else { limit };
        Ok(matching
            .into_iter()
            .take(limit)
            .map(|(_, record)| record.clone())
            .collect())
    }
}

/// The branch of the project-level files.
const PROJECT_BRANCH: &str = "main";

/// One commit: its id and every file of its branch at that point.
#[derive(Debug, Clone)]
struct Commit {
    id: String,
    files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Default)]
struct RepoData {
    /// Project to branch to its commits, oldest first.
    projects: HashMap<String, HashMap<String, Vec<Commit>>>,
    /// Upstream URL per project.
    upstreams: HashMap<String, String>,
    n_commits: u64,
}

/// A [`ConfigRepo`] in memory, laid out as the git adapter lays out its repositories: branch
/// `main` holds the project-level files, each stage a branch of its name (started from `main`
/// at the stage's first write; until then reading the stage reads `main`), a service's files
/// live under `<service>/` on its stage's branch; a stage written before the project level
/// starts from an empty commit of `main`. Every write that changes a file is a commit with a
/// 40-hex-digit id; writing the content a file has already returns the current commit. Names
/// and paths are checked as git checks them: a path that leaves its directory (`..`, an
/// absolute path), a name that is not plain (`../x`, `a/b`), the stage name `main` and a
/// commit id that is not 4 to 64 hex digits are `Invalid`. Upstreams are only recorded
/// ([`MemoryConfigRepo::upstream`]), nothing is pushed.
#[derive(Debug, Default)]
pub struct MemoryConfigRepo {
    data: Mutex<RepoData>,
}

impl MemoryConfigRepo {
    /// An empty repository set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The upstream set for `project`, if any.
    pub fn upstream(&self, project: &str) -> Option<String> {
        self.lock().upstreams.get(project).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RepoData> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn invalid(message: String) -> AdapterError {
    AdapterError::new(AdapterErrorKind::Invalid, message)
}

/// A project, stage or service name as the git adapter accepts it (it names a repository, a
/// branch or a directory): letters, digits, `-`, `_` and `.`, starting with a letter or a
/// digit, at most 100 characters, without `..` and not ending in `.` or `.lock`.
fn check_name(what: &str, name: &str) -> Result<(), AdapterError> {
    let plain = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.contains("..")
        && !name.ends_with('.')
        && !name.ends_with(".lock");
    if plain {
        Ok(())
    } else {
        Err(invalid(format!("invalid {what} name '{name}'")))
    }
}

/// A stage name; `main` is the branch of the project-level files.
fn check_stage(stage: &str) -> Result<(), AdapterError> {
    check_name("stage", stage)?;
    if stage == PROJECT_BRANCH {
        return Err(invalid(format!(
            "invalid stage name '{stage}': is the branch of the project-level files"
        )));
    }
    Ok(())
}

/// A commit id as git takes it: 4 to 64 hex digits.
fn check_commit(commit: &str) -> Result<(), AdapterError> {
    if (4..=64).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(invalid(format!("invalid commit id '{commit}'")))
    }
}

/// Checks the names and the path, and returns the path of the file inside its branch. A path
/// must be relative and stay inside its directory (no empty, `.` or `..` segments, no `.git`,
/// backslashes or control characters), as the git adapter requires.
fn repository_file(
    project: &str,
    stage: Option<&str>,
    service: Option<&str>,
    path: &str,
) -> Result<String, AdapterError> {
    check_name("project", project)?;
    if let Some(stage) = stage {
        check_stage(stage)?;
    }
    let leaves = path.is_empty()
        || path.starts_with('/')
        || path.chars().any(|c| c.is_control() || c == '\\')
        || path.split('/').any(|segment| {
            segment.is_empty()
                || segment == "."
                || segment == ".."
                || segment.eq_ignore_ascii_case(".git")
        });
    if leaves {
        return Err(invalid(format!("invalid path '{path}'")));
    }
    Ok(match service {
        Some(service) => {
            check_name("service", service)?;
            format!("{service}/{path}")
        }
        None => path.to_owned(),
    })
}

impl RepoData {
    fn next_commit_id(&mut self) -> String {
        self.n_commits += 1;
        format!("{:040x}", self.n_commits)
    }
}

#[async_trait]
impl ConfigRepo for MemoryConfigRepo {
    async fn read(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        commit: Option<&str>,
    ) -> Result<Vec<u8>, AdapterError> {
        let full_path = repository_file(project, stage, service, path)?;
        if let Some(commit) = commit {
            check_commit(commit)?;
        }
        let data = self.lock();
        let branches = data
            .projects
            .get(project)
            .ok_or_else(|| not_found(format!("project '{project}' has no repository")))?;
        let files = match commit {
            Some(commit) => {
                &branches
                    .values()
                    .flatten()
                    .find(|candidate| candidate.id == commit)
                    .ok_or_else(|| {
                        not_found(format!("commit '{commit}' is not in project '{project}'"))
                    })?
                    .files
            }
            None => {
                let branch = stage
                    .and_then(|stage| branches.get(stage))
                    .or_else(|| branches.get(PROJECT_BRANCH));
                match branch.and_then(|commits| commits.last()) {
                    Some(head) => &head.files,
                    None => {
                        return Err(not_found(format!(
                            "{full_path} is not in project '{project}'"
                        )));
                    }
                }
            }
        };
        let revision = commit.or(stage).unwrap_or(PROJECT_BRANCH);
        if let Some(content) = files.get(&full_path) {
            return Ok(content.clone());
        }
        let directory = format!("{full_path}/");
        if files.keys().any(|file| file.starts_with(&directory)) {
            return Err(invalid(format!(
                "{full_path} is a directory in project '{project}' ({revision})"
            )));
        }
        Err(not_found(format!(
            "{full_path} is not in project '{project}' ({revision})"
        )))
    }

    async fn write(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        content: &[u8],
    ) -> Result<String, AdapterError> {
        let full_path = repository_file(project, stage, service, path)?;
        let mut data = self.lock();
        // A stage starts from the project files; a project without any gets an empty commit
        // of them first, as in git.
        let needs_project_commit = stage.is_some()
            && data
                .projects
                .get(project)
                .is_none_or(|branches| !branches.contains_key(PROJECT_BRANCH));
        if needs_project_commit {
            let id = data.next_commit_id();
            data.projects.entry(project.to_owned()).or_default().insert(
                PROJECT_BRANCH.to_owned(),
                vec![Commit {
                    id,
                    files: BTreeMap::new(),
                }],
            );
        }
        let branch_name = stage.unwrap_or(PROJECT_BRANCH);
        let branches = data.projects.entry(project.to_owned()).or_default();
        if !branches.contains_key(branch_name) {
            let start = branches
                .get(PROJECT_BRANCH)
                .and_then(|commits| commits.last())
                .cloned();
            branches.insert(branch_name.to_owned(), start.into_iter().collect());
        }
        let head = branches.get(branch_name).and_then(|commits| commits.last());
        if let Some(head) = head
            && head.files.get(&full_path).map(Vec::as_slice) == Some(content)
        {
            return Ok(head.id.clone());
        }
        let mut files = head.map(|head| head.files.clone()).unwrap_or_default();
        files.insert(full_path, content.to_vec());
        let id = data.next_commit_id();
        data.projects
            .get_mut(project)
            .and_then(|branches| branches.get_mut(branch_name))
            .expect("the branch was created above")
            .push(Commit {
                id: id.clone(),
                files,
            });
        Ok(id)
    }

    async fn latest_commit(&self, project: &str, stage: &str) -> Result<String, AdapterError> {
        check_name("project", project)?;
        check_stage(stage)?;
        let data = self.lock();
        let branches = data
            .projects
            .get(project)
            .ok_or_else(|| not_found(format!("project '{project}' has no repository")))?;
        branches
            .get(stage)
            .or_else(|| branches.get(PROJECT_BRANCH))
            .and_then(|commits| commits.last())
            .map(|head| head.id.clone())
            .ok_or_else(|| not_found(format!("project '{project}' has no commits")))
    }

    async fn set_upstream(&self, project: &str, url: &str) -> Result<(), AdapterError> {
        check_name("project", project)?;
        if url.is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
            return Err(invalid(format!("invalid upstream url '{url}'")));
        }
        self.lock()
            .upstreams
            .insert(project.to_owned(), url.to_owned());
        Ok(())
    }
}
