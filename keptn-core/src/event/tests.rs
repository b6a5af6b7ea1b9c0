use serde_json::json;

use super::*;

fn check_type(text: &str, expected: &EventType) {
    let parsed = EventType::parse(text).unwrap();
    assert_eq!(&parsed, expected, "{text}");
    assert_eq!(parsed.to_string(), text);
}

#[test]
fn parses_task_sequence_and_other_types() {
    check_type(
        "sh.keptn.event.deployment.triggered",
        &EventType::Task {
            task: "deployment".into(),
            kind: TaskEventKind::Triggered,
        },
    );
    check_type(
        "sh.keptn.event.get-sli.finished",
        &EventType::Task {
            task: "get-sli".into(),
            kind: TaskEventKind::Finished,
        },
    );
    check_type(
        "sh.keptn.event.test.status.changed",
        &EventType::Task {
            task: "test".into(),
            kind: TaskEventKind::StatusChanged,
        },
    );
    check_type(
        "sh.keptn.event.evaluation.invalidated",
        &EventType::Task {
            task: "evaluation".into(),
            kind: TaskEventKind::Invalidated,
        },
    );
    check_type(
        "sh.keptn.event.dev.delivery.triggered",
        &EventType::Sequence {
            stage: "dev".into(),
            sequence: "delivery".into(),
            kind: SequenceEventKind::Triggered,
        },
    );
    check_type(
        "sh.keptn.event.monitoring.configure",
        &EventType::Other("sh.keptn.event.monitoring.configure".into()),
    );
    check_type(
        "sh.keptn.events.deployment-finished",
        &EventType::Other("sh.keptn.events.deployment-finished".into()),
    );
    check_type(
        "sh.keptn.log.error",
        &EventType::Other("sh.keptn.log.error".into()),
    );
}

#[test]
fn rejects_malformed_keptn_types() {
    for bad in [
        "",
        "sh.keptn.event.a.b.c.triggered",
        "sh.keptn.event..triggered",
        "sh.keptn.event.triggered",
        "sh.keptn.event.a b.triggered",
    ] {
        assert!(EventType::parse(bad).is_err(), "{bad:?}");
    }
    assert!(EventType::task("deploy.helm", TaskEventKind::Triggered).is_err());
    assert!(EventType::sequence("dev", "delivery.v2", SequenceEventKind::Finished).is_err());
    assert!(EventType::sequence("dev", "delivery", SequenceEventKind::Finished).is_ok());
}

#[test]
fn results_and_statuses_keep_unknown_strings() {
    assert_eq!(TaskResult::from("pass"), TaskResult::Pass);
    assert_eq!(TaskResult::from(""), TaskResult::Other(String::new()));
    assert_eq!(TaskResult::from("failed").as_str(), "failed");
    assert!(!TaskResult::from("failed").is_passing());
    assert_eq!(TaskStatus::from("errored"), TaskStatus::Errored);
}

#[test]
fn unknown_data_fields_survive_and_payloads_decode() {
    let data = EventData::from_value(json!({
        "project": "sockshop", "stage": "dev", "service": "carts",
        "deployment": {"deploymentstrategy": "direct", "deploymentURIsLocal": ["http://x"], "replicas": 3},
        "temporaryData": {"distributor": {"subscriptionID": "abc"}}
    }))
    .unwrap();
    let deployment: Deployment = data.payload("deployment").unwrap().unwrap();
    assert_eq!(deployment.deploymentstrategy.as_deref(), Some("direct"));
    assert_eq!(deployment.extra["replicas"], json!(3));
    assert!(data.payload::<Test>("test").unwrap().is_none());
    let mut changed = data.clone();
    changed.set_payload("deployment", &deployment).unwrap();
    assert_eq!(changed.to_value(), data.to_value());
    assert!(data.payload::<GetAction>("temporaryData").is_ok());
}

#[test]
fn data_must_be_an_object() {
    assert!(EventData::from_value(json!("text")).is_err());
    assert!(KeptnEvent::from_json("[]").is_err());
    assert!(KeptnEvent::from_json(r#"{"id": "1"}"#).is_err());
    assert!(KeptnEvent::from_json(r#"{"type": "sh.keptn.event.x.triggered", "id": 5}"#).is_err());
}

#[test]
fn formats_timestamps_as_rfc3339() {
    assert_eq!(format_rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        format_rfc3339(Timestamp(1_610_723_386_268)),
        "2021-01-15T15:09:46.268Z"
    );
    assert_eq!(
        format_rfc3339(Timestamp(951_782_400_000)),
        "2000-02-29T00:00:00.000Z"
    );
}

#[test]
fn new_events_carry_keptn_defaults() {
    let event = KeptnEvent::new(
        "1",
        "test",
        EventType::parse("sh.keptn.event.test.triggered").unwrap(),
        EventData::scoped("p", "s", "svc"),
    );
    let text = event.to_json();
    assert!(text.starts_with(r#"{"data":{"project":"p","service":"svc","stage":"s"},"datacontenttype":"application/json","id":"1""#), "{text}");
    assert_eq!(KeptnEvent::from_json(&text).unwrap(), event);
    assert_eq!(event.scope(), Some(("p", "s", "svc")));
}
