//! The one place where a uniform entry's `kind` and `config` become an integration: a table
//! from kind to a constructor that reads its typed config, validates it and builds the
//! integration of keptn-service over the adapters of keptn-adapters.
//!
//! An unknown kind, or a config that does not parse or validate, is a [`Problem`] naming the
//! entry and the field; `keptn serve` reports every problem, located in the uniform file, and
//! stops with exit code 2. Integrations that run outside `keptn serve` are declared with
//! `kind: external` (or in Keptn's registration form, with `metadata`): they are never a
//! fallback for a misspelt kind.

use std::path::Path;
use std::sync::Arc;

use keptn_adapters::local::{LocalActions, LocalDeployer, LocalPlatform};
use keptn_core::ports::{ActionRunner, ConfigRepo};
use keptn_core::uniform::{EXTERNAL_KIND, Integration as Entry, Uniform};
use keptn_service::integrations::{
    Action, Approval, Deploy, GetSli, Lighthouse, Noop, Remediation, Test,
};
use keptn_service::{Integration, Registration};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// What the constructors may need besides the entry.
pub struct Needs<'a> {
    /// The configuration repositories (sli.yaml, jmeter plans, scripts, charts, local.yaml).
    pub config_repo: &'a Arc<dyn ConfigRepo>,
    /// Where work directories default to (`<data-dir>/jmeter`, `<data-dir>/scripts/<name>`).
    pub data_dir: &'a Path,
    /// The local platform, when the uniform runs it.
    pub platform: Option<&'a LocalPlatform>,
}

/// Which field of an entry a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `kind` (or `name`, which the kind defaults to).
    Kind,
    /// `config`.
    Config,
}

/// Why an entry cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The entry's index in `integrations`.
    pub index: usize,
    /// The field at fault.
    pub field: Field,
    /// What is wrong.
    pub message: String,
}

/// What a constructor gives: the integration (none for an external one) or why not.
type Built = Result<Option<Arc<dyn Integration>>, String>;

type Build = fn(&Entry, Registration, &Needs<'_>) -> Built;

/// One kind: its name, what it does, how it is built.
struct Kind {
    name: &'static str,
    build: Build,
}

/// Every kind `keptn serve` knows, in the order `keptn serve` lists them.
const KINDS: &[Kind] = &[
    Kind {
        name: "noop",
        build: noop,
    },
    Kind {
        name: "approval-service",
        build: approval,
    },
    Kind {
        name: "lighthouse-service",
        build: lighthouse,
    },
    Kind {
        name: "remediation-service",
        build: remediation,
    },
    Kind {
        name: "prometheus-service",
        build: prometheus,
    },
    Kind {
        name: "local-sli",
        build: local_sli,
    },
    Kind {
        name: "loadgen",
        build: loadgen,
    },
    Kind {
        name: "jmeter-service",
        build: jmeter,
    },
    Kind {
        name: "local-platform",
        build: local_platform,
    },
    Kind {
        name: "helm-service",
        build: helm,
    },
    Kind {
        name: "webhook-action",
        build: webhook_action,
    },
    Kind {
        name: "script-action",
        build: script_action,
    },
    Kind {
        name: EXTERNAL_KIND,
        build: external,
    },
];

/// The names of the known kinds.
pub fn known_kinds() -> Vec<&'static str> {
    KINDS.iter().map(|kind| kind.name).collect()
}

/// Builds the integrations of `uniform` that run in process (external ones have none); every
/// problem of every entry at once.
pub fn build(
    uniform: &Uniform,
    needs: &Needs<'_>,
) -> Result<Vec<Arc<dyn Integration>>, Vec<Problem>> {
    let mut integrations = Vec::new();
    let mut problems = Vec::new();
    for (index, entry) in uniform.integrations.iter().enumerate() {
        let Some(kind) = KINDS.iter().find(|kind| kind.name == entry.kind) else {
            problems.push(Problem {
                index,
                field: Field::Kind,
                message: unknown_kind(&entry.kind),
            });
            continue;
        };
        let registration = Registration::new(entry.name.clone(), entry.subscriptions.clone());
        match (kind.build)(entry, registration, needs) {
            Ok(built) => integrations.extend(built),
            Err(message) => problems.push(Problem {
                index,
                field: Field::Config,
                message: format!(
                    "config of '{}' (kind {}): {message}",
                    entry.name, entry.kind
                ),
            }),
        }
    }
    if problems.is_empty() {
        Ok(integrations)
    } else {
        Err(problems)
    }
}

fn unknown_kind(kind: &str) -> String {
    let known = known_kinds();
    let closest = known
        .iter()
        .map(|candidate| (strsim::levenshtein(kind, candidate), *candidate))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, candidate)| format!(" (did you mean '{candidate}'?)"))
        .unwrap_or_default();
    format!(
        "unknown integration kind '{kind}'{closest}; known kinds: {}; an integration that runs outside keptn serve is declared with kind: {EXTERNAL_KIND}",
        known.join(", ")
    )
}

