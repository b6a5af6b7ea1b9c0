use keptn_core::event::{EventData, EventType, KeptnEvent};
use keptn_core::ports::{AdapterErrorKind, BusSubscriber, EventBus};
use keptn_core::uniform::EventPattern;

use super::InProcessBus;

fn event(id: &str, event_type: &str) -> KeptnEvent {
    let event_type = EventType::parse(event_type).expect("a valid type");
    KeptnEvent::new(id, "test", event_type, EventData::default())
}

fn subscriber(subjects: &[&str]) -> BusSubscriber {
    BusSubscriber {
        group: "test".to_owned(),
        subjects: subjects
            .iter()
            .map(|subject| EventPattern::parse(subject).expect("a valid pattern"))
            .collect(),
    }
}

#[tokio::test]
async fn subscriptions_get_the_matching_events_in_order() {
    let bus = InProcessBus::default();
    let mut deployments = bus
        .subscribe(&subscriber(&["sh.keptn.event.deployment.*"]))
        .await
        .expect("subscribes");
    let mut everything = bus.subscribe(&subscriber(&[])).await.expect("subscribes");
    bus.publish(&[
        event("1", "sh.keptn.event.deployment.triggered"),
        event("2", "sh.keptn.event.test.triggered"),
        event("3", "sh.keptn.event.deployment.finished"),
    ])
    .await
    .expect("publishes");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let delivery = deployments.next().await.expect("receives").expect("open");
        ids.push(delivery.event.id.clone());
        delivery.ack().await.expect("nothing to acknowledge");
    }
    assert_eq!(ids, ["1", "3"]);
    let mut all = Vec::new();
    for _ in 0..3 {
        all.push(
            everything
                .next()
                .await
                .expect("receives")
                .expect("open")
                .event
                .id,
        );
    }
    assert_eq!(all, ["1", "2", "3"]);
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_how_many_it_missed() {
    let bus = InProcessBus::new(2);
    let mut subscription = bus.subscribe(&subscriber(&[])).await.expect("subscribes");
    let events: Vec<KeptnEvent> = (0..5)
        .map(|n| event(&n.to_string(), "sh.keptn.event.test.triggered"))
        .collect();
    bus.publish(&events).await.expect("publishes");
    let missed = subscription.next().await.expect_err("fell behind");
    assert_eq!(missed.kind, AdapterErrorKind::Unavailable);
    assert!(missed.message.contains("missed 3 events"), "{missed}");
    // It goes on with what is still there.
    let next = subscription.next().await.expect("receives").expect("open");
    assert_eq!(next.event.id, "3");
}
