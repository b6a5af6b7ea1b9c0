//! `keptn configure monitoring prometheus`: the Prometheus alerting rules, the
//! Alertmanager configuration and the scrape jobs that make Prometheus a problem source for
//! Keptn's remediation, as Keptn's prometheus-service generated them.
//!
//! Alerting rules ([`alerting_rules`]): one group `<service> <project>-<stage> alerts` per
//! scope, one rule per SLO objective with at least one absolute pass criterion (no `+`, `-`
//! or `%`: relative criteria need earlier evaluations, which a rule does not have):
//! `alert: <sli>`, `expr:` the SLI query of the merged sli.yaml with `$DEPLOYMENT` = `primary`
//! and the other placeholders rendered (`$PROJECT`, `$STAGE`, `$SERVICE`, the SLO's filters,
//! `$DURATION_SECONDS` = [`RuleOptions::window`]), compared with the inverted criterion; `for:`
//! [`RuleOptions::for_duration`] (Keptn: 10m); labels `severity: webhook`, `project`, `stage`,
//! `service`, `deployment: primary`, `pod_name: <service>-primary`; annotations `summary:
//! <sli>` (the problem title, so remediation.yaml's `problemType: <sli>` matches) and a
//! `description` with the value.
//!
//! Inverting the criteria: an objective passes when any criteria list passes and a list
//! passes when all its criteria hold (OR of ANDs). Its negation is an AND over the lists of
//! an OR over each list's inverted criteria; relative criteria are dropped first and lists
//! left empty are dropped too. So `pass: [{criteria: ["<=+10%", "<1000"]}]` alerts on
//! `(q) >= 1000`, `[{criteria: ["<1000", ">10"]}]` on `(q) >= 1000 or (q) <= 10`, and two
//! lists `[{criteria: ["<1000"]}, {criteria: ["<2000", ">100"]}]` on `((q) >= 1000) and
//! ((q) >= 2000 or (q) <= 100)`. The inversion is exact (`<600` becomes `>= 600`, `<=` becomes
//! `>`, `=` becomes `!=`), where Keptn wrote `>600` for `<600`.
//!
//! Alertmanager ([`alertmanager_config`]): a root route to receiver `keptn_integration`, a
//! webhook to the given URL with `send_resolved: true`, grouped by alert name and scope.
//! Scrape jobs ([`scrape_configs`]): `<service>-<project>-<stage>-<deployment>` per target.
//!
//! What it does not do: it writes YAML text, it does not read or write Prometheus's files,
//! reload Prometheus or talk to it; an SLI without a query in the sli.yaml is an error
//! (Keptn's built-in default queries are not offered, as for the SLI provider).

use std::collections::BTreeMap;
use std::time::Duration;

use keptn_core::placeholder::{Placeholders, SliScope};
use keptn_core::ports::Scope;
use keptn_slo::{Criterion, Operator, Slo, Threshold};
use serde::Serialize;

use super::SliConfig;

/// The receiver name Keptn's prometheus-service registered in Alertmanager.
pub const RECEIVER: &str = "keptn_integration";

/// The deployment alerting rules watch.
pub const ALERT_DEPLOYMENT: &str = "primary";

/// Keptn's `for:` of the generated rules.
pub const DEFAULT_FOR: Duration = Duration::from_secs(600);

/// Why rules or configs cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An objective with absolute criteria names an SLI the sli.yaml has no query for.
    #[error("objective '{sli}' has no query in sli.yaml; cannot generate its alerting rule")]
    IndicatorNotDefined {
        /// The SLI name.
        sli: String,
    },
    /// The SLI query uses a placeholder that has no value in a rule.
    #[error("cannot render the query of '{sli}' for its alerting rule: {message}")]
    Placeholder {
        /// The SLI name.
        sli: String,
        /// Which placeholder.
        message: String,
    },
    /// The webhook URL is not an absolute http(s) URL.
    #[error(
        "invalid alertmanager webhook url '{url}': expected an absolute http:// or https:// url"
    )]
    InvalidWebhookUrl {
        /// The URL as given.
        url: String,
    },
}

impl From<Error> for keptn_core::ports::AdapterError {
    fn from(error: Error) -> Self {
        keptn_core::ports::AdapterError::new(
            keptn_core::ports::AdapterErrorKind::Invalid,
            error.to_string(),
        )
    }
}

/// How the alerting rules are generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOptions {
    /// How long the violation must last before the alert fires (`for:`). Keptn: 10 minutes.
    pub for_duration: Duration,
    /// What `$DURATION_SECONDS` stands for in the rules' queries (the rate window).
    pub window: Duration,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            for_duration: DEFAULT_FOR,
            window: Duration::from_secs(60),
        }
    }
}

