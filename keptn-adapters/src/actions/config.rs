//! Configuration of the action runners, and the `{{...}}` templates of the webhook runner.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use keptn_core::event::{Action, Problem};
use keptn_core::ports::Scope;
use serde::Deserialize;

use super::Error;

/// Default time limit of one webhook call or script run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default number of output lines a script's message keeps.
pub const DEFAULT_OUTPUT_LINES: usize = 20;

/// The webhook runner's configuration (YAML or JSON).
///
/// ```yaml
/// actions: [webhook, notify]
/// allowed_hosts: [hooks.example.com, "127.0.0.1:8080"]
/// method: POST
/// url: "http://hooks.example.com/remediate/{{project}}/{{service}}"
/// headers:
///   Authorization: "Bearer {{env.HOOK_TOKEN}}"
///   Content-Type: application/json
/// body: '{"title": "{{problem.title}}", "value": "{{action.value}}"}'
/// timeout_seconds: 10
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The remediation actions (`action:` in remediation.yaml) this runner executes.
    /// Default: `[webhook]`.
    #[serde(default = "default_webhook_actions")]
    pub actions: Vec<String>,
    /// The hosts requests may go to (`host` or `host:port`, compared case-insensitively). A
    /// URL whose host is not listed is refused before any request; redirects are not
    /// followed. Must not be empty.
    pub allowed_hosts: Vec<String>,
    /// HTTP method. Default `POST`.
    #[serde(default = "default_method")]
    pub method: String,
    /// URL template (`http://`; plain HTTP only for now). Values are percent-encoded, except
    /// `{{env.NAME}}`, which is inserted as it is (so it may hold a host or a path).
    pub url: String,
    /// Header templates, values inserted as they are.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body template; values are JSON-string-escaped (write `"{{problem.title}}"` inside
    /// quotes) unless `body_escape` is `none`. No body when absent.
    #[serde(default)]
    pub body: Option<String>,
    /// `json` (default) or `none`.
    #[serde(default = "default_escape")]
    pub body_escape: String,
    /// Time limit of one call, in seconds (default 30).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

fn default_webhook_actions() -> Vec<String> {
    vec!["webhook".to_owned()]
}

fn default_method() -> String {
    "POST".to_owned()
}

fn default_escape() -> String {
    "json".to_owned()
}

/// How values are escaped in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEscape {
    /// JSON string content (`"` becomes `\"`).
    Json,
    /// As they are.
    None,
}

/// A validated [`WebhookConfig`].
#[derive(Debug, Clone)]
pub struct ValidWebhookConfig {
    pub(super) actions: Vec<String>,
    pub(super) allowed_hosts: Vec<String>,
    pub(super) method: reqwest::Method,
    pub(super) url: Template,
    pub(super) headers: Vec<(reqwest::header::HeaderName, Template)>,
    pub(super) body: Option<Template>,
    pub(super) body_escape: BodyEscape,
    pub(super) timeout: Duration,
}

