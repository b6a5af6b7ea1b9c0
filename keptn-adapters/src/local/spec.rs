//! `local.yaml`: how to run one replica of a service, with `{placeholder}`s in `args` and
//! `env` values. Parsing and validation only; [`super::process`] runs what this describes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::Error;

/// The health path when `health_path` is not set.
pub const DEFAULT_HEALTH_PATH: &str = "/health";
/// How long a replica may take to become healthy when `start_timeout_seconds` is not set.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// The most replicas of one deployment.
pub const MAX_REPLICAS: u32 = 64;
/// The longest start timeout accepted, in seconds.
const MAX_START_TIMEOUT_SECONDS: f64 = 3600.0;

/// Which of a service's deployments something belongs to (Keptn's `deploymentName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeploymentKind {
    /// The released version of a blue/green service (`<service>-primary`).
    Primary,
    /// The version under test of a blue/green service (`<service>-canary`).
    Canary,
    /// The only version of a service deployed with the direct strategy (`<service>`).
    Direct,
}

impl DeploymentKind {
    /// `primary`, `canary` or `direct`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentKind::Primary => "primary",
            DeploymentKind::Canary => "canary",
            DeploymentKind::Direct => "direct",
        }
    }

    /// The kind named `name` (`primary`, `canary`, `direct`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "primary" => Some(DeploymentKind::Primary),
            "canary" => Some(DeploymentKind::Canary),
            "direct" => Some(DeploymentKind::Direct),
            _ => None,
        }
    }

    /// The Istio workload name: `<service>-primary`, `<service>-canary` or `<service>`.
    pub fn workload(self, service: &str) -> String {
        match self {
            DeploymentKind::Direct => service.to_owned(),
            kind => format!("{service}-{}", kind.as_str()),
        }
    }
}

impl fmt::Display for DeploymentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `local.yaml` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    /// The program: a path (with a `/`), or a name looked up in the platform's `search_path`
    /// and then `PATH`.
    pub command: String,
    /// Its arguments, with placeholders.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables (values with placeholders); the platform's own
    /// environment is inherited.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The path a `GET` must answer with 2xx before the replica takes traffic. Default:
    /// `/health`.
    #[serde(default)]
    pub health_path: Option<String>,
    /// How long a replica may take to become healthy, in seconds. Default: 30.
    #[serde(default)]
    pub start_timeout_seconds: Option<f64>,
    /// How many replicas to run. Default: 1.
    #[serde(default)]
    pub replicas: Option<u32>,
}

/// A placeholder of `args` and `env` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `{port}`: the loopback port chosen for this replica.
    Port,
    /// `{image}`: the image of the deployment request.
    Image,
    /// `{tag}`: the image's tag (see [`image_tag`]).
    Tag,
    /// `{replicas}`: how many replicas the deployment starts with.
    Replicas,
    /// `{service}`.
    Service,
    /// `{stage}`.
    Stage,
    /// `{project}`.
    Project,
    /// `{deployment}`: `primary`, `canary` or `direct`.
    Deployment,
}

/// Every placeholder name, for messages.
const PLACEHOLDER_NAMES: [&str; 8] = [
    "port",
    "image",
    "tag",
    "replicas",
    "service",
    "stage",
    "project",
    "deployment",
];

impl Placeholder {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "port" => Placeholder::Port,
            "image" => Placeholder::Image,
            "tag" => Placeholder::Tag,
            "replicas" => Placeholder::Replicas,
            "service" => Placeholder::Service,
            "stage" => Placeholder::Stage,
            "project" => Placeholder::Project,
            "deployment" => Placeholder::Deployment,
            _ => return None,
        })
    }
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Placeholder(Placeholder),
}

/// A string with placeholders, parsed once. `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// The values of the placeholders for one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values<'a> {
    /// `{port}`.
    pub port: u16,
    /// `{image}`.
    pub image: &'a str,
    /// `{tag}`.
    pub tag: &'a str,
    /// `{replicas}`.
    pub replicas: u32,
    /// `{service}`.
    pub service: &'a str,
    /// `{stage}`.
    pub stage: &'a str,
    /// `{project}`.
    pub project: &'a str,
    /// `{deployment}`.
    pub deployment: DeploymentKind,
}

