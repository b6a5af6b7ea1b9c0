use serde_json::json;

use super::*;
use crate::event::{EventType, SequenceEventKind};

/// A notification in the exact shape Alertmanager 0.25 posts (captured from Debian's
/// `prometheus-alertmanager` 0.25 in keptn-adapters' `tests/it/alerting.rs`, with the
/// generated route; hosts, times and fingerprint changed).
const FIRING: &str = r#"{"receiver":"keptn_integration","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"response_time_p90","deployment":"primary","pod_name":"carts-primary","project":"sockshop","service":"carts","severity":"webhook","stage":"production"},"annotations":{"description":"response_time_p90 of carts in sockshop/production is 1200, expected <1000","summary":"response_time_p90"},"startsAt":"2026-11-22T16:20:01.123Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.local:9090/graph?g0.expr=histogram_quantile%280.9%29+%3E+1000\u0026g0.tab=1","fingerprint":"5a1e7c3f2b9d0e41"}],"groupLabels":{"alertname":"response_time_p90","project":"sockshop","service":"carts","stage":"production"},"commonLabels":{"alertname":"response_time_p90","deployment":"primary","pod_name":"carts-primary","project":"sockshop","service":"carts","severity":"webhook","stage":"production"},"commonAnnotations":{"description":"response_time_p90 of carts in sockshop/production is 1200, expected <1000","summary":"response_time_p90"},"externalURL":"http://alertmanager.local:9093","version":"4","groupKey":"{}:{alertname=\"response_time_p90\", project=\"sockshop\", service=\"carts\", stage=\"production\"}","truncatedAlerts":0}"#;

fn alert(status: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "error_rate", "project": "sockshop", "stage": "production",
                   "service": "carts", "deployment": "primary"},
        "annotations": {"summary": "error_rate"},
        "startsAt": "2026-11-22T16:00:00Z",
        "endsAt": if status == "resolved" { "2026-11-22T16:05:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "",
        "fingerprint": "0011223344556677",
    })
}

fn body(alerts: Vec<Value>) -> String {
    json!({"version": "4", "status": "firing", "receiver": "keptn", "alerts": alerts}).to_string()
}

fn single(body: &str) -> Result<AlertNotice, Error> {
    let mut res = notices(body).expect("the body is a notification");
    assert_eq!(res.len(), 1, "one alert, one notice");
    res.remove(0)
}

fn firing_event(body: &str) -> KeptnEvent {
    match single(body) {
        Ok(AlertNotice::Firing(event)) => *event,
        other => panic!("expected a firing notice, got {other:?}"),
    }
}

#[test]
fn alertmanager_0_25_firing_payload_becomes_remediation_triggered() {
    let notification = parse(FIRING).expect("alertmanager's payload parses");
    assert_eq!(notification.version, "4");
    assert_eq!(notification.receiver, "keptn_integration");
    assert_eq!(notification.external_url, "http://alertmanager.local:9093");
    let event = firing_event(FIRING);
    assert_eq!(
        event.event_type,
        EventType::sequence("production", "remediation", SequenceEventKind::Triggered).unwrap()
    );
    assert_eq!(
        event.event_type.to_string(),
        "sh.keptn.event.production.remediation.triggered"
    );
    assert_eq!(event.source, "prometheus");
    assert_eq!(event.time.as_deref(), Some("2026-11-22T16:20:01.123Z"));
    assert_eq!(event.scope(), Some(("sockshop", "production", "carts")));
    let problem: Problem = event.data.payload("problem").unwrap().expect("a problem");
    assert_eq!(problem.problem_title.as_deref(), Some("response_time_p90"));
    assert_eq!(problem.state.as_deref(), Some("OPEN"));
    assert_eq!(problem.problem_id.as_deref(), Some("5a1e7c3f2b9d0e41"));
    assert_eq!(problem.root_cause, None);
    assert_eq!(problem.impacted_entity.as_deref(), Some("carts-primary"));
    assert!(
        problem
            .problem_url
            .as_deref()
            .is_some_and(|url| url.starts_with("http://prometheus.local:9090/graph?g0.expr="))
    );
    let details = problem.problem_details.expect("details");
    assert_eq!(
        details["problemDetails"],
        "response_time_p90 of carts in sockshop/production is 1200, expected <1000"
    );
    assert_eq!(details["summary"], "response_time_p90");
    let labels = event.data.labels.as_ref().expect("labels");
    assert_eq!(labels["deployment"], "primary");
    assert_eq!(labels["alertname"], "response_time_p90");
    assert!(labels["Problem URL"].starts_with("http://prometheus.local:9090/"));
    assert_eq!(
        event.data.fields["deployment"],
        json!({"deploymentNames": ["primary"]})
    );
    // The event survives the CloudEvents JSON round trip the intake does.
    let again = KeptnEvent::from_json(&event.to_json()).expect("valid keptn event");
    assert_eq!(again, event);
}

