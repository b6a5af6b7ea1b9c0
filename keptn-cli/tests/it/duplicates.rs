//! Duplicate event ids under concurrent load on `keptn serve`: with the same ids sent by several
//! clients at the same time (so twice in one group-commit batch, or already stored), every id is
//! stored once, answered `accepted` exactly once and `duplicate` every other time, and no caller
//! hears an error.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{Scratch, Server, TOKEN};

const UNIFORM: &str = "\
integrations:
  - name: noop
    subscriptions:
      - event: sh.keptn.event.deployment.triggered
";

/// Distinct alert instances (and so event ids) sent by every client.
const N_ALERTS: usize = 150;
/// Clients in a group send the ids in the same order, at the same time; groups are offset.
const GROUP: usize = 4;
const N_GROUPS: usize = 4;

/// An Alertmanager notification resolving alert `fp-{idx}`: becomes the event
/// `<context>-resolved`, whose id depends on the fingerprint only, and the answer tells whether
/// it was `accepted` or a `duplicate`.
fn resolved_alert(idx: usize) -> Value {
    json!({
        "version": "4",
        "status": "resolved",
        "receiver": "keptn",
        "alerts": [{
            "status": "resolved",
            "labels": {"alertname": format!("alert-{idx}"), "project": "sockshop", "stage": "dev", "service": "carts"},
            "annotations": {"summary": format!("alert {idx}")},
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2026-01-01T00:05:00Z",
            "fingerprint": format!("fp-{idx}"),
        }],
    })
}

/// A plain event with a fixed id, answered 202 whether accepted or a duplicate.
fn plain_event(idx: usize) -> Value {
    json!({
        "specversion": "1.0",
        "id": format!("plain-{idx}"),
        "source": "duplicates-test",
        "type": "sh.keptn.event.test.finished",
        "shkeptncontext": "duplicates",
        "data": {"project": "sockshop", "stage": "dev", "service": "carts", "result": "pass", "status": "succeeded"},
    })
}

#[test]
fn concurrent_duplicates_are_stored_once_and_accepted_exactly_once() {
    let _exclusive = crate::support::exclusive();
    let scratch = Scratch::new("duplicates");
    let server = Server::start_with(&scratch, UNIFORM);
    let endpoint = server.endpoint.clone();
    let clients: Vec<_> = (0..GROUP * N_GROUPS)
        .map(|client_idx| {
            let endpoint = endpoint.clone();
            let http = server.http();
            std::thread::spawn(move || {
                let offset = (client_idx / GROUP) * (N_ALERTS / N_GROUPS);
                let mut outcomes: Vec<(String, String)> = Vec::new();
                for step in 0..N_ALERTS {
                    let idx = (offset + step) % N_ALERTS;
                    let response = http
                        .post(format!("{endpoint}/api/v1/alertmanager"))
                        .header("x-token", TOKEN)
                        .json(&resolved_alert(idx))
                        .send()
                        .expect("notification sent");
                    assert_eq!(response.status(), 200, "alert {idx}");
                    let answer: Value = response.json().expect("JSON answer");
                    let result = &answer["results"][0];
                    let outcome = result["outcome"].as_str().unwrap_or_else(|| {
                        panic!("alert {idx}: no outcome in {answer}");
                    });
                    let keptn_context = result["keptnContext"].as_str().expect("context");
                    outcomes.push((format!("{keptn_context}-resolved"), outcome.to_owned()));
                    // Some load through the event route too, with ids other clients repeat.
                    if step % 3 == 0 {
                        let response = http
                            .post(format!("{endpoint}/api/v1/event"))
                            .header("x-token", TOKEN)
                            .json(&plain_event(idx))
                            .send()
                            .expect("event sent");
                        assert_eq!(response.status(), 202, "event plain-{idx}");
                    }
                }
                outcomes
            })
        })
        .collect();
    let mut answers: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for client in clients {
        for (id, outcome) in client.join().expect("client thread") {
            let counts = answers.entry(id).or_default();
            match outcome.as_str() {
                "accepted" => counts.0 += 1,
                "duplicate" => counts.1 += 1,
                other => panic!("unexpected outcome {other}"),
            }
        }
    }
    assert_eq!(answers.len(), N_ALERTS, "one event id per alert");
    let n_clients = GROUP * N_GROUPS;
    for (id, (accepted, duplicate)) in &answers {
        assert_eq!(
            (*accepted, *duplicate),
            (1, n_clients - 1),
            "{id}: answered accepted {accepted} times, duplicate {duplicate} times"
        );
    }
    // Each id is in the history exactly once.
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let events = server.get("/api/v1/event?project=sockshop");
    for event in events["events"].as_array().expect("events") {
        *stored
            .entry(event["id"].as_str().expect("id").to_owned())
            .or_default() += 1;
    }
    for id in answers.keys() {
        assert_eq!(stored.get(id), Some(&1), "{id} stored once");
    }
    let plain: Vec<_> = stored
        .iter()
        .filter(|(id, _)| id.starts_with("plain-"))
        .collect();
    let plain_sent: std::collections::BTreeSet<usize> = (0..N_GROUPS)
        .flat_map(|group| {
            let offset = group * (N_ALERTS / N_GROUPS);
            (0..N_ALERTS)
                .step_by(3)
                .map(move |step| (offset + step) % N_ALERTS)
        })
        .collect();
    assert_eq!(plain.len(), plain_sent.len(), "plain events");
    assert!(
        plain.iter().all(|(_, count)| **count == 1),
        "plain events stored once: {plain:?}"
    );
    // The server is still up and answering.
    let health = server
        .http()
        .get(format!("{endpoint}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .expect("health");
    assert!(health.status().is_success());
}
