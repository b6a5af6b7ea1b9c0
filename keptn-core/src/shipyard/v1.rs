//! The 2020 `keptn: v1` shipyard (Keptn 0.6/0.7) and its conversion to spec.keptn.sh/0.2.
//!
//! A v1 stage declares strategies instead of sequences. The conversion expresses the same
//! behaviour the way Keptn 0.8 did (KEP 06):
//!
//! - a stage with a `deployment_strategy` or `test_strategy` gets a `delivery` sequence:
//!   `approval` (only with an `approval_strategy`; v1 asked before deploying into this stage),
//!   `deployment` (`deploymentstrategy`), `test` (`teststrategy`), `evaluation`, `release`;
//!   every stage's delivery but the first is triggered on the previous delivery stage's
//!   `delivery.finished` (promotion on pass or warning, as v1's gatekeeper did);
//! - a `blue_green_service` stage also gets `rollback` on its own `delivery.finished` with
//!   `result: fail` (v1 discarded the canary on a failed evaluation);
//! - `remediation_strategy: automated` gets a `remediation` sequence `get-action`, `action`,
//!   `evaluation` (after 10 minutes, v1's `WAIT_TIME_MINUTES`), re-triggered on its own
//!   failure with `evaluation.result: fail`;
//! - a stage with no strategy (a quality-gate-only stage) gets no sequence; the built-in
//!   `evaluation` sequence serves it;
//! - unset approval strategies were `automatic` in v1; the 0.2 form spells them out because an
//!   unset strategy means manual there.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::{
    RawMetadata, RawSelector, RawSequence, RawShipyard, RawShipyardV1, RawSpec, RawStage, RawTask,
    RawTrigger, is_valid_entity_name,
};
use crate::diagnostic::Diagnostics;
use crate::yaml::YamlPath;

/// The apiVersion given to converted shipyards.
pub const CONVERTED_API_VERSION: &str = "spec.keptn.sh/0.2.0";