#[test]
fn the_same_alert_sent_again_maps_to_the_same_context_and_id() {
    let first = firing_event(FIRING);
    let second = firing_event(FIRING);
    assert_eq!(first.id, second.id);
    assert_eq!(first.keptn_context, second.keptn_context);
    assert_ne!(Some(first.id.clone()), first.keptn_context);
    let context = first.keptn_context.expect("a context");
    assert_eq!(context.len(), 36);
    assert_eq!(&context[14..15], "5", "a version 5 uuid: {context}");
}

#[test]
fn a_new_firing_after_resolution_gets_a_new_context() {
    let mut later = alert("firing");
    later["startsAt"] = json!("2026-11-22T17:00:00Z");
    let first = firing_event(&body(vec![alert("firing")]));
    let second = firing_event(&body(vec![later]));
    assert_ne!(first.keptn_context, second.keptn_context);
    assert_ne!(first.id, second.id);
}

#[test]
fn a_resolved_alert_closes_the_context_of_its_firing() {
    let firing = firing_event(&body(vec![alert("firing")]));
    let resolved = single(&body(vec![alert("resolved")])).expect("a resolved notice");
    assert_eq!(
        resolved,
        AlertNotice::Resolved {
            keptn_context: firing.keptn_context.clone().expect("a context"),
            project: "sockshop".into(),
            stage: "production".into(),
            service: "carts".into(),
            title: "error_rate".into(),
            fingerprint: "0011223344556677".into(),
            ends_at: "2026-11-22T16:05:00Z".into(),
        }
    );
    assert_eq!(resolved.keptn_context(), firing.keptn_context.as_deref());
}

#[test]
fn title_falls_back_to_alertname_and_no_deployment_label_means_no_deployment() {
    let mut without_summary = alert("firing");
    without_summary["annotations"] = json!({});
    without_summary["labels"]
        .as_object_mut()
        .unwrap()
        .remove("deployment");
    let event = firing_event(&body(vec![without_summary]));
    let problem: Problem = event.data.payload("problem").unwrap().unwrap();
    assert_eq!(problem.problem_title.as_deref(), Some("error_rate"));
    assert_eq!(problem.impacted_entity.as_deref(), Some("carts"));
    assert_eq!(problem.problem_url, None);
    assert!(!event.data.fields.contains_key("deployment"));
}

#[test]
fn an_alert_without_a_scope_label_is_an_error_naming_alert_and_label() {
    for label in SCOPE_LABELS {
        let mut incomplete = alert("firing");
        incomplete["labels"].as_object_mut().unwrap().remove(label);
        let error = single(&body(vec![incomplete])).expect_err("a scope label is missing");
        assert_eq!(
            error,
            Error::MissingLabel {
                alert: "error_rate".into(),
                label: label.into()
            }
        );
        assert!(error.to_string().contains(&format!("'{label}' label")));
    }
}

#[test]
fn one_bad_alert_does_not_hide_the_others() {
    let mut bad = alert("firing");
    bad["labels"]["stage"] = json!("");
    let res = notices(&body(vec![bad, alert("firing")])).unwrap();
    assert!(matches!(res[0], Err(Error::MissingLabel { .. })));
    assert!(matches!(res[1], Ok(AlertNotice::Firing(_))));
}

#[test]
fn invalid_inputs_are_errors() {
    let mut no_fingerprint = alert("firing");
    no_fingerprint["fingerprint"] = json!("");
    assert_eq!(
        single(&body(vec![no_fingerprint])).unwrap_err(),
        Error::MissingField {
            alert: "error_rate".into(),
            field: "fingerprint".into()
        }
    );
    let mut pending = alert("pending");
    pending["status"] = json!("pending");
    assert!(matches!(
        single(&body(vec![pending])),
        Err(Error::UnknownStatus { status, .. }) if status == "pending"
    ));
    let mut dotted = alert("firing");
    dotted["labels"]["stage"] = json!("prod.eu");
    assert!(matches!(
        single(&body(vec![dotted])),
        Err(Error::InvalidScope { alert, .. }) if alert == "error_rate"
    ));
    assert!(matches!(parse("[1, 2]"), Err(Error::InvalidPayload { .. })));
    assert_eq!(
        parse(r#"{"version": "3", "alerts": []}"#).unwrap_err(),
        Error::UnsupportedVersion {
            version: "3".into()
        }
    );
}

#[test]
fn sha1_and_uuid_v5_match_published_vectors() {
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    assert_eq!(
        hex(&sha1(b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        hex(&sha1(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
    // RFC 4122's DNS namespace; Python's uuid.uuid5(NAMESPACE_DNS, "python.org").
    let dns = [
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    assert_eq!(
        uuid_v5(&dns, "python.org"),
        "886313e1-3b8a-5372-9b90-0c9aee199e5d"
    );
}
