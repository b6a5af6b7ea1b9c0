//! Hermetic tests: the webhook runner against an axum fake on 127.0.0.1:0, the script runner
//! with real shell scripts in a temporary directory.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use keptn_core::event::{Action, Problem};
use keptn_core::ports::{ActionRequest, ActionRunner, AdapterErrorKind, Scope};
use serde_json::json;

use super::*;

const SECRET: &str = "s3cr3t-token-42";

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Fake {
    requests: Mutex<Vec<Recorded>>,
}

async fn record(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = uri.path().to_owned();
    fake.requests.lock().expect("not poisoned").push(Recorded {
        method,
        uri: uri.to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if path.starts_with("/slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if path.starts_with("/fail") {
        // Echoes the path, as some servers do in their error pages.
        let long = "x".repeat(2000);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot handle {path}: {long}"),
        );
    }
    (StatusCode::OK, "accepted".to_owned())
}

async fn fake() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = Router::new().fallback(record).with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (address.to_string(), fake)
}

fn scope() -> Scope {
    Scope {
        project: "sockshop".into(),
        stage: "production".into(),
        service: "carts".into(),
    }
}

fn action(name: &str, value: serde_json::Value) -> Action {
    Action {
        name: Some(format!("{name} it")),
        action: Some(name.to_owned()),
        description: Some("Scale up".into()),
        value: Some(value),
        extra: BTreeMap::new(),
    }
}

fn request(action: Action, problem: Problem) -> ActionRequest {
    ActionRequest {
        scope: scope(),
        action,
        problem,
    }
}

fn problem() -> Problem {
    Problem {
        problem_title: Some("Response \"time\" degradation".into()),
        problem_id: Some("5a1e7c3f".into()),
        state: Some("OPEN".into()),
        ..Problem::default()
    }
}

fn env() -> EnvSource {
    Arc::new(|name| match name {
        "HOOK_TOKEN" => Some(SECRET.to_owned()),
        "HOOK_HOST" => Some("localhost".to_owned()),
        _ => None,
    })
}

fn webhook(config: WebhookConfig) -> Webhook {
    Webhook::new(config.validate().expect("valid config"))
        .expect("a client")
        .with_env(env())
}

fn requests(fake: &Fake) -> Vec<Recorded> {
    fake.requests.lock().expect("not poisoned").clone()
}

#[tokio::test]
async fn webhook_sends_the_rendered_request() {
    let (address, fake) = fake().await;
    let mut config = WebhookConfig::new(
        format!(
            "http://{address}/remediate/{{{{project}}}}/{{{{service}}}}?title={{{{problem.title}}}}"
        ),
        &["127.0.0.1"],
    );
    config.method = "put".into();
    config.headers = BTreeMap::from([
        ("Authorization".into(), "Bearer {{env.HOOK_TOKEN}}".into()),
        ("Content-Type".into(), "application/json".into()),
        ("X-Keptn-Stage".into(), "{{ stage }}".into()),
    ]);
    config.body = Some(
        r#"{"title": "{{problem.title}}", "action": "{{action.action}}", "value": "{{action.value}}", "state": "{{problem.state}}"}"#
            .into(),
    );
    let runner = webhook(config);
    let message = runner
        .execute_for(
            &scope(),
            &action("webhook", json!({"replicas": 2})),
            Some(&problem()),
        )
        .await
        .expect("the call succeeds");
    assert_eq!(
        message,
        format!(
            "webhook PUT 'http://{address}/remediate/sockshop/carts?title=Response%20%22time%22%20degradation' answered http 200: 'accepted'"
        )
    );
    let recorded = requests(&fake);
    assert_eq!(recorded.len(), 1);
    let request = &recorded[0];
    assert_eq!(request.method, Method::PUT);
    assert_eq!(
        request.uri,
        "/remediate/sockshop/carts?title=Response%20%22time%22%20degradation"
    );
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {SECRET}").as_str()
    );
    assert_eq!(request.headers["x-keptn-stage"], "production");
    let body: serde_json::Value =
        serde_json::from_str(&request.body).expect("the rendered body is JSON");
    assert_eq!(
        body,
        json!({
            "title": "Response \"time\" degradation",
            "action": "webhook",
            "value": "{\"replicas\":2}",
            "state": "OPEN",
        })
    );
}

