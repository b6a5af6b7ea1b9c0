//! Tests against the real git command-line tool, in temporary directories, with a local bare
//! repository as upstream. The adapter ignores system and user git config, and so do the
//! helpers here.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use keptn_core::ports::{AdapterError, AdapterErrorKind, ConfigRepo};
use tempfile::TempDir;

use super::{Config, Error, Git};

/// Whether git is installed. Missing git skips a test on a laptop and fails it under CI=true.
fn git_available() -> bool {
    let found = Command::new("git").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "git is required under CI=true"
        );
        eprintln!("skipped: git is not installed");
    }
    found
}

/// Runs git outside the adapter (to inspect or prepare repositories) and returns stdout.
fn git(args: &[&str]) -> String {
    let output = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("git prints UTF-8 here")
        .trim()
        .to_owned()
}

async fn open(base_dir: &Path) -> Git {
    Git::new(Config::new(base_dir).validate().expect("valid"))
        .await
        .expect("git runs")
}

async fn fresh() -> (TempDir, Git) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let repo = open(&dir.path().join("config")).await;
    (dir, repo)
}

fn assert_kind<T: std::fmt::Debug>(
    result: Result<T, AdapterError>,
    kind: AdapterErrorKind,
) -> String {
    let error = result.expect_err("the call fails");
    assert_eq!(error.kind, kind, "{error}");
    error.message
}

async fn read_text(
    repo: &Git,
    stage: Option<&str>,
    service: Option<&str>,
    path: &str,
    commit: Option<&str>,
) -> String {
    let bytes = repo
        .read("sockshop", stage, service, path, commit)
        .await
        .expect("reads");
    String::from_utf8(bytes).expect("UTF-8 test content")
}

fn is_commit_id(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

// Configuration.

#[test]
fn config_defaults_and_problems() {
    let valid = Config::new("/var/lib/keptn/config")
        .validate()
        .expect("valid");
    assert_eq!(valid.git, Path::new("git"));
    assert_eq!(valid.timeout, super::DEFAULT_TIMEOUT);
    let config = Config {
        base_dir: "".into(),
        git: Some("".into()),
        timeout_seconds: Some(0),
    };
    let error = config.validate().expect_err("three problems");
    assert_eq!(
        error.to_string(),
        "invalid git config repo configuration: base_dir: must not be empty; \
         git: must not be empty (leave it out to use 'git' from PATH); \
         timeout_seconds: must be at least 1"
    );
}

#[tokio::test]
async fn a_missing_git_is_unavailable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = Config {
        base_dir: dir.path().join("config"),
        git: Some(dir.path().join("no-such-git")),
        timeout_seconds: None,
    };
    let error = Git::new(config.validate().expect("valid"))
        .await
        .expect_err("the executable does not exist");
    assert!(matches!(error, Error::Spawn { .. }), "{error:?}");
    let error = AdapterError::from(error);
    assert_eq!(error.kind, AdapterErrorKind::Unavailable);
    assert!(error.source.is_some());
}

#[tokio::test]
async fn a_hanging_git_times_out() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let stub = dir.path().join("slow-git");
    std::fs::write(&stub, "#!/bin/sh\nexec sleep 30\n").expect("writes the stub");
    let mut permissions = std::fs::metadata(&stub).expect("exists").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&stub, permissions).expect("chmod");
    let config = Config {
        base_dir: dir.path().join("config"),
        git: Some(stub),
        timeout_seconds: Some(1),
    };
    let valid = config.validate().expect("valid");
    let mut attempts = 0;
    let (error, elapsed) = loop {
        let started = std::time::Instant::now();
        let error = Git::new(valid.clone())
            .await
            .expect_err("the stub never answers");
        attempts += 1;
        // A test thread that forked while the stub was open for writing makes exec fail with
        // ETXTBSY until that child execs; that is about the test, not the adapter.
        match &error {
            Error::Spawn { source, .. } if source.raw_os_error() == Some(26) && attempts < 5 => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            _ => break (error, started.elapsed()),
        }
    };
    assert!(elapsed < std::time::Duration::from_secs(10));
    assert_eq!(error.to_string(), "git --version did not finish within 1s");
    assert_eq!(AdapterError::from(error).kind, AdapterErrorKind::Timeout);
}

