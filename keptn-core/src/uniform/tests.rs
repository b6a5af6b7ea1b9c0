use super::*;

#[test]
fn patterns_follow_nats_subject_rules() {
    let check = |pattern: &str, subject: &str, expected: bool| {
        assert_eq!(
            EventPattern::parse(pattern).unwrap().matches(subject),
            expected,
            "{pattern} ~ {subject}"
        );
    };
    check(
        "sh.keptn.event.test.triggered",
        "sh.keptn.event.test.triggered",
        true,
    );
    check(
        "sh.keptn.event.*.triggered",
        "sh.keptn.event.deployment.triggered",
        true,
    );
    check(
        "sh.keptn.event.*.triggered",
        "sh.keptn.event.dev.delivery.triggered",
        false,
    );
    check("sh.keptn.>", "sh.keptn.event.dev.delivery.triggered", true);
    check("sh.keptn.event.>", "sh.keptn.event", false);
    check(
        "sh.keptn.event.test.triggered",
        "sh.keptn.event.test.triggered.x",
        false,
    );
    assert!(EventPattern::parse("sh.>.event").is_err());
    assert!(EventPattern::parse("sh..event").is_err());
}

#[test]
fn filters_and_subscribers() {
    let source = "integrations:\n  - name: helm\n    subscriptions:\n      - event: sh.keptn.event.deployment.triggered\n        filter: {stages: [dev]}\n  - name: audit\n    subscriptions:\n      - event: sh.keptn.>\n";
    let (uniform, warnings) = parse(source).unwrap();
    assert!(warnings.is_empty());
    let names = |stage: &str| -> Vec<String> {
        uniform
            .subscribers(
                "sh.keptn.event.deployment.triggered",
                "sockshop",
                stage,
                "carts",
            )
            .into_iter()
            .map(|integration| integration.name.clone())
            .collect()
    };
    assert_eq!(names("dev"), ["helm", "audit"]);
    assert_eq!(names("production"), ["audit"]);
}

#[test]
fn invalid_uniform_is_located() {
    let source = "integrations:\n  - name: helm\n    subscriptions:\n      - event: sh.>.x\n    color: blue\n";
    let Err(Error::InvalidUniform { diagnostics }) = parse(source) else {
        panic!("expected an invalid uniform")
    };
    let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "5:5: warning: unknown key 'color' in an integration (at integrations[0].color)",
            "4:16: error: event pattern 'sh.>.x' uses '>' before its last token (at integrations[0].subscriptions[0].event)",
        ]
    );
}

#[test]
fn keptn_defaults_route_tasks_to_standard_services() {
    let uniform = Uniform::keptn_defaults();
    let subscribers = uniform.subscribers("sh.keptn.event.test.triggered", "p", "s", "svc");
    assert_eq!(subscribers.len(), 1);
    assert_eq!(subscribers[0].name, "jmeter-service");
}

#[test]
fn kind_defaults_to_the_name_and_config_is_kept() {
    let source = "integrations:\n  - name: deployer-dev\n    kind: noop\n    config: {delay: 5s, replicas: 2}\n    subscriptions:\n      - event: sh.keptn.event.deployment.triggered\n  - name: approval-service\n    subscriptions:\n      - event: sh.keptn.event.approval.triggered\n";
    let (uniform, warnings) = super::parse(source).expect("valid uniform");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(uniform.integrations[0].kind, "noop");
    assert_eq!(
        uniform.integrations[0].config,
        serde_json::json!({"delay": "5s", "replicas": 2})
    );
    assert_eq!(uniform.integrations[1].kind, "approval-service");
    assert_eq!(uniform.integrations[1].config, serde_json::Value::Null);
}

#[test]
fn an_entry_in_keptns_registration_form_without_a_kind_is_external() {
    let source = "integrations:\n  - name: job-executor-service\n    metadata:\n      integrationversion: 0.3.0\n      location: remote\n    subscriptions:\n      - event: sh.keptn.event.test.triggered\n        filter: {projects: [sockshop]}\n  - name: my-deployer\n    kind: external\n    subscriptions:\n      - event: sh.keptn.event.deployment.triggered\n  - name: metadata-but-built-in\n    kind: noop\n    metadata: {location: control-plane}\n    subscriptions:\n      - event: sh.keptn.event.test.triggered\n";
    let (uniform, warnings) = super::parse(source).expect("valid uniform");
    assert!(warnings.is_empty(), "metadata is a known key: {warnings:?}");
    let kinds: Vec<&str> = uniform
        .integrations
        .iter()
        .map(|integration| integration.kind.as_str())
        .collect();
    assert_eq!(kinds, [super::EXTERNAL_KIND, super::EXTERNAL_KIND, "noop"]);
}