/// The entry's `config` as `T` (no config reads as an empty mapping).
fn config<T: DeserializeOwned>(entry: &Entry) -> Result<T, String> {
    let value = match &entry.config {
        Value::Null => json!({}),
        other => other.clone(),
    };
    serde_json::from_value(value).map_err(|err| err.to_string())
}

/// The entry's `config` as a mapping (no config: an empty one).
fn config_map(entry: &Entry) -> Result<serde_json::Map<String, Value>, String> {
    match &entry.config {
        Value::Null => Ok(serde_json::Map::new()),
        Value::Object(map) => Ok(map.clone()),
        other => Err(format!("must be a mapping, found {other}")),
    }
}

/// Kinds without settings refuse a `config`, so a setting never goes unnoticed.
fn no_config(entry: &Entry) -> Result<(), String> {
    match &entry.config {
        Value::Null => Ok(()),
        _ => Err(format!("kind {} takes no config", entry.kind)),
    }
}

fn platform<'a>(needs: &Needs<'a>) -> Result<&'a LocalPlatform, String> {
    needs
        .platform
        .ok_or_else(|| "needs the local platform, which did not start".to_owned())
}

fn built(integration: impl Integration + 'static) -> Built {
    Ok(Some(Arc::new(integration)))
}

/// A kind without settings: its integration needs only the registration.
fn without_config<I: Integration + 'static>(
    entry: &Entry,
    registration: Registration,
    make: fn(Registration) -> I,
) -> Built {
    no_config(entry)?;
    built(make(registration))
}

fn noop(entry: &Entry, registration: Registration, _: &Needs<'_>) -> Built {
    without_config(entry, registration, Noop::new)
}

fn approval(entry: &Entry, registration: Registration, _: &Needs<'_>) -> Built {
    without_config(entry, registration, Approval::new)
}

fn lighthouse(entry: &Entry, registration: Registration, _: &Needs<'_>) -> Built {
    without_config(entry, registration, Lighthouse::new)
}

fn remediation(entry: &Entry, registration: Registration, _: &Needs<'_>) -> Built {
    without_config(entry, registration, Remediation::new)
}

fn external(_: &Entry, _: Registration, _: &Needs<'_>) -> Built {
    Ok(None)
}

/// `config`: `keptn_adapters::prometheus::Config` (`url`, `timeout_seconds`,
/// `max_concurrency`); queries from the project's `prometheus/sli.yaml`.
fn prometheus(entry: &Entry, registration: Registration, needs: &Needs<'_>) -> Built {
    use keptn_adapters::prometheus::{Config, Prometheus, RepoSli};
    let valid = config::<Config>(entry)?
        .validate()
        .map_err(|err| err.to_string())?;
    let prometheus = Prometheus::new(valid).map_err(|err| err.to_string())?;
    let provider = RepoSli::new(prometheus, Arc::clone(needs.config_repo));
    built(GetSli::new(registration, Arc::new(provider)))
}

/// SLI values from the local platform's router records; no config.
fn local_sli(entry: &Entry, registration: Registration, needs: &Needs<'_>) -> Built {
    no_config(entry)?;
    let provider = platform(needs)?.sli_provider();
    built(GetSli::new(registration, Arc::new(provider)))
}

/// `config`: `keptn_adapters::loadgen::Config` (`workloads`, `request_timeout_ms`) plus an
/// optional `target` URL; without it the target is the deployment's URI.
fn loadgen(entry: &Entry, registration: Registration, _: &Needs<'_>) -> Built {
    use keptn_adapters::loadgen::{Config, LoadGen};
    let mut map = config_map(entry)?;
    let target = match map.remove("target") {
        None | Some(Value::Null) => None,
        Some(Value::String(target)) => Some(target),
        Some(other) => return Err(format!("target must be a URL, found {other}")),
    };
    let parsed: Config =
        serde_json::from_value(Value::Object(map)).map_err(|err| err.to_string())?;
    let valid = parsed.validate().map_err(|err| err.to_string())?;
    let runner = LoadGen::new(valid).map_err(|err| err.to_string())?;
    let test = Test::new(registration, Arc::new(runner));
    built(match target {
        Some(target) => test.with_target(target),
        None => test,
    })
}

/// `config`: `keptn_adapters::jmeter::Config`; `work_dir` defaults to `<data-dir>/jmeter`;
/// workloads and plans from the project's `jmeter/` files.
fn jmeter(entry: &Entry, registration: Registration, needs: &Needs<'_>) -> Built {
    use keptn_adapters::jmeter::{Config, JMeter, RepoJMeter};
    let mut map = config_map(entry)?;
    map.entry("work_dir")
        .or_insert_with(|| json!(needs.data_dir.join("jmeter")));
    let parsed: Config =
        serde_json::from_value(Value::Object(map)).map_err(|err| err.to_string())?;
    let valid = parsed.validate().map_err(|err| err.to_string())?;
    let runner = RepoJMeter::new(JMeter::new(valid), Arc::clone(needs.config_repo));
    built(Test::new(registration, Arc::new(runner)))
}