// The ConfigRepo contract (crate::testing).

#[tokio::test]
async fn config_repo_contract() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    crate::testing::check_config_repo(&repo).await;
}

// Reading and writing.

#[tokio::test]
async fn project_files_live_on_main() {
    if !git_available() {
        return;
    }
    let (dir, repo) = fresh().await;
    let commit = repo
        .write("sockshop", None, None, "shipyard.yaml", b"stages: []\n")
        .await
        .expect("writes");
    assert!(is_commit_id(&commit), "{commit}");
    assert_eq!(
        read_text(&repo, None, None, "shipyard.yaml", None).await,
        "stages: []\n"
    );
    let git_dir = dir.path().join("config").join("sockshop.git");
    let git_dir = git_dir.to_str().expect("UTF-8 temp path");
    assert_eq!(
        git(&["--git-dir", git_dir, "rev-parse", "refs/heads/main"]),
        commit
    );
    assert_eq!(
        git(&[
            "--git-dir",
            git_dir,
            "log",
            "-1",
            "--format=%an <%ae>|%cn <%ce>"
        ]),
        "keptn <keptn@localhost>|keptn <keptn@localhost>"
    );
}

#[tokio::test]
async fn stage_branches_start_from_main_and_hold_service_directories() {
    if !git_available() {
        return;
    }
    let (dir, repo) = fresh().await;
    let main_commit = repo
        .write("sockshop", None, None, "shipyard.yaml", b"v1")
        .await
        .expect("writes");
    // A stage without a branch reads main.
    assert_eq!(
        repo.latest_commit("sockshop", "dev")
            .await
            .expect("resolves"),
        main_commit
    );
    let dev_commit = repo
        .write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            b"objectives: []",
        )
        .await
        .expect("writes");
    assert_ne!(dev_commit, main_commit);
    assert_eq!(
        repo.latest_commit("sockshop", "dev")
            .await
            .expect("resolves"),
        dev_commit
    );
    assert_eq!(
        repo.latest_commit("sockshop", "prod")
            .await
            .expect("resolves"),
        main_commit
    );
    // The stage branch has main's files and the service directory.
    assert_eq!(
        read_text(&repo, Some("dev"), None, "shipyard.yaml", None).await,
        "v1"
    );
    assert_eq!(
        read_text(&repo, Some("dev"), None, "carts/slo.yaml", None).await,
        "objectives: []"
    );
    assert_eq!(
        read_text(&repo, Some("dev"), Some("carts"), "slo.yaml", None).await,
        "objectives: []"
    );
    // Main and other stages do not see it.
    assert_kind(
        repo.read("sockshop", None, Some("carts"), "slo.yaml", None)
            .await,
        AdapterErrorKind::NotFound,
    );
    let message = assert_kind(
        repo.read("sockshop", Some("prod"), Some("carts"), "slo.yaml", None)
            .await,
        AdapterErrorKind::NotFound,
    );
    assert_eq!(
        message,
        "file 'carts/slo.yaml' does not exist in project 'sockshop' at 'prod'"
    );
    let git_dir = dir.path().join("config").join("sockshop.git");
    let git_dir = git_dir.to_str().expect("UTF-8 temp path");
    assert_eq!(
        git(&["--git-dir", git_dir, "rev-parse", "refs/heads/dev^"]),
        main_commit
    );
}