/// One Prometheus alerting rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertingRule {
    /// `alert`: the SLI name.
    pub alert: String,
    /// `expr`: the query and the inverted criteria.
    pub expr: String,
    /// `for`, in Prometheus's duration syntax.
    #[serde(rename = "for")]
    pub for_duration: String,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// One rule group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleGroup {
    /// `<service> <project>-<stage> alerts`.
    pub name: String,
    /// The rules, in objective order.
    pub rules: Vec<AlertingRule>,
}

#[derive(Serialize)]
struct RuleFile<'a> {
    groups: &'a [RuleGroup],
}

/// The rule group name of a scope.
pub fn group_name(scope: &Scope) -> String {
    format!("{} {}-{} alerts", scope.service, scope.project, scope.stage)
}

/// The alerting rules of one scope from its SLO and merged sli.yaml. Objectives without
/// absolute pass criteria get no rule; the group may therefore be empty.
pub fn alerting_rules(
    scope: &Scope,
    slo: &Slo,
    sli: &SliConfig,
    options: &RuleOptions,
) -> Result<RuleGroup, Error> {
    let no_labels = BTreeMap::new();
    let placeholders = Placeholders::for_sli(&SliScope {
        project: &scope.project,
        stage: &scope.stage,
        service: &scope.service,
        deployment: ALERT_DEPLOYMENT,
        duration_seconds: u64::try_from(options.window.as_millis().div_ceil(1000))
            .unwrap_or(u64::MAX),
        labels: &no_labels,
        custom_filters: &slo.filter,
    });
    let mut rules = Vec::new();
    for objective in &slo.objectives {
        let lists: Vec<Vec<&Criterion>> = objective
            .pass
            .iter()
            .map(|list| {
                list.iter()
                    .filter(|criterion| !criterion.threshold.is_relative())
                    .collect::<Vec<_>>()
            })
            .filter(|list| !list.is_empty())
            .collect();
        if lists.is_empty() {
            continue;
        }
        let template = sli
            .query(&objective.sli)
            .ok_or_else(|| Error::IndicatorNotDefined {
                sli: objective.sli.to_string(),
            })?;
        let query = placeholders
            .render(template)
            .map_err(|error| Error::Placeholder {
                sli: objective.sli.to_string(),
                message: error.to_string(),
            })?;
        let expr = violation_expr(&query, &lists);
        let expected = lists
            .iter()
            .map(|list| {
                list.iter()
                    .map(|criterion| criterion.text.trim())
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect::<Vec<_>>()
            .join(" or ");
        let labels = BTreeMap::from([
            ("severity".to_owned(), "webhook".to_owned()),
            ("project".to_owned(), scope.project.clone()),
            ("stage".to_owned(), scope.stage.clone()),
            ("service".to_owned(), scope.service.clone()),
            ("deployment".to_owned(), ALERT_DEPLOYMENT.to_owned()),
            (
                "pod_name".to_owned(),
                format!("{}-{ALERT_DEPLOYMENT}", scope.service),
            ),
        ]);
        let annotations = BTreeMap::from([
            ("summary".to_owned(), objective.sli.to_string()),
            (
                "description".to_owned(),
                format!(
                    "{} of {} in {}/{} is {{{{ $value }}}}, expected {expected}",
                    objective.sli, scope.service, scope.project, scope.stage
                ),
            ),
        ]);
        rules.push(AlertingRule {
            alert: objective.sli.to_string(),
            expr,
            for_duration: prometheus_duration(options.for_duration),
            labels,
            annotations,
        });
    }
    Ok(RuleGroup {
        name: group_name(scope),
        rules,
    })
}

/// The rule file (`groups:`) of several scopes, as YAML.
pub fn rules_yaml(groups: &[RuleGroup]) -> String {
    // Plain strings and maps always serialize.
    serde_yaml::to_string(&RuleFile { groups }).unwrap_or_default()
}

/// The PromQL expression that is non-empty while the pass criteria are violated.
fn violation_expr(query: &str, lists: &[Vec<&Criterion>]) -> String {
    let list_exprs: Vec<String> = lists
        .iter()
        .map(|list| {
            list.iter()
                .map(|criterion| {
                    format!(
                        "({query}) {} {}",
                        inverted(criterion.operator),
                        promql_number(criterion.threshold)
                    )
                })
                .collect::<Vec<_>>()
                .join(" or ")
        })
        .collect();
    if list_exprs.len() == 1 {
        return list_exprs.into_iter().next().unwrap_or_default();
    }
    list_exprs
        .iter()
        .map(|expr| format!("({expr})"))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The PromQL comparison that holds exactly when `operator` does not.
fn inverted(operator: Operator) -> &'static str {
    match operator {
        Operator::Less => ">=",
        Operator::LessOrEqual => ">",
        Operator::Equal => "!=",
        Operator::GreaterOrEqual => "<",
        Operator::Greater => "<=",
    }
}

fn promql_number(threshold: Threshold) -> String {
    let value = threshold.target(0.0);
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// A duration in Prometheus's syntax (`10m`, `1s`, `1500ms`, `2h`).
pub fn prometheus_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let seconds = millis / 1000;
    if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// How Alertmanager notifies Keptn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertmanagerOptions {
    /// Where Alertmanager posts (the control plane's Alertmanager intake).
    pub webhook_url: String,
    /// How long to wait before the first notification of a group (Alertmanager: 30s).
    pub group_wait: Duration,
    /// How long to wait before notifying about changes of a group (Alertmanager: 5m).
    pub group_interval: Duration,
    /// How long before a still-firing group is notified again (Alertmanager: 4h).
    pub repeat_interval: Duration,
    /// Sent as `Authorization: Bearer <token>` (the control plane's API token), when set.
    pub bearer_token: Option<String>,
}

impl AlertmanagerOptions {
    /// Alertmanager's own timing defaults, posting to `webhook_url`.
    pub fn new(webhook_url: impl Into<String>) -> Self {
        Self {
            webhook_url: webhook_url.into(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            bearer_token: None,
        }
    }
}

#[derive(Serialize)]
struct AlertmanagerFile {
    route: Route,
    receivers: Vec<Receiver>,
}

#[derive(Serialize)]
struct Route {
    receiver: String,
    group_by: Vec<String>,
    group_wait: String,
    group_interval: String,
    repeat_interval: String,
}

#[derive(Serialize)]
struct Receiver {
    name: String,
    webhook_configs: Vec<WebhookConfig>,
}

#[derive(Serialize)]
struct WebhookConfig {
    url: String,
    send_resolved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_config: Option<HttpConfig>,
}

#[derive(Serialize)]
struct HttpConfig {
    authorization: Authorization,
}

#[derive(Serialize)]
struct Authorization {
    #[serde(rename = "type")]
    kind: String,
    credentials: String,
}

/// The Alertmanager configuration (YAML): every alert to receiver `keptn_integration`.
pub fn alertmanager_config(options: &AlertmanagerOptions) -> Result<String, Error> {
    let valid = reqwest::Url::parse(&options.webhook_url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    if valid.is_none() {
        return Err(Error::InvalidWebhookUrl {
            url: options.webhook_url.clone(),
        });
    }
    let file = AlertmanagerFile {
        route: Route {
            receiver: RECEIVER.to_owned(),
            group_by: ["alertname", "project", "stage", "service"]
                .map(str::to_owned)
                .to_vec(),
            group_wait: prometheus_duration(options.group_wait),
            group_interval: prometheus_duration(options.group_interval),
            repeat_interval: prometheus_duration(options.repeat_interval),
        },
        receivers: vec![Receiver {
            name: RECEIVER.to_owned(),
            webhook_configs: vec![WebhookConfig {
                url: options.webhook_url.clone(),
                send_resolved: true,
                http_config: options.bearer_token.as_ref().map(|token| HttpConfig {
                    authorization: Authorization {
                        kind: "Bearer".to_owned(),
                        credentials: token.clone(),
                    },
                }),
            }],
        }],
    };
    Ok(serde_yaml::to_string(&file).unwrap_or_default())
}

#[derive(Serialize)]
struct ScrapeConfig {
    job_name: String,
    static_configs: Vec<StaticConfig>,
}

#[derive(Serialize)]
struct StaticConfig {
    targets: Vec<String>,
}

/// The `scrape_configs:` entries (YAML list) of a scope: one job
/// `<service>-<project>-<stage>-<deployment>` per deployment, scraping its `host:port`
/// targets, the job names the sli.yaml queries select with `job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"`.
pub fn scrape_configs(scope: &Scope, targets: &BTreeMap<String, Vec<String>>) -> String {
    let jobs: Vec<ScrapeConfig> = targets
        .iter()
        .map(|(deployment, targets)| ScrapeConfig {
            job_name: format!(
                "{}-{}-{}-{deployment}",
                scope.service, scope.project, scope.stage
            ),
            static_configs: vec![StaticConfig {
                targets: targets.clone(),
            }],
        })
        .collect();
    serde_yaml::to_string(&jobs).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const SLI: &str = "spec_version: '1.0'\nindicators:\n  response_time_p90: histogram_quantile(0.9, sum by(le) (rate(http_response_time_milliseconds_bucket{job=\"$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT\",handler=\"$handler\"}[$DURATION_SECONDS])))\n  error_rate: sum(rate(http_requests_total{job=\"$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT\",code=~\"5..\"}[$DURATION_SECONDS])) / sum(rate(http_requests_total{job=\"$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT\"}[$DURATION_SECONDS]))\n  throughput: sum(rate(http_requests_total{job=\"$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT\"}[$DURATION_SECONDS]))\n";

    const SLO: &str = r#"spec_version: "1.0"
filter:
  handler: "ItemsController.addToCart"
comparison:
  aggregate_function: avg
  compare_with: single_result
  include_result_with_score: pass
  number_of_comparison_results: 1
objectives:
  - sli: response_time_p90
    pass:
      - criteria:
          - "<=+10%"
          - "<1000"
    warning:
      - criteria:
          - "<=1200"
  - sli: error_rate
    pass:
      - criteria: ["<=0.05"]
      - criteria: ["<0.1", ">0"]
  - sli: throughput
    pass:
      - criteria: ["<=+10%"]
  - sli: not_in_sli_yaml
total_score:
  pass: "90%"
  warning: "40%"
"#;

    fn scope() -> Scope {
        Scope {
            project: "sockshop".into(),
            stage: "production".into(),
            service: "carts".into(),
        }
    }

    fn slo(text: &str) -> Slo {
        let text = if text.contains("total_score") {
            text.to_owned()
        } else {
            format!("{text}total_score:\n  pass: \"90%\"\n")
        };
        keptn_slo::parse(&text)
            .expect("the slo parses")
            .slo
            .expect("the slo is not empty")
    }

    fn sli() -> SliConfig {
        SliConfig::parse(SLI).expect("the sli.yaml parses").0
    }

    fn group() -> RuleGroup {
        alerting_rules(
            &scope(),
            &slo(SLO),
            &sli(),
            &RuleOptions {
                for_duration: Duration::from_secs(1),
                window: Duration::from_secs(30),
            },
        )
        .expect("rules generate")
    }

    #[test]
    fn one_rule_per_objective_with_absolute_criteria() {
        let group = group();
        assert_eq!(group.name, "carts sockshop-production alerts");
        let names: Vec<&str> = group.rules.iter().map(|rule| rule.alert.as_str()).collect();
        assert_eq!(names, ["response_time_p90", "error_rate"]);
        let p90 = &group.rules[0];
        assert_eq!(
            p90.expr,
            "(histogram_quantile(0.9, sum by(le) (rate(http_response_time_milliseconds_bucket{job=\"carts-sockshop-production-primary\",handler=\"ItemsController.addToCart\"}[30s])))) >= 1000"
        );
        assert_eq!(p90.for_duration, "1s");
        assert_eq!(p90.labels["severity"], "webhook");
        assert_eq!(p90.labels["deployment"], "primary");
        assert_eq!(p90.labels["pod_name"], "carts-primary");
        assert_eq!(p90.labels["project"], "sockshop");
        assert_eq!(p90.labels["stage"], "production");
        assert_eq!(p90.labels["service"], "carts");
        assert_eq!(p90.annotations["summary"], "response_time_p90");
        assert_eq!(
            p90.annotations["description"],
            "response_time_p90 of carts in sockshop/production is {{ $value }}, expected <1000"
        );
    }

    #[test]
    fn several_lists_become_an_and_of_ors() {
        let error_rate = &group().rules[1];
        let query = "(sum(rate(http_requests_total{job=\"carts-sockshop-production-primary\",code=~\"5..\"}[30s])) / sum(rate(http_requests_total{job=\"carts-sockshop-production-primary\"}[30s])))";
        assert_eq!(
            error_rate.expr,
            format!("({query} > 0.05) and ({query} >= 0.1 or {query} <= 0)")
        );
    }

    #[test]
    fn every_operator_is_inverted_exactly() {
        let cases = [
            ("<600", ">= 600"),
            ("<=600", "> 600"),
            ("=0", "!= 0"),
            (">=1.5", "< 1.5"),
            (">2", "<= 2"),
        ];
        for (criterion, expected) in cases {
            let text = format!(
                "spec_version: '1.0'\nobjectives:\n  - sli: throughput\n    pass:\n      - criteria: ['{criterion}']\n"
            );
            let group =
                alerting_rules(&scope(), &slo(&text), &sli(), &RuleOptions::default()).unwrap();
            assert!(
                group.rules[0].expr.ends_with(&format!(") {expected}")),
                "{criterion}: {}",
                group.rules[0].expr
            );
            assert_eq!(group.rules[0].for_duration, "10m");
        }
    }

    #[test]
    fn missing_query_and_unknown_placeholder_are_errors() {
        let text = "spec_version: '1.0'\nobjectives:\n  - sli: latency\n    pass:\n      - criteria: ['<1']\n";
        assert_eq!(
            alerting_rules(&scope(), &slo(text), &sli(), &RuleOptions::default()).unwrap_err(),
            Error::IndicatorNotDefined {
                sli: "latency".into()
            }
        );
        let sli = SliConfig::from_indicators([("latency", "sum(x{a=\"$LABEL.team\"})")]);
        let error =
            alerting_rules(&scope(), &slo(text), &sli, &RuleOptions::default()).unwrap_err();
        assert!(
            matches!(&error, Error::Placeholder { sli, message } if sli == "latency" && message.contains("$LABEL.team")),
            "{error}"
        );
    }

    #[test]
    fn durations_use_prometheus_syntax() {
        assert_eq!(prometheus_duration(Duration::ZERO), "0s");
        assert_eq!(prometheus_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(prometheus_duration(Duration::from_secs(45)), "45s");
        assert_eq!(prometheus_duration(Duration::from_secs(600)), "10m");
        assert_eq!(prometheus_duration(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn alertmanager_config_posts_to_the_webhook_and_sends_resolved() {
        let mut options = AlertmanagerOptions::new("http://127.0.0.1:8080/v1/alertmanager");
        options.group_wait = Duration::from_secs(1);
        let text = alertmanager_config(&options).expect("a valid url");
        let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            value["route"]["receiver"].as_str(),
            Some("keptn_integration")
        );
        assert_eq!(value["route"]["group_wait"].as_str(), Some("1s"));
        assert_eq!(value["route"]["group_interval"].as_str(), Some("5m"));
        let webhook = &value["receivers"][0]["webhook_configs"][0];
        assert_eq!(
            webhook["url"].as_str(),
            Some("http://127.0.0.1:8080/v1/alertmanager")
        );
        assert_eq!(webhook["send_resolved"].as_bool(), Some(true));
        for bad in ["127.0.0.1:8080/x", "ftp://host/x", "not a url"] {
            assert_eq!(
                alertmanager_config(&AlertmanagerOptions::new(bad)).unwrap_err(),
                Error::InvalidWebhookUrl { url: bad.into() }
            );
        }
    }

    #[test]
    fn scrape_jobs_are_named_as_the_queries_select_them() {
        let text = scrape_configs(
            &scope(),
            &BTreeMap::from([("primary".to_owned(), vec!["127.0.0.1:8080".to_owned()])]),
        );
        let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            value[0]["job_name"].as_str(),
            Some("carts-sockshop-production-primary")
        );
        assert_eq!(
            value[0]["static_configs"][0]["targets"][0].as_str(),
            Some("127.0.0.1:8080")
        );
    }

    /// Runs a Prometheus tool on a generated file; `None` when the tool is missing outside CI.
    fn check_with(tool: &str, args: &[&str], file_name: &str, text: &str) -> Option<String> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join(file_name);
        std::fs::write(&path, text).expect("the temp dir is writable");
        let mut command = Command::new(tool);
        command.args(args).arg(&path);
        match command.output() {
            Ok(output) => {
                let all = format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                assert!(
                    output.status.success(),
                    "{tool} rejected the generated file:\n{text}\n{all}"
                );
                Some(all)
            }
            Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
                "'{tool}' is needed and CI=true forbids skipping ({error}): apt-get install -y prometheus prometheus-alertmanager"
            ),
            Err(error) => {
                eprintln!("SKIPPED {tool} check: cannot run '{tool}': {error}");
                None
            }
        }
    }

    #[test]
    fn promtool_accepts_the_generated_rules() {
        let text = rules_yaml(&[group()]);
        if let Some(output) = check_with("promtool", &["check", "rules"], "rules.yml", &text) {
            assert!(output.contains("SUCCESS: 2 rules found"), "{output}");
        }
    }

    #[test]
    fn amtool_accepts_the_generated_config() {
        let text =
            alertmanager_config(&AlertmanagerOptions::new("http://127.0.0.1:9/alerts")).unwrap();
        if let Some(output) = check_with("amtool", &["check-config"], "alertmanager.yml", &text) {
            assert!(output.contains("SUCCESS"), "{output}");
            assert!(output.contains("1 receivers"), "{output}");
        }
    }
}