impl WebhookConfig {
    /// A config with defaults for `url`, allowing only `url`'s host.
    pub fn new(url: impl Into<String>, allowed_hosts: &[&str]) -> Self {
        Self {
            actions: default_webhook_actions(),
            allowed_hosts: allowed_hosts
                .iter()
                .map(|host| (*host).to_owned())
                .collect(),
            method: default_method(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            body_escape: default_escape(),
            timeout_seconds: None,
        }
    }

    /// Checks every field and reports every problem at once.
    pub fn validate(&self) -> Result<ValidWebhookConfig, Error> {
        let mut problems = Vec::new();
        if self.actions.iter().all(|action| action.trim().is_empty()) {
            problems.push("actions: must name at least one action".to_owned());
        }
        if self.allowed_hosts.is_empty() {
            problems.push("allowed_hosts: must name at least one host".to_owned());
        }
        let method = reqwest::Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| problems.push(format!("method: '{}' is not an http method", self.method)))
            .ok();
        let url = Template::parse(&self.url)
            .map_err(|message| problems.push(format!("url: {message}")))
            .ok();
        if let Some(url) = &url {
            check_static_url(url, &self.allowed_hosts, &mut problems);
        }
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let header = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| problems.push(format!("headers: '{name}' is not a header name")))
                .ok();
            let template = Template::parse(value)
                .map_err(|message| problems.push(format!("headers.{name}: {message}")))
                .ok();
            if let (Some(header), Some(template)) = (header, template) {
                headers.push((header, template));
            }
        }
        let body = match &self.body {
            None => None,
            Some(text) => Template::parse(text)
                .map_err(|message| problems.push(format!("body: {message}")))
                .ok(),
        };
        let body_escape = match self.body_escape.as_str() {
            "json" => BodyEscape::Json,
            "none" => BodyEscape::None,
            other => {
                problems.push(format!(
                    "body_escape: '{other}' is not one of 'json', 'none'"
                ));
                BodyEscape::Json
            }
        };
        let timeout = timeout(self.timeout_seconds, &mut problems);
        match (method, url) {
            (Some(method), Some(url)) if problems.is_empty() => Ok(ValidWebhookConfig {
                actions: self.actions.clone(),
                allowed_hosts: self
                    .allowed_hosts
                    .iter()
                    .map(|host| host.to_ascii_lowercase())
                    .collect(),
                method,
                url,
                headers,
                body,
                body_escape,
                timeout,
            }),
            _ => Err(Error::Config { problems }),
        }
    }
}

/// When the URL's scheme and host are written out (no placeholder before the path), checks
/// them at validation time; otherwise they are checked on every call.
fn check_static_url(url: &Template, allowed_hosts: &[String], problems: &mut Vec<String>) {
    let Some(Part::Text(prefix)) = url.parts.first() else {
        return;
    };
    let Some(rest) = prefix
        .strip_prefix("http://")
        .or_else(|| prefix.strip_prefix("https://"))
    else {
        if prefix.contains("://") || url.parts.len() == 1 {
            problems.push(format!(
                "url: '{prefix}' must start with http:// or https://"
            ));
        }
        return;
    };
    let Some(authority_end) = rest.find(['/', '?', '#']) else {
        if url.parts.len() > 1 {
            return;
        }
        return check_authority(rest, allowed_hosts, problems);
    };
    check_authority(&rest[..authority_end], allowed_hosts, problems);
}

fn check_authority(authority: &str, allowed_hosts: &[String], problems: &mut Vec<String>) {
    let Ok(url) = reqwest::Url::parse(&format!("http://{authority}/")) else {
        problems.push(format!("url: '{authority}' is not a valid host"));
        return;
    };
    let host = url.host_str().unwrap_or_default();
    if !host_allowed(host, url.port(), allowed_hosts) {
        problems.push(format!(
            "url: host '{authority}' is not in allowed_hosts [{}]",
            allowed_hosts.join(", ")
        ));
    }
}

/// Whether `host` (and `port`) is on the allow-list (`host` or `host:port` entries).
pub(super) fn host_allowed(host: &str, port: Option<u16>, allowed_hosts: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allowed_hosts.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        match entry.rsplit_once(':') {
            Some((entry_host, entry_port))
                if !entry_host.contains(':') || entry.starts_with('[') =>
            {
                entry_host == host
                    && port.map(|port| port.to_string()).as_deref() == Some(entry_port)
            }
            _ => entry == host,
        }
    })
}

fn timeout(seconds: Option<u64>, problems: &mut Vec<String>) -> Duration {
    match seconds {
        None => DEFAULT_TIMEOUT,
        Some(0) => {
            problems.push("timeout_seconds: must be at least 1".to_owned());
            DEFAULT_TIMEOUT
        }
        Some(seconds) => Duration::from_secs(seconds),
    }
}