#[tokio::test]
async fn a_stage_written_first_gets_an_empty_main_to_start_from() {
    if !git_available() {
        return;
    }
    let (dir, repo) = fresh().await;
    let dev_commit = repo
        .write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "values.yaml",
            b"image: carts",
        )
        .await
        .expect("writes");
    let git_dir = dir.path().join("config").join("sockshop.git");
    let git_dir = git_dir.to_str().expect("UTF-8 temp path");
    let main_commit = git(&["--git-dir", git_dir, "rev-parse", "refs/heads/main"]);
    assert_eq!(
        git(&["--git-dir", git_dir, "rev-parse", &format!("{dev_commit}^")]),
        main_commit
    );
    assert_eq!(
        git(&["--git-dir", git_dir, "ls-tree", "-r", "--name-only", "main"]),
        ""
    );
}

#[tokio::test]
async fn reads_at_a_commit_see_that_commit() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    let first = repo
        .write("sockshop", Some("dev"), Some("carts"), "slo.yaml", b"first")
        .await
        .expect("writes");
    let second = repo
        .write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            b"second",
        )
        .await
        .expect("writes");
    assert_ne!(first, second);
    assert_eq!(
        read_text(&repo, Some("dev"), Some("carts"), "slo.yaml", Some(&first)).await,
        "first"
    );
    assert_eq!(
        read_text(
            &repo,
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            Some(&first[..12])
        )
        .await,
        "first"
    );
    assert_eq!(
        read_text(&repo, Some("dev"), Some("carts"), "slo.yaml", None).await,
        "second"
    );
}

#[tokio::test]
async fn writing_unchanged_content_makes_no_commit() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    let first = repo
        .write("sockshop", Some("dev"), None, "a.yaml", b"same")
        .await
        .expect("writes");
    let again = repo
        .write("sockshop", Some("dev"), None, "a.yaml", b"same")
        .await
        .expect("writes");
    assert_eq!(first, again);
}

#[tokio::test]
async fn binary_and_large_content_round_trips() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    let binary: Vec<u8> = (0..=255_u8).chain([b'\n', 0, b'\n']).collect();
    repo.write("sockshop", Some("dev"), Some("carts"), "chart.tgz", &binary)
        .await
        .expect("writes");
    let large: Vec<u8> = (0..2_000_000_u32).map(|n| (n % 251) as u8).collect();
    repo.write("sockshop", Some("dev"), Some("carts"), "big.bin", &large)
        .await
        .expect("writes");
    let read = |path: &'static str| repo.read("sockshop", Some("dev"), Some("carts"), path, None);
    assert_eq!(read("chart.tgz").await.expect("reads"), binary);
    assert_eq!(read("big.bin").await.expect("reads"), large);
}

#[tokio::test]
async fn nested_paths_and_directories() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    repo.write(
        "sockshop",
        Some("dev"),
        Some("carts"),
        "helm/templates/svc.yaml",
        b"kind: Service",
    )
    .await
    .expect("writes");
    assert_eq!(
        read_text(
            &repo,
            Some("dev"),
            Some("carts"),
            "helm/templates/svc.yaml",
            None
        )
        .await,
        "kind: Service"
    );
    let message = assert_kind(
        repo.read("sockshop", Some("dev"), Some("carts"), "helm", None)
            .await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        message,
        "'carts/helm' is a directory in project 'sockshop' at 'dev'"
    );
}

#[tokio::test]
async fn concurrent_writes_to_one_stage_all_land() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    let repo = Arc::new(repo);
    let mut tasks = Vec::new();
    for file_idx in 0..8 {
        let repo = Arc::clone(&repo);
        tasks.push(tokio::spawn(async move {
            let path = format!("file-{file_idx}.txt");
            repo.write("sockshop", Some("dev"), None, &path, path.as_bytes())
                .await
        }));
    }
    for task in tasks {
        task.await.expect("the task runs").expect("writes");
    }
    for file_idx in 0..8 {
        let path = format!("file-{file_idx}.txt");
        assert_eq!(read_text(&repo, Some("dev"), None, &path, None).await, path);
    }
}