/// Deployments on the local platform (its `config` is read where the platform starts);
/// `scaling`, `toggle-feature` and `rollback` actions on it.
fn local_platform(_: &Entry, registration: Registration, needs: &Needs<'_>) -> Built {
    let platform = platform(needs)?;
    let deployer = Arc::new(LocalDeployer::new(
        platform.clone(),
        Arc::clone(needs.config_repo),
    ));
    built(
        Deploy::new(registration, Arc::clone(&deployer) as _)
            .with_router(deployer)
            .with_actions(Arc::new(LocalActions::new(platform.clone()))),
    )
}

/// `config`: `keptn_adapters::helm::Config` (`work_dir` required, `helm`, `kubectl`, ...);
/// charts from the config repo; `scaling` actions.
fn helm(entry: &Entry, registration: Registration, needs: &Needs<'_>) -> Built {
    use keptn_adapters::helm::{Config, Helm};
    let valid = config::<Config>(entry)?
        .validate()
        .map_err(|err| err.to_string())?;
    let helm = Arc::new(Helm::new(valid, Arc::clone(needs.config_repo)));
    built(
        Deploy::new(registration, Arc::clone(&helm) as _)
            .with_router(Arc::clone(&helm) as _)
            .with_actions(helm),
    )
}

/// `config`: `keptn_adapters::actions::WebhookConfig` (`url`, `allowed_hosts`, `actions`,
/// templates).
fn webhook_action(entry: &Entry, registration: Registration, _: &Needs<'_>) -> Built {
    use keptn_adapters::actions::{Webhook, WebhookConfig};
    let valid = config::<WebhookConfig>(entry)?
        .validate()
        .map_err(|err| err.to_string())?;
    let runner: Arc<dyn ActionRunner> =
        Arc::new(Webhook::new(valid).map_err(|err| err.to_string())?);
    built(Action::new(registration, runner))
}

/// `config`: `keptn_adapters::actions::ScriptConfig` (`commands`, `timeout_seconds`, ...);
/// with a `base_dir` the scripts run from there, without one they are read from the config
/// repo and checked out under `<data-dir>/scripts/<name>`.
fn script_action(entry: &Entry, registration: Registration, needs: &Needs<'_>) -> Built {
    use keptn_adapters::actions::{RepoScripts, Script, ScriptConfig};
    let mut map = config_map(entry)?;
    let from_repo = !map.contains_key("base_dir");
    if from_repo {
        map.insert(
            "base_dir".to_owned(),
            json!(needs.data_dir.join("scripts").join(&entry.name)),
        );
    }
    let parsed: ScriptConfig =
        serde_json::from_value(Value::Object(map)).map_err(|err| err.to_string())?;
    let valid = parsed.validate().map_err(|err| err.to_string())?;
    let runner: Arc<dyn ActionRunner> = if from_repo {
        Arc::new(RepoScripts::new(valid, Arc::clone(needs.config_repo)))
    } else {
        Arc::new(Script::new(valid))
    };
    built(Action::new(registration, runner))
}

#[cfg(test)]
mod tests {
    use super::{Field, Needs, build, known_kinds};
    use keptn_core::memory::MemoryConfigRepo;
    use keptn_core::ports::ConfigRepo;
    use std::sync::Arc;

    fn problems(uniform: &str) -> Vec<super::Problem> {
        let (uniform, _) = keptn_core::uniform::parse(uniform).expect("a valid uniform");
        let config_repo: Arc<dyn ConfigRepo> = Arc::new(MemoryConfigRepo::new());
        let needs = Needs {
            config_repo: &config_repo,
            data_dir: std::path::Path::new("/nonexistent"),
            platform: None,
        };
        match build(&uniform, &needs) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }

    #[test]
    fn an_unknown_kind_names_the_known_ones_and_the_closest() {
        let found = problems(
            "integrations:\n  - name: lighthous-service\n    subscriptions:\n      - event: sh.keptn.event.evaluation.triggered\n",
        );
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].index, found[0].field), (0, Field::Kind));
        assert!(
            found[0]
                .message
                .contains("did you mean 'lighthouse-service'"),
            "{}",
            found[0].message
        );
        for kind in known_kinds() {
            assert!(found[0].message.contains(kind), "{}", found[0].message);
        }
    }

    #[test]
    fn every_bad_entry_is_reported_and_external_ones_build_nothing() {
        let found = problems(
            "integrations:\n  - name: noop\n    config: {delay: 5s}\n    subscriptions: []\n  - name: tests\n    kind: loadgen\n    config: {workloads: 3}\n    subscriptions: []\n  - name: remote\n    kind: external\n    subscriptions: []\n  - name: sli\n    kind: prometheus-service\n    subscriptions: []\n",
        );
        let fields: Vec<(usize, Field)> = found
            .iter()
            .map(|problem| (problem.index, problem.field))
            .collect();
        assert_eq!(
            fields,
            [(0, Field::Config), (1, Field::Config), (3, Field::Config)]
        );
        assert!(
            found[0].message.contains("takes no config"),
            "{}",
            found[0].message
        );
        assert!(found[2].message.contains("url"), "{}", found[2].message);
        assert!(
            problems(
                "integrations:\n  - name: remote\n    kind: external\n    subscriptions: []\n"
            )
            .is_empty()
        );
    }
}