/// Checks a v1 shipyard, recording located findings.
pub fn check(raw: &RawShipyardV1, diagnostics: &mut Diagnostics<'_>) {
    let root = YamlPath::root();
    for key in raw.unknown.keys() {
        diagnostics.warning_at_key(
            &root.key(key),
            format!("unknown key '{key}' in a v1 shipyard (ignored)"),
        );
    }
    if raw.stages.is_empty() {
        diagnostics.error(&root.key("stages"), "a shipyard needs at least one stage");
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (stage_idx, stage) in raw.stages.iter().enumerate() {
        let stage_path = root.key("stages").index(stage_idx);
        for key in stage.unknown.keys() {
            diagnostics.warning_at_key(
                &stage_path.key(key),
                format!("unknown key '{key}' in a v1 stage (ignored)"),
            );
        }
        match &stage.name {
            None => diagnostics.error(&stage_path, "stage has no name"),
            Some(name) => {
                if !is_valid_entity_name(name) {
                    diagnostics.error(&stage_path.key("name"), format!("stage name '{name}' is not a valid Keptn name (lower-case letter first, then lower-case letters, digits or '-', not ending with '-')"));
                }
                if let Some(first_idx) = seen.get(name) {
                    diagnostics.error(
                        &stage_path.key("name"),
                        format!("duplicate stage name '{name}' (first at stages[{first_idx}])"),
                    );
                } else {
                    seen.insert(name.clone(), stage_idx);
                }
            }
        }
        if let Some(strategy) = &stage.deployment_strategy
            && strategy != "direct"
            && strategy != "blue_green_service"
        {
            diagnostics.warning(&stage_path.key("deployment_strategy"), format!("unknown deployment_strategy '{strategy}' (v1 knows direct and blue_green_service)"));
        }
        if let Some(strategy) = &stage.remediation_strategy
            && strategy != "automated"
        {
            diagnostics.warning(&stage_path.key("remediation_strategy"), format!("remediation_strategy '{strategy}' is not 'automated': no remediation sequence is generated"));
        }
        if let Some(approval) = &stage.approval_strategy {
            for (key, value) in [("pass", &approval.pass), ("warning", &approval.warning)] {
                if let Some(value) = value
                    && value != "automatic"
                    && value != "manual"
                {
                    diagnostics.warning(
                        &stage_path.key("approval_strategy").key(key),
                        format!("approval strategy '{value}' is neither 'automatic' nor 'manual'"),
                    );
                }
            }
        }
    }
}

fn properties(entries: &[(&str, &str)]) -> Option<Value> {
    let mut mapping = Mapping::new();
    for (key, value) in entries {
        mapping.insert(
            Value::String((*key).to_owned()),
            Value::String((*value).to_owned()),
        );
    }
    Some(Value::Mapping(mapping))
}

fn task(name: &str, properties: Option<Value>) -> RawTask {
    RawTask {
        name: Some(name.to_owned()),
        properties,
        ..RawTask::default()
    }
}

fn trigger(event: String, selector: Option<(&str, &str)>) -> RawTrigger {
    RawTrigger {
        event: Some(event),
        selector: selector.map(|(key, value)| RawSelector {
            match_: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
            unknown: BTreeMap::new(),
        }),
        unknown: BTreeMap::new(),
    }
}

/// Converts a v1 shipyard to an equivalent spec.keptn.sh/0.2 one (see the module docs).
pub fn convert(raw: &RawShipyardV1) -> RawShipyard {
    let mut stages = Vec::new();
    let mut previous_delivery_stage: Option<String> = None;
    for stage in &raw.stages {
        let name = stage.name.clone().unwrap_or_default();
        let mut sequences = Vec::new();
        let delivers = stage.deployment_strategy.is_some() || stage.test_strategy.is_some();
        if delivers {
            let mut tasks = Vec::new();
            if let Some(approval) = &stage.approval_strategy {
                tasks.push(task(
                    "approval",
                    properties(&[
                        ("pass", approval.pass.as_deref().unwrap_or("automatic")),
                        (
                            "warning",
                            approval.warning.as_deref().unwrap_or("automatic"),
                        ),
                    ]),
                ));
            }
            if let Some(strategy) = &stage.deployment_strategy {
                tasks.push(task(
                    "deployment",
                    properties(&[("deploymentstrategy", strategy)]),
                ));
            }
            if let Some(strategy) = &stage.test_strategy {
                tasks.push(task("test", properties(&[("teststrategy", strategy)])));
            }
            tasks.push(task("evaluation", None));
            tasks.push(task("release", None));
            sequences.push(RawSequence {
                name: Some("delivery".to_owned()),
                triggered_on: previous_delivery_stage
                    .as_ref()
                    .map(|previous| vec![trigger(format!("{previous}.delivery.finished"), None)]),
                tasks: Some(tasks),
                unknown: BTreeMap::new(),
            });
            if stage.deployment_strategy.as_deref() == Some("blue_green_service") {
                sequences.push(RawSequence {
                    name: Some("rollback".to_owned()),
                    triggered_on: Some(vec![trigger(
                        format!("{name}.delivery.finished"),
                        Some(("result", "fail")),
                    )]),
                    tasks: Some(vec![task("rollback", None)]),
                    unknown: BTreeMap::new(),
                });
            }
            previous_delivery_stage = Some(name.clone());
        }
        if stage.remediation_strategy.as_deref() == Some("automated") {
            let mut evaluation = task("evaluation", properties(&[("timeframe", "10m")]));
            evaluation.triggered_after = Some("10m".to_owned());
            sequences.push(RawSequence {
                name: Some("remediation".to_owned()),
                triggered_on: Some(vec![trigger(
                    format!("{name}.remediation.finished"),
                    Some(("evaluation.result", "fail")),
                )]),
                tasks: Some(vec![
                    task("get-action", None),
                    task("action", None),
                    evaluation,
                ]),
                unknown: BTreeMap::new(),
            });
        }
        stages.push(RawStage {
            name: Some(name),
            sequences: (!sequences.is_empty()).then_some(sequences),
            unknown: BTreeMap::new(),
        });
    }
    RawShipyard {
        api_version: Some(Value::String(CONVERTED_API_VERSION.to_owned())),
        kind: Some("Shipyard".to_owned()),
        metadata: Some(RawMetadata {
            name: Some("shipyard".to_owned()),
            unknown: BTreeMap::new(),
        }),
        spec: Some(RawSpec {
            stages: Some(stages),
            unknown: BTreeMap::new(),
        }),
        unknown: BTreeMap::new(),
    }
}