#[tokio::test]
async fn two_instances_on_one_base_dir_lose_no_write() {
    if !git_available() {
        return;
    }
    let (dir, first) = fresh().await;
    first
        .write("sockshop", Some("dev"), None, "start.txt", b"start")
        .await
        .expect("writes");
    let second = open(&dir.path().join("config")).await;
    let (first, second) = (Arc::new(first), Arc::new(second));
    let mut tasks = Vec::new();
    for file_idx in 0..8 {
        let repo = Arc::clone(if file_idx % 2 == 0 { &first } else { &second });
        tasks.push(tokio::spawn(async move {
            let path = format!("file-{file_idx}.txt");
            repo.write("sockshop", Some("dev"), None, &path, path.as_bytes())
                .await
        }));
    }
    for task in tasks {
        task.await.expect("the task runs").expect("writes");
    }
    for file_idx in 0..8 {
        let path = format!("file-{file_idx}.txt");
        assert_eq!(
            read_text(&first, Some("dev"), None, &path, None).await,
            path
        );
    }
}

#[tokio::test]
async fn a_new_instance_reads_what_an_earlier_one_wrote() {
    if !git_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let commit = open(&dir.path().join("config"))
        .await
        .write("sockshop", None, None, "shipyard.yaml", b"kept")
        .await
        .expect("writes");
    let repo = open(&dir.path().join("config")).await;
    assert_eq!(
        read_text(&repo, None, None, "shipyard.yaml", None).await,
        "kept"
    );
    assert_eq!(
        repo.latest_commit("sockshop", "dev")
            .await
            .expect("resolves"),
        commit
    );
}

// Rejected input and missing things.

#[tokio::test]
async fn paths_that_leave_the_repository_are_invalid() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    for path in [
        "../escape.yaml",
        "a/../../escape.yaml",
        "/etc/passwd",
        ".git/config",
        "a/.GIT/hooks/pre-push",
        "",
        "a//b",
        "./a",
        "a\\..\\b",
        "a\nb",
    ] {
        let message = assert_kind(
            repo.write("sockshop", Some("dev"), None, path, b"x").await,
            AdapterErrorKind::Invalid,
        );
        assert!(
            message.starts_with(&format!("invalid path '{path}': ")),
            "{message}"
        );
        assert_kind(
            repo.read("sockshop", Some("dev"), None, path, None).await,
            AdapterErrorKind::Invalid,
        );
    }
    let message = assert_kind(
        repo.write("sockshop", None, None, "../x", b"x").await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        message,
        "invalid path '../x': must not leave its directory ('..')"
    );
    // Nothing was created for the refused writes.
    assert_kind(
        repo.latest_commit("sockshop", "dev").await,
        AdapterErrorKind::NotFound,
    );
}

#[tokio::test]
async fn names_that_are_not_plain_are_invalid() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    let cases: [(&str, Option<&str>, Option<&str>, &str); 6] = [
        (
            "../sockshop",
            None,
            None,
            "invalid project name '../sockshop': must start with a letter or a digit",
        ),
        (
            "sock/shop",
            None,
            None,
            "invalid project name 'sock/shop': may hold only letters, digits, '-', '_' and '.'",
        ),
        (
            "sockshop",
            Some("main"),
            None,
            "invalid stage name 'main': is the branch of the project-level files",
        ),
        (
            "sockshop",
            Some("dev..x"),
            None,
            "invalid stage name 'dev..x': must not contain '..' or end with '.' or '.lock'",
        ),
        (
            "sockshop",
            Some("-dev"),
            None,
            "invalid stage name '-dev': must start with a letter or a digit",
        ),
        (
            "sockshop",
            Some("dev"),
            Some("carts/x"),
            "invalid service name 'carts/x': may hold only letters, digits, '-', '_' and '.'",
        ),
    ];
    for (project, stage, service, expected) in cases {
        let message = assert_kind(
            repo.write(project, stage, service, "a.yaml", b"x").await,
            AdapterErrorKind::Invalid,
        );
        assert_eq!(message, expected);
    }
}