#[tokio::test]
async fn execute_takes_the_problem_from_the_request() {
    let (address, fake) = fake().await;
    let mut config = WebhookConfig::new(format!("http://{address}/hook"), &["127.0.0.1"]);
    config.body = Some("{{problem.title}}|{{action.value}}|{{project}}".into());
    config.body_escape = "none".into();
    let runner = webhook(config);
    let runner: &dyn ActionRunner = &runner;
    assert!(runner.handles("webhook"));
    assert!(!runner.handles("scaling"));
    runner
        .execute(&request(action("webhook", json!("1")), problem()))
        .await
        .expect("the call succeeds");
    runner
        .execute(&request(action("webhook", json!("2")), Problem::default()))
        .await
        .expect("the call succeeds without a problem");
    let bodies: Vec<String> = requests(&fake).into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies,
        ["Response \"time\" degradation|1|sockshop", "|2|sockshop"]
    );
}

#[tokio::test]
async fn a_host_off_the_allow_list_gets_no_request() {
    let (address, fake) = fake().await;
    // Written out: refused when the config is validated.
    let error = WebhookConfig::new(format!("http://{address}/hook"), &["hooks.example.com"])
        .validate()
        .expect_err("the host is not allowed");
    assert!(
        error.to_string().contains(&format!(
            "host '{address}' is not in allowed_hosts [hooks.example.com]"
        )),
        "{error}"
    );
    // From a template: refused on the call, before any request.
    let port = address.rsplit_once(':').expect("host:port").1;
    let runner = webhook(WebhookConfig::new(
        format!("http://{{{{env.HOOK_HOST}}}}:{port}/hook"),
        &["127.0.0.1"],
    ));
    let error = runner
        .execute_for(&scope(), &action("webhook", json!("1")), None)
        .await
        .expect_err("localhost is not on the list");
    assert_eq!(
        error,
        // Everything read from the environment counts as secret, even a host.
        Error::HostNotAllowed {
            host: "***".into(),
            allowed: vec!["127.0.0.1".into()],
        }
    );
    let adapter_error: keptn_core::ports::AdapterError = error.into();
    assert_eq!(adapter_error.kind, AdapterErrorKind::Invalid);
    // A port on the list must match too: written out, at validation ...
    let error = WebhookConfig::new(format!("http://{address}/hook"), &["127.0.0.1:1"])
        .validate()
        .expect_err("the port is not allowed");
    assert!(
        error.to_string().contains(&format!(
            "host '{address}' is not in allowed_hosts [127.0.0.1:1]"
        )),
        "{error}"
    );
    // ... and from a template, on the call.
    let port_text = port.to_owned();
    let runner = Webhook::new(
        WebhookConfig::new("http://127.0.0.1:{{env.HOOK_PORT}}/hook", &["127.0.0.1:1"])
            .validate()
            .expect("the host is only known on the call"),
    )
    .expect("a client")
    .with_env(Arc::new(move |name| {
        (name == "HOOK_PORT").then(|| port_text.clone())
    }));
    assert!(matches!(
        runner
            .execute_for(&scope(), &action("webhook", json!("1")), None)
            .await,
        Err(Error::HostNotAllowed { .. })
    ));
    assert!(
        requests(&fake).is_empty(),
        "no request may reach the server"
    );
}

