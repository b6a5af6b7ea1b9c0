//! A custom controller that embeds the keptn-rs control plane: in-memory storage, Keptn's
//! approval-service and lighthouse-service, a stand-in for tests and releases, and a deployer
//! of its own that prints the image it is asked to deploy. It delivers carts 0.9.1 through the
//! sockshop shipyard (dev, staging, production) and prints every event in commit order.
//!
//! Run it with `cargo run -p keptn-example-embed`; it exits 0 when production's delivery
//! passed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keptn_core::answer::{finished, started};
use keptn_core::event::{EventData, EventType, KeptnEvent, SequenceEventKind, TaskResult};
use keptn_core::memory::{MemoryConfigRepo, MemoryStore};
use keptn_service::integrations::{Approval, Lighthouse, Noop};
use keptn_service::{Context, ControlPlane, Error, Integration, Registration};

/// The deployer of this controller: it would call the platform's API; here it prints.
struct PrintingDeployer {
    registration: Registration,
}

#[async_trait]
impl Integration for PrintingDeployer {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, trigger: &KeptnEvent, context: &Context) -> Result<(), Error> {
        let name = &self.registration.name;
        context
            .emit_some([started(trigger, name, context.now())])
            .await?;
        let image = trigger.data.fields["configurationChange"]["values"]["image"].clone();
        let stage = trigger.data.stage.clone().unwrap_or_default();
        println!("    [{name}] deploying {image} to {stage}");
        let message = Some(format!("deployed {image}"));
        let done = finished(trigger, name, TaskResult::Pass, message, context.now());
        context.emit_some([done]).await?;
        Ok(())
    }
}

fn registration(name: &str, events: &[&str]) -> Registration {
    Registration::for_events(name, events).expect("the patterns are valid")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::builder()
        .store(Arc::new(MemoryStore::new()))
        .config_repo(Arc::new(MemoryConfigRepo::new()))
        .integration(Arc::new(PrintingDeployer {
            registration: registration(
                "printing-deployer",
                &["sh.keptn.event.deployment.triggered"],
            ),
        }))
        .integration(Arc::new(Approval::new(registration(
            "approval-service",
            &["sh.keptn.event.approval.triggered"],
        ))))
        .integration(Arc::new(Lighthouse::new(registration(
            "lighthouse-service",
            &[
                "sh.keptn.event.evaluation.triggered",
                "sh.keptn.event.get-sli.finished",
            ],
        ))))
        .integration(Arc::new(Noop::new(registration(
            "stand-in",
            &[
                "sh.keptn.event.test.triggered",
                "sh.keptn.event.release.triggered",
            ],
        ))))
        .start()
        .await?;

    let shipyard = keptn_core::shipyard::parse(include_str!("../../sockshop/shipyard.yaml"))?;
    control_plane
        .set_shipyard("sockshop", shipyard.shipyard)
        .await?;

    let mut events = control_plane.subscribe();
    let event_type = EventType::sequence("dev", "delivery", SequenceEventKind::Triggered)?;
    let mut data = EventData::scoped("sockshop", "dev", "carts");
    data.fields.insert(
        "configurationChange".to_owned(),
        serde_json::json!({"values": {"image": "docker.io/keptnexamples/carts:0.9.1"}}),
    );
    control_plane
        .accept(KeptnEvent::new("", "embed-example", event_type, data))
        .await?;

    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = events.recv().await?;
            let event_type = event.event_type.to_string();
            let result = match &event.data.result {
                Some(result) if event_type.ends_with(".finished") => result.as_str(),
                _ => "",
            };
            println!("{event_type:<48} {result}");
            if event_type == "sh.keptn.event.production.delivery.finished" {
                return Ok::<_, tokio::sync::broadcast::error::RecvError>(
                    event.data.result.clone(),
                );
            }
        }
    })
    .await??;
    control_plane.shutdown().await?;
    match outcome {
        Some(TaskResult::Pass) => Ok(()),
        other => Err(format!("production's delivery ended with {other:?}").into()),
    }
}