/// The script runner's configuration (YAML or JSON).
///
/// ```yaml
/// base_dir: /var/lib/keptn/config/sockshop   # a checkout of the config repo
/// commands:
///   scale: scripts/scale.sh                   # action name -> script, relative to base_dir
///   restart: scripts/restart.sh
/// timeout_seconds: 60
/// output_lines: 20
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// The directory scripts live under and run in.
    pub base_dir: PathBuf,
    /// Remediation action (`action:` in remediation.yaml) to script path, relative to
    /// `base_dir`; paths that leave it (`..`, absolute, a symlink out) are refused.
    pub commands: BTreeMap<String, String>,
    /// Time limit of one run, in seconds (default 30); the script and its children are
    /// killed when it is reached.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// How many of the last output lines become the message (default 20).
    #[serde(default)]
    pub output_lines: Option<usize>,
}

/// A validated [`ScriptConfig`].
#[derive(Debug, Clone)]
pub struct ValidScriptConfig {
    pub(super) base_dir: PathBuf,
    pub(super) commands: BTreeMap<String, String>,
    pub(super) timeout: Duration,
    pub(super) output_lines: usize,
}

impl ScriptConfig {
    /// Checks every field and reports every problem at once. The scripts themselves are
    /// looked up on every run (the checkout changes).
    pub fn validate(&self) -> Result<ValidScriptConfig, Error> {
        let mut problems = Vec::new();
        if !self.base_dir.is_absolute() {
            problems.push(format!(
                "base_dir: '{}' must be an absolute path",
                self.base_dir.display()
            ));
        }
        if self.commands.is_empty() {
            problems.push("commands: must map at least one action to a script".to_owned());
        }
        for (action, path) in &self.commands {
            if !is_relative_inside(Path::new(path)) {
                problems.push(format!(
                    "commands.{action}: '{path}' must be a relative path inside base_dir (no '..', not absolute)"
                ));
            }
        }
        let timeout = timeout(self.timeout_seconds, &mut problems);
        let output_lines = match self.output_lines {
            Some(0) => {
                problems.push("output_lines: must be at least 1".to_owned());
                0
            }
            Some(lines) => lines,
            None => DEFAULT_OUTPUT_LINES,
        };
        if !problems.is_empty() {
            return Err(Error::Config { problems });
        }
        Ok(ValidScriptConfig {
            base_dir: self.base_dir.clone(),
            commands: self.commands.clone(),
            timeout,
            output_lines,
        })
    }
}

/// Whether `path` is relative and never climbs above its start.
pub(super) fn is_relative_inside(path: &Path) -> bool {
    let mut depth = 0_usize;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(less) => depth = less,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    depth > 0
}

/// What one action call is about: the scope, the action and, when the caller gave it, the
/// problem.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// Project, stage, service.
    pub scope: &'a Scope,
    /// The action of remediation.yaml.
    pub action: &'a Action,
    /// The problem being remediated.
    pub problem: Option<&'a Problem>,
}

impl CallContext<'_> {
    /// `action.value` as text: a string as it is, anything else as compact JSON.
    pub fn action_value(&self) -> String {
        match &self.action.value {
            None => String::new(),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        }
    }

    fn problem_field(&self, field: impl Fn(&Problem) -> Option<&String>) -> String {
        self.problem.and_then(field).cloned().unwrap_or_default()
    }
}

/// A `{{...}}` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Variable {
    Project,
    Stage,
    Service,
    ProblemTitle,
    ProblemId,
    ProblemState,
    ProblemUrl,
    ProblemRootCause,
    ActionName,
    ActionAction,
    ActionDescription,
    ActionValue,
    Env(String),
}

/// The variables a template may use, for error messages.
const VARIABLES: &str = "project, stage, service, problem.title, problem.id, problem.state, problem.url, problem.rootCause, action.name, action.action, action.description, action.value, env.NAME";