#[tokio::test]
async fn non_2xx_is_an_error_with_status_and_truncated_redacted_body() {
    let (address, fake) = fake().await;
    let runner = webhook(WebhookConfig::new(
        format!("http://{address}/fail/{{{{env.HOOK_TOKEN}}}}"),
        &["127.0.0.1"],
    ));
    let error = runner
        .execute_for(&scope(), &action("webhook", json!("1")), None)
        .await
        .expect_err("the server answers 500");
    let Error::Status {
        status, body, url, ..
    } = &error
    else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(*status, 500);
    assert_eq!(url, &format!("http://{address}/fail/***"));
    assert!(body.starts_with("cannot handle /fail/***: xxx"), "{body}");
    assert!(body.ends_with("..."), "{body}");
    assert!(body.len() <= BODY_LIMIT + 3);
    let text = error.to_string();
    assert!(text.contains("answered http 500"), "{text}");
    assert!(!text.contains(SECRET), "the secret leaked: {text}");
    assert_eq!(requests(&fake).len(), 1, "the request did go out");
    let adapter_error: keptn_core::ports::AdapterError = error.into();
    assert_eq!(adapter_error.kind, AdapterErrorKind::Failed);
    assert!(!adapter_error.message.contains(SECRET));
}

#[tokio::test]
async fn unreachable_timeouts_and_missing_env_are_errors_without_secrets() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a port")
        .local_addr()
        .expect("bound")
        .port();
    let runner = webhook(WebhookConfig::new(
        format!("http://127.0.0.1:{closed}/hook?token={{{{env.HOOK_TOKEN}}}}"),
        &["127.0.0.1"],
    ));
    let error = runner
        .execute_for(&scope(), &action("webhook", json!("1")), None)
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, Error::Request { .. }), "{error:?}");
    assert!(!error.to_string().contains(SECRET), "{error}");
    assert!(error.to_string().contains("token=***"), "{error}");
    assert_eq!(
        keptn_core::ports::AdapterError::from(error).kind,
        AdapterErrorKind::Unavailable
    );

    let (address, fake) = fake().await;
    let mut config = WebhookConfig::new(format!("http://{address}/slow"), &["127.0.0.1"]);
    config.timeout_seconds = Some(1);
    let started = Instant::now();
    let error = webhook(config)
        .execute_for(&scope(), &action("webhook", json!("1")), None)
        .await
        .expect_err("the server is too slow");
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");

    let runner = webhook(WebhookConfig::new(
        format!("http://{address}/hook?key={{{{env.NOT_SET_ANYWHERE}}}}"),
        &["127.0.0.1"],
    ));
    assert_eq!(
        runner
            .execute_for(&scope(), &action("webhook", json!("1")), None)
            .await
            .expect_err("the variable is not set"),
        Error::MissingEnv {
            name: "NOT_SET_ANYWHERE".into(),
            field: "url".into(),
        }
    );
    assert_eq!(requests(&fake).len(), 1, "only the slow request went out");
}

#[tokio::test]
async fn only_configured_actions_are_handled() {
    let (address, fake) = fake().await;
    let mut config = WebhookConfig::new(format!("http://{address}/hook"), &["127.0.0.1"]);
    config.actions = vec!["notify".into(), "page".into()];
    let runner = webhook(config);
    assert!(runner.handles("page") && !runner.handles("webhook"));
    assert_eq!(
        runner
            .execute_for(&scope(), &action("scaling", json!("1")), None)
            .await
            .expect_err("not handled"),
        Error::NotHandled {
            action: "scaling".into(),
            handled: vec!["notify".into(), "page".into()],
        }
    );
    assert!(requests(&fake).is_empty());
}

