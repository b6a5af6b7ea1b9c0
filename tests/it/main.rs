//! The control plane of keptn-service on keptn-adapters' SQLite store and git configuration
//! repository, embedded as a custom controller embeds it (no binary, no HTTP).

use std::sync::Arc;
use std::time::Duration;

use keptn_adapters::git::{self, Git};
use keptn_adapters::sqlite::{self, Sqlite};
use keptn_core::event::{EventData, EventType, KeptnEvent, SequenceEventKind, TaskResult};
use keptn_core::ports::{AdapterError, ConfigRepo, EventFilter, SliProvider, SliRequest, Store};
use keptn_service::integrations::{Approval, GetSli, Lighthouse, Noop};
use keptn_service::{ControlPlane, Integration, Registration};
use keptn_slo::SliValue;

const SHIPYARD: &str = "\
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata:
  name: shipyard-sockshop
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: evaluation
    - name: production
      sequences:
        - name: delivery
          triggeredOn:
            - event: dev.delivery.finished
          tasks:
            - name: approval
              properties:
                pass: automatic
            - name: deployment
";

/// An SLI provider whose service always answers in 100 ms.
struct FixedSli;

#[async_trait::async_trait]
impl SliProvider for FixedSli {
    async fn get_slis(&self, request: &SliRequest) -> Result<Vec<SliValue>, AdapterError> {
        Ok(request
            .indicators
            .iter()
            .map(|indicator| SliValue::new(indicator.as_str(), 100.0))
            .collect())
    }
}

fn registration(name: &str, events: &[&str]) -> Registration {
    Registration::for_events(name, events).expect("valid patterns")
}

fn integrations(with_deployer: bool) -> Vec<Arc<dyn Integration>> {
    let mut integrations: Vec<Arc<dyn Integration>> = vec![
        Arc::new(Approval::new(registration(
            "approval-service",
            &["sh.keptn.event.approval.triggered"],
        ))),
        Arc::new(Lighthouse::new(registration(
            "lighthouse-service",
            &[
                "sh.keptn.event.evaluation.triggered",
                "sh.keptn.event.get-sli.finished",
            ],
        ))),
    ];
    if with_deployer {
        integrations.push(Arc::new(GetSli::new(
            registration("sli-provider", &["sh.keptn.event.get-sli.triggered"]),
            Arc::new(FixedSli),
        )));
        integrations.push(Arc::new(Noop::new(registration(
            "deployer",
            &["sh.keptn.event.deployment.triggered"],
        ))));
    }
    integrations
}

async fn open(dir: &tempfile::TempDir) -> (Arc<dyn Store>, Arc<dyn ConfigRepo>) {
    let store = Sqlite::open(
        sqlite::Config::new(dir.path().join("keptn.db"))
            .validate()
            .expect("a valid path"),
    )
    .await
    .expect("the database opens");
    let config_repo = Git::new(
        git::Config::new(dir.path().join("config"))
            .validate()
            .expect("a valid directory"),
    )
    .await
    .expect("git runs");
    (Arc::new(store), Arc::new(config_repo))
}

async fn wait_for_production(
    mut events: tokio::sync::broadcast::Receiver<Arc<KeptnEvent>>,
) -> Arc<KeptnEvent> {
    let waiting = async {
        loop {
            let event = events.recv().await.expect("the control plane runs");
            if event.event_type.to_string() == "sh.keptn.event.production.delivery.finished" {
                return event;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("production's delivery finished within 60 s")
}

#[tokio::test]
async fn an_embedded_control_plane_on_sqlite_and_git_resumes_a_delivery_after_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (store, config_repo) = open(&dir).await;
    // The SLO lives in the git repository, where the lighthouse reads it.
    config_repo
        .write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "slo.yaml",
            b"spec_version: '1.0'\nobjectives:\n  - sli: response_time_p95\n    pass:\n      - criteria: ['<600']\ntotal_score: {pass: '90%', warning: '75%'}\n",
        )
        .await
        .expect("the SLO is committed");
    // First life: no deployer, so the delivery waits at its first task.
    let first = ControlPlane::builder()
        .store(Arc::clone(&store))
        .config_repo(Arc::clone(&config_repo))
        .integrations(integrations(false))
        .start()
        .await
        .expect("starts");
    let shipyard = keptn_core::shipyard::parse(SHIPYARD).expect("a valid shipyard");
    first
        .set_shipyard("sockshop", shipyard.shipyard)
        .await
        .expect("the shipyard is set");
    let event_type =
        EventType::sequence("dev", "delivery", SequenceEventKind::Triggered).expect("a valid type");
    let trigger = KeptnEvent::new(
        "",
        "scenario",
        event_type,
        EventData::scoped("sockshop", "dev", "carts"),
    );
    first.accept(trigger).await.expect("accepted");
    first.shutdown().await.expect("stops");
    drop(first);

    // Second life on a fresh connection to the same files, with a deployer: the open
    // deployment is delivered again and the delivery reaches production.
    let (store, config_repo) = open(&dir).await;
    let builder = ControlPlane::builder()
        .store(Arc::clone(&store))
        .config_repo(config_repo)
        .integrations(integrations(true));
    // Subscribed before the start: the delivery may go on while `start` recovers.
    let events = builder.subscribe();
    let second = builder.start().await.expect("restarts");
    let finished = wait_for_production(events).await;
    assert_eq!(finished.data.result, Some(TaskResult::Pass));
    second.shutdown().await.expect("stops");

    let history = store
        .events(&EventFilter::default())
        .await
        .expect("the history");
    let count = |event_type: &str| {
        history
            .iter()
            .filter(|event| event.event_type.to_string() == event_type)
            .count()
    };
    assert_eq!(
        count("sh.keptn.event.deployment.triggered"),
        2,
        "one per stage"
    );
    assert_eq!(count("sh.keptn.event.deployment.finished"), 2);
    assert_eq!(count("sh.keptn.event.evaluation.finished"), 1);
    let evaluations = store
        .evaluations("sockshop", "dev", "carts", 0)
        .await
        .expect("evaluations");
    assert_eq!(
        evaluations.len(),
        1,
        "the lighthouse recorded its evaluation"
    );
    assert!(store.unpublished().await.expect("outbox").is_empty());
    let state = store.load_state().await.expect("state").expect("saved");
    assert!(state.executions.is_empty(), "nothing left running");
}