impl Variable {
    fn parse(name: &str) -> Option<Variable> {
        Some(match name {
            "project" => Variable::Project,
            "stage" => Variable::Stage,
            "service" => Variable::Service,
            "problem.title" => Variable::ProblemTitle,
            "problem.id" => Variable::ProblemId,
            "problem.state" => Variable::ProblemState,
            "problem.url" => Variable::ProblemUrl,
            "problem.rootCause" => Variable::ProblemRootCause,
            "action.name" => Variable::ActionName,
            "action.action" => Variable::ActionAction,
            "action.description" => Variable::ActionDescription,
            "action.value" => Variable::ActionValue,
            other => {
                let name = other.strip_prefix("env.")?;
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return None;
                }
                Variable::Env(name.to_owned())
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    Text(String),
    Variable(Variable),
}

/// A parsed template: text and `{{variable}}`s. An unknown variable fails at validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub(super) parts: Vec<Part>,
}

/// Where `{{env.NAME}}` values come from.
pub type EnvSource = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Template {
    /// Parses `text`; fails on an unclosed `{{` or an unknown variable.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!("unclosed '{{{{' in '{text}'"));
            };
            let name = after[..close].trim();
            let variable = Variable::parse(name)
                .ok_or_else(|| format!("unknown variable '{{{{{name}}}}}' (known: {VARIABLES})"))?;
            parts.push(Part::Variable(variable));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Renders the template. `escape` is applied to every value except `{{env.NAME}}` when
    /// `escape_env` is false; environment values are added to `secrets`.
    pub(super) fn render(
        &self,
        field: &str,
        context: &CallContext<'_>,
        env: &EnvSource,
        escape: &dyn Fn(&str) -> String,
        escape_env: bool,
        secrets: &mut Vec<String>,
    ) -> Result<String, Error> {
        let mut res = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => res.push_str(text),
                Part::Variable(Variable::Env(name)) => {
                    let value = env(name).ok_or_else(|| Error::MissingEnv {
                        name: name.clone(),
                        field: field.to_owned(),
                    })?;
                    if !value.is_empty() {
                        secrets.push(value.clone());
                    }
                    if escape_env {
                        let escaped = escape(&value);
                        if escaped != value {
                            secrets.push(escaped.clone());
                        }
                        res.push_str(&escaped);
                    } else {
                        res.push_str(&value);
                    }
                }
                Part::Variable(variable) => res.push_str(&escape(&value_of(variable, context))),
            }
        }
        Ok(res)
    }
}

fn value_of(variable: &Variable, context: &CallContext<'_>) -> String {
    let action = context.action;
    match variable {
        Variable::Project => context.scope.project.clone(),
        Variable::Stage => context.scope.stage.clone(),
        Variable::Service => context.scope.service.clone(),
        Variable::ProblemTitle => context.problem_field(|problem| problem.problem_title.as_ref()),
        Variable::ProblemId => context.problem_field(|problem| problem.problem_id.as_ref()),
        Variable::ProblemState => context.problem_field(|problem| problem.state.as_ref()),
        Variable::ProblemUrl => context.problem_field(|problem| problem.problem_url.as_ref()),
        Variable::ProblemRootCause => context.problem_field(|problem| problem.root_cause.as_ref()),
        Variable::ActionName => action.name.clone().unwrap_or_default(),
        Variable::ActionAction => action.action.clone().unwrap_or_default(),
        Variable::ActionDescription => action.description.clone().unwrap_or_default(),
        Variable::ActionValue => context.action_value(),
        Variable::Env(_) => String::new(),
    }
}

/// `text` with every secret replaced by `***`.
pub(super) fn redact(text: &str, secrets: &[String]) -> String {
    let mut res = text.to_owned();
    // Longest first, so a secret containing another is hidden whole.
    let mut secrets: Vec<&String> = secrets.iter().filter(|secret| !secret.is_empty()).collect();
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    for secret in secrets {
        res = res.replace(secret.as_str(), "***");
    }
    res
}