#[test]
fn webhook_config_reports_every_problem() {
    let text = r#"
actions: []
allowed_hosts: []
method: "GE T"
url: "http://hooks.example.com/{{problem.titel}}"
headers:
  "bad header": x
  X-Ok: "{{env.}}"
body: "{{action.value"
body_escape: xml
timeout_seconds: 0
"#;
    let config: WebhookConfig = serde_yaml::from_str(text).expect("the shape is right");
    let Err(Error::Config { problems }) = config.validate() else {
        panic!("expected config problems");
    };
    let expected = [
        "actions: must name at least one action",
        "allowed_hosts: must name at least one host",
        "method: 'GE T' is not an http method",
        "url: unknown variable '{{problem.titel}}'",
        "headers: 'bad header' is not a header name",
        "headers.X-Ok: unknown variable '{{env.}}'",
        "body: unclosed '{{'",
        "body_escape: 'xml' is not one of 'json', 'none'",
        "timeout_seconds: must be at least 1",
    ];
    for wanted in expected {
        assert!(
            problems.iter().any(|problem| problem.starts_with(wanted)),
            "missing '{wanted}' in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    let unknown_field =
        serde_yaml::from_str::<WebhookConfig>("url: x\nallowed_hosts: []\nurls: y\n");
    assert!(unknown_field.is_err());
    // Defaults.
    let config: WebhookConfig =
        serde_yaml::from_str("url: http://h/x\nallowed_hosts: [h]\n").expect("minimal config");
    assert_eq!(config.actions, ["webhook"]);
    assert_eq!(config.method, "POST");
    assert!(config.validate().is_ok());
}

/// A script in `dir` with the given body, executable.
fn write_script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("the temp dir is writable");
    }
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("the temp dir is writable");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod works");
}

fn script_runner(base_dir: &Path, commands: &[(&str, &str)], timeout_seconds: u64) -> Script {
    let config = ScriptConfig {
        base_dir: base_dir.to_owned(),
        commands: commands
            .iter()
            .map(|(action, path)| ((*action).to_owned(), (*path).to_owned()))
            .collect(),
        timeout_seconds: Some(timeout_seconds),
        output_lines: Some(5),
    };
    Script::new(config.validate().expect("valid config"))
}

#[tokio::test]
async fn script_sees_scope_action_and_problem_in_its_environment() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_script(
        dir.path(),
        "scripts/show.sh",
        r#"echo "ignored first line"
echo "project=$KEPTN_PROJECT stage=$KEPTN_STAGE service=$KEPTN_SERVICE"
echo "action=$KEPTN_ACTION name=$KEPTN_ACTION_NAME value=$KEPTN_ACTION_VALUE"
echo "title=$KEPTN_PROBLEM_TITLE state=$KEPTN_PROBLEM_STATE id=$KEPTN_PROBLEM_ID"
echo "problem=$KEPTN_PROBLEM"
echo "cwd=$(pwd)"
echo "to stderr" >&2"#,
    );
    let runner = script_runner(dir.path(), &[("show", "scripts/show.sh")], 10);
    assert!(runner.handles("show") && !runner.handles("scaling"));
    let message = ActionRunner::execute(
        &runner,
        &request(action("show", json!({"replicas": 2})), problem()),
    )
    .await
    .expect("the script succeeds");
    let cwd = dir.path().display().to_string();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 5, "{message}");
    assert_eq!(
        lines[..3],
        [
            "action=show name=show it value={\"replicas\":2}",
            "title=Response \"time\" degradation state=OPEN id=5a1e7c3f",
            "problem={\"problemTitle\":\"Response \\\"time\\\" degradation\",\"State\":\"OPEN\",\"ProblemID\":\"5a1e7c3f\"}",
        ]
    );
    assert_eq!(lines[3], format!("cwd={cwd}"));
    assert_eq!(lines[4], "to stderr");
    // The first lines were cut by output_lines: 5.
    assert!(!message.contains("ignored first line"));
    assert!(!message.contains("project="));
    let without_problem = runner
        .execute_for(&scope(), &action("show", json!("3")), None)
        .await
        .expect("the script succeeds");
    assert!(without_problem.contains("value=3"), "{without_problem}");
    assert!(without_problem.contains("problem={}"), "{without_problem}");
}

