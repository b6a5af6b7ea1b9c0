//! `tests/data/events/*.json`: Keptn-shaped CloudEvents (the attributes and data Keptn's
//! events carry, in the attribute order Keptn prints). Each must round-trip byte
//! for byte through [`KeptnEvent`], and keep its meaning through `cloudevents::Event`.

use keptn_core::event::KeptnEvent;

#[test]
fn structured_json_round_trips_byte_for_byte() {
    insta::glob!("../data", "events/*.json", |path| {
        let text = std::fs::read_to_string(path).expect("test data is readable");
        let event = KeptnEvent::from_json(&text).expect("a valid Keptn event");
        assert_eq!(
            event.to_json_pretty(),
            text.trim_end(),
            "round trip of {}",
            path.display()
        );
    });
}

#[test]
fn round_trips_through_the_cloudevents_sdk() {
    insta::glob!("../data", "events/*.json", |path| {
        let text = std::fs::read_to_string(path).expect("test data is readable");
        let event = KeptnEvent::from_json(&text).expect("a valid Keptn event");
        let sdk_event = cloudevents::Event::try_from(&event).expect("converts to the SDK type");
        let back = KeptnEvent::try_from(sdk_event).expect("converts back");
        assert_eq!(back.data, event.data, "data of {}", path.display());
        assert_eq!(back.event_type, event.event_type);
        assert_eq!(back.keptn_context, event.keptn_context);
        assert_eq!(back.triggered_id, event.triggered_id);
        assert_eq!(back.git_commit_id, event.git_commit_id);
        assert_eq!(back.keptn_spec_version, event.keptn_spec_version);
    });
}

#[test]
fn typed_view_of_each_event() {
    insta::glob!("../data", "events/*.json", |path| {
        let text = std::fs::read_to_string(path).expect("test data is readable");
        let event = KeptnEvent::from_json(&text).expect("a valid Keptn event");
        insta::assert_debug_snapshot!((
            &event.event_type,
            event.scope(),
            &event.data.result,
            &event.data.status
        ));
    });
}