#[tokio::test]
async fn missing_projects_files_and_commits_are_not_found() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    let message = assert_kind(
        repo.read("nope", None, None, "shipyard.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    assert_eq!(message, "project 'nope' has no configuration repository");
    assert_kind(
        repo.latest_commit("nope", "dev").await,
        AdapterErrorKind::NotFound,
    );
    repo.write("sockshop", None, None, "shipyard.yaml", b"x")
        .await
        .expect("writes");
    assert_kind(
        repo.read("sockshop", None, None, "slo.yaml", None).await,
        AdapterErrorKind::NotFound,
    );
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let message = assert_kind(
        repo.read("sockshop", None, None, "shipyard.yaml", Some(unknown))
            .await,
        AdapterErrorKind::NotFound,
    );
    assert_eq!(
        message,
        format!("commit '{unknown}' does not exist in project 'sockshop'")
    );
    let message = assert_kind(
        repo.read("sockshop", None, None, "shipyard.yaml", Some("HEAD~1"))
            .await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(message, "invalid commit id 'HEAD~1'");
}

// Upstream.

fn bare_upstream(dir: &TempDir) -> String {
    let upstream = dir.path().join("upstream.git");
    let upstream = upstream.to_str().expect("UTF-8 temp path").to_owned();
    git(&["init", "--quiet", "--bare", &upstream]);
    upstream
}

#[tokio::test]
async fn writes_are_pushed_to_the_upstream() {
    if !git_available() {
        return;
    }
    let (dir, repo) = fresh().await;
    let upstream = bare_upstream(&dir);
    let main_commit = repo
        .write("sockshop", None, None, "shipyard.yaml", b"v1")
        .await
        .expect("writes");
    // Setting the upstream pushes what exists.
    repo.set_upstream("sockshop", &upstream)
        .await
        .expect("sets");
    assert_eq!(
        git(&["--git-dir", &upstream, "rev-parse", "refs/heads/main"]),
        main_commit
    );
    let dev_commit = repo
        .write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            b"objectives: []",
        )
        .await
        .expect("writes");
    assert_eq!(
        git(&["--git-dir", &upstream, "rev-parse", "refs/heads/dev"]),
        dev_commit
    );
    assert_eq!(
        git(&[
            "--git-dir",
            &upstream,
            "show",
            "refs/heads/dev:carts/slo.yaml"
        ]),
        "objectives: []"
    );

    // Another control plane with an empty base dir adopts the upstream's branches.
    let other = open(&dir.path().join("other")).await;
    other
        .set_upstream("sockshop", &upstream)
        .await
        .expect("sets");
    let bytes = other
        .read("sockshop", Some("dev"), Some("carts"), "slo.yaml", None)
        .await
        .expect("reads");
    assert_eq!(bytes, b"objectives: []");
    assert_eq!(
        other
            .latest_commit("sockshop", "dev")
            .await
            .expect("resolves"),
        dev_commit
    );
}

#[tokio::test]
async fn a_failed_push_keeps_the_local_commit() {
    if !git_available() {
        return;
    }
    let (dir, repo) = fresh().await;
    let upstream = bare_upstream(&dir);
    repo.set_upstream("sockshop", &upstream)
        .await
        .expect("sets");
    std::fs::remove_dir_all(&upstream).expect("removes the upstream");
    let error = repo
        .write("sockshop", Some("dev"), None, "a.yaml", b"x")
        .await
        .expect_err("the push fails");
    assert_eq!(error.kind, AdapterErrorKind::Unavailable);
    let local = repo
        .latest_commit("sockshop", "dev")
        .await
        .expect("resolves");
    assert!(
        error.message.starts_with(&format!(
            "commit '{local}' of project 'sockshop' cannot be pushed: "
        )),
        "{}",
        error.message
    );
    assert_eq!(
        read_text(&repo, Some("dev"), None, "a.yaml", None).await,
        "x"
    );
}

#[tokio::test]
async fn upstream_urls_that_look_like_options_are_invalid() {
    if !git_available() {
        return;
    }
    let (_dir, repo) = fresh().await;
    for url in ["", "--upload-pack=touch pwned", "a\nb"] {
        let error = repo
            .set_upstream("sockshop", url)
            .await
            .expect_err("refused");
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
    }
}
