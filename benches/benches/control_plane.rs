//! The control plane of keptn-service, in process, on the in-memory store: what orchestration
//! costs an embedder before any durable write. Run:
//! `cargo bench -p keptn-benches --bench control_plane`.
//!
//! - `delivery_3_stages`: one delivery of the example sockshop shipyard from its trigger to
//!   `production.delivery.finished` (9 tasks, 33 events), every task answered by `noop` and
//!   the approval by Keptn's approval rules, on a fresh control plane (started outside the
//!   timed part), so that what earlier deliveries left behind does not count.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keptn_core::event::{EventData, EventType, KeptnEvent, SequenceEventKind};
use keptn_core::memory::{MemoryConfigRepo, MemoryStore};
use keptn_service::integrations::{Approval, Noop};
use keptn_service::{ControlPlane, Registration};

const SOCKSHOP_SHIPYARD: &str = include_str!("../../examples/sockshop/shipyard.yaml");

async fn control_plane() -> ControlPlane {
    let registration = |name: &str, events: &[&str]| {
        Registration::for_events(name, events).expect("valid patterns")
    };
    let control_plane = ControlPlane::builder()
        .store(Arc::new(MemoryStore::new()))
        .config_repo(Arc::new(MemoryConfigRepo::new()))
        .integration(Arc::new(Noop::new(registration(
            "noop",
            &[
                "sh.keptn.event.deployment.triggered",
                "sh.keptn.event.test.triggered",
                "sh.keptn.event.evaluation.triggered",
                "sh.keptn.event.release.triggered",
            ],
        ))))
        .integration(Arc::new(Approval::new(registration(
            "approval-service",
            &["sh.keptn.event.approval.triggered"],
        ))))
        .start()
        .await
        .expect("starts");
    let shipyard = keptn_core::shipyard::parse(SOCKSHOP_SHIPYARD).expect("valid shipyard");
    control_plane
        .set_shipyard("sockshop", shipyard.shipyard)
        .await
        .expect("set");
    control_plane
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    c.bench_function("control_plane/delivery_3_stages", |b| {
        b.iter_batched(
            || runtime.block_on(control_plane()),
            |control_plane| {
                runtime.block_on(async {
                    let mut events = control_plane.subscribe();
                    let event_type =
                        EventType::sequence("dev", "delivery", SequenceEventKind::Triggered)
                            .expect("valid");
                    let data = EventData::scoped("sockshop", "dev", "carts");
                    control_plane
                        .accept(KeptnEvent::new("", "bench", event_type, data))
                        .await
                        .expect("accepted");
                    loop {
                        let event = events.recv().await.expect("running");
                        if event.event_type.to_string()
                            == "sh.keptn.event.production.delivery.finished"
                        {
                            break;
                        }
                    }
                    // Stopped while the next control plane is set up.
                    tokio::spawn(async move { control_plane.shutdown().await });
                });
            },
            BatchSize::PerIteration,
        );
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