#[tokio::test]
async fn a_failing_script_reports_exit_code_and_output_tail() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_script(
        dir.path(),
        "fail.sh",
        "echo 'scaling carts'\necho 'kubectl: forbidden' >&2\nexit 3",
    );
    let runner = script_runner(dir.path(), &[("scaling", "fail.sh")], 10);
    let error = runner
        .execute_for(&scope(), &action("scaling", json!("1")), None)
        .await
        .expect_err("exit 3");
    assert_eq!(
        error,
        Error::Exit {
            path: "fail.sh".into(),
            code: Some(3),
            output: "scaling carts\nkubectl: forbidden".into(),
        }
    );
    assert!(error.to_string().contains("exited with code 3"), "{error}");
    assert_eq!(
        keptn_core::ports::AdapterError::from(error).kind,
        AdapterErrorKind::Failed
    );
}

#[tokio::test]
async fn a_script_past_its_time_limit_is_killed_with_its_children() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_script(
        dir.path(),
        "hang.sh",
        "sleep 30 &\necho $! > child.pid\nwait",
    );
    let runner = script_runner(dir.path(), &[("hang", "hang.sh")], 1);
    let started = Instant::now();
    let error = runner
        .execute_for(&scope(), &action("hang", json!("1")), None)
        .await
        .expect_err("the script hangs");
    let elapsed = started.elapsed();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(elapsed < Duration::from_secs(4), "killed after {elapsed:?}");
    let child_pid = std::fs::read_to_string(dir.path().join("child.pid"))
        .expect("the script wrote its child's pid");
    let child_pid = child_pid.trim();
    // The orphaned `sleep` is killed (gone, or a zombie awaiting its new parent).
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{child_pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        if stat.is_empty() || state.starts_with('Z') {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the script's child {child_pid} still runs: {stat}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn script_paths_may_not_leave_the_base_directory() {
    let outer = tempfile::tempdir().expect("a temp dir");
    let base = outer.path().join("repo");
    std::fs::create_dir_all(&base).expect("mkdir");
    write_script(outer.path(), "outside.sh", "echo escaped");
    for path in ["../outside.sh", "/bin/sh", "scripts/../../outside.sh"] {
        let config = ScriptConfig {
            base_dir: base.clone(),
            commands: BTreeMap::from([("x".to_owned(), path.to_owned())]),
            timeout_seconds: None,
            output_lines: None,
        };
        let Err(Error::Config { problems }) = config.validate() else {
            panic!("'{path}' must be refused");
        };
        assert!(
            problems[0].contains("must be a relative path inside base_dir"),
            "{problems:?}"
        );
    }
    // A symlink inside the checkout that points out of it.
    std::os::unix::fs::symlink(outer.path().join("outside.sh"), base.join("link.sh"))
        .expect("symlink");
    let runner = script_runner(&base, &[("link", "link.sh"), ("missing", "nope.sh")], 5);
    let error = runner
        .execute_for(&scope(), &action("link", json!("1")), None)
        .await
        .expect_err("the link leaves the base dir");
    assert_eq!(
        error,
        Error::PathEscape {
            path: "link.sh".into(),
            base_dir: base.display().to_string(),
        }
    );
    assert!(matches!(
        runner
            .execute_for(&scope(), &action("missing", json!("1")), None)
            .await,
        Err(Error::Spawn { path, .. }) if path == "nope.sh"
    ));
    assert!(matches!(
        runner
            .execute_for(&scope(), &action("other", json!("1")), None)
            .await,
        Err(Error::NotHandled { action, .. }) if action == "other"
    ));
    let relative = ScriptConfig {
        base_dir: "repo".into(),
        commands: BTreeMap::new(),
        timeout_seconds: None,
        output_lines: Some(0),
    };
    let Err(Error::Config { problems }) = relative.validate() else {
        panic!("invalid config accepted");
    };
    assert_eq!(problems.len(), 3, "{problems:?}");
}