impl Template {
    /// Parses `text`; the error says what is wrong (an unknown name, an unclosed brace).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((char_idx, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|(_, next)| *next == '{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().is_some_and(|(_, next)| *next == '}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[char_idx + 1..];
                    let Some(len) = rest.find('}') else {
                        return Err(format!(
                            "unclosed '{{' at byte {char_idx} (write '{{{{' for a literal brace)"
                        ));
                    };
                    let name = &rest[..len];
                    let Some(placeholder) = Placeholder::parse(name) else {
                        return Err(format!(
                            "unknown placeholder '{{{name}}}' (known: {})",
                            PLACEHOLDER_NAMES
                                .iter()
                                .map(|name| format!("{{{name}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    };
                    for _ in 0..=len {
                        chars.next();
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Placeholder(placeholder));
                }
                '}' => {
                    return Err(format!(
                        "unmatched '}}' at byte {char_idx} (write '}}}}' for a literal brace)"
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Self { pieces })
    }

    /// The text with every placeholder replaced.
    pub fn render(&self, values: &Values<'_>) -> String {
        let mut res = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => res.push_str(text),
                Piece::Placeholder(placeholder) => match placeholder {
                    Placeholder::Port => res.push_str(&values.port.to_string()),
                    Placeholder::Image => res.push_str(values.image),
                    Placeholder::Tag => res.push_str(values.tag),
                    Placeholder::Replicas => res.push_str(&values.replicas.to_string()),
                    Placeholder::Service => res.push_str(values.service),
                    Placeholder::Stage => res.push_str(values.stage),
                    Placeholder::Project => res.push_str(values.project),
                    Placeholder::Deployment => res.push_str(values.deployment.as_str()),
                },
            }
        }
        res
    }

    /// Whether the template uses `placeholder`.
    pub fn uses(&self, placeholder: Placeholder) -> bool {
        self.pieces.contains(&Piece::Placeholder(placeholder))
    }
}

/// A validated `local.yaml`, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The program as written.
    pub command: String,
    /// Its arguments.
    pub args: Vec<Template>,
    /// Extra environment variables.
    pub env: Vec<(String, Template)>,
    /// The health path (starts with `/`).
    pub health_path: String,
    /// How long a replica may take to become healthy.
    pub start_timeout: Duration,
    /// How many replicas a new deployment starts with.
    pub replicas: u32,
}

impl Spec {
    /// Parses and validates the text of a `local.yaml`, reporting every problem at once. A
    /// YAML syntax error, a wrong type or an unknown key is reported alone, with its
    /// `line:column`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let raw: RawSpec = serde_yaml::from_str(text).map_err(|error| {
            let problem = match error.location() {
                Some(location) => {
                    format!("{}:{}: {error}", location.line(), location.column())
                }
                None => error.to_string(),
            };
            Error::Spec {
                problems: vec![problem],
            }
        })?;
        raw.validate()
    }
}

impl RawSpec {
    /// Checks every field, reports every problem at once, and applies the defaults.
    pub fn validate(&self) -> Result<Spec, Error> {
        let mut problems = Vec::new();
        if self.command.trim().is_empty() {
            problems.push("command: must not be empty".to_owned());
        }
        let mut args = Vec::with_capacity(self.args.len());
        for (arg_idx, arg) in self.args.iter().enumerate() {
            match Template::parse(arg) {
                Ok(template) => args.push(template),
                Err(problem) => problems.push(format!("args[{arg_idx}]: '{arg}': {problem}")),
            }
        }
        let mut env = Vec::with_capacity(self.env.len());
        for (name, value) in &self.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                problems.push(format!(
                    "env: '{name}' is not a valid variable name (non-empty, no '=')"
                ));
            }
            match Template::parse(value) {
                Ok(template) => env.push((name.clone(), template)),
                Err(problem) => problems.push(format!("env.{name}: '{value}': {problem}")),
            }
        }
        let health_path = self
            .health_path
            .clone()
            .unwrap_or_else(|| DEFAULT_HEALTH_PATH.to_owned());
        if !health_path.starts_with('/') || health_path.chars().any(char::is_whitespace) {
            problems.push(format!(
                "health_path: '{health_path}' must start with '/' and hold no spaces"
            ));
        }
        let start_timeout = match self.start_timeout_seconds {
            None => DEFAULT_START_TIMEOUT,
            Some(seconds)
                if seconds.is_finite() && seconds > 0.0 && seconds <= MAX_START_TIMEOUT_SECONDS =>
            {
                Duration::from_secs_f64(seconds)
            }
            Some(seconds) => {
                problems.push(format!(
                    "start_timeout_seconds: '{seconds}' must be greater than 0 and at most {MAX_START_TIMEOUT_SECONDS}"
                ));
                DEFAULT_START_TIMEOUT
            }
        };
        let replicas = self.replicas.unwrap_or(1);
        if !(1..=MAX_REPLICAS).contains(&replicas) {
            problems.push(format!(
                "replicas: '{replicas}' must be between 1 and {MAX_REPLICAS}"
            ));
        }
        let uses_port = args.iter().any(|arg| arg.uses(Placeholder::Port))
            || env.iter().any(|(_, value)| value.uses(Placeholder::Port));
        if !uses_port && problems.is_empty() {
            problems.push(
                "args/env: no '{port}' placeholder: the replica must listen on the port the platform chooses"
                    .to_owned(),
            );
        }
        if !problems.is_empty() {
            return Err(Error::Spec { problems });
        }
        Ok(Spec {
            command: self.command.clone(),
            args,
            env,
            health_path,
            start_timeout,
            replicas,
        })
    }
}

/// The version tag of an image: the text after the last `:` of its last path segment, or
/// `latest` when there is none (`host:5000/a/b` is `latest`, the `:5000` being a registry
/// port). A digest reference keeps its tag when it has one (`a/b:1.2@sha256:ab..` is `1.2`);
/// without one the digest is the version (`a/b@sha256:ab..` is `sha256:ab..`).
pub fn image_tag(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    match (last_segment.rsplit_once(':'), digest) {
        (Some((_, tag)), _) if !tag.is_empty() => tag.to_owned(),
        (_, Some(digest)) if !digest.is_empty() => digest.to_owned(),
        _ => "latest".to_owned(),
    }
}
