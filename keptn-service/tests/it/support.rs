//! Shipyards, events, fakes of the ports and a way to wait for events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use keptn_core::event::{EventData, EventType, KeptnEvent, SequenceEventKind};
use keptn_core::memory::{MemoryConfigRepo, MemoryStore};
use keptn_core::orchestrator::State;
use keptn_core::ports::{
    AdapterError, ConfigRepo, EvaluationRecord, EventFilter, ProjectRecord, Store,
};
use keptn_service::{Builder, ControlPlane, Registration};
use tokio::sync::broadcast;

pub(crate) const SHIPYARD: &str = "\
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
            - name: test
    - name: staging
      sequences:
        - name: delivery
          triggeredOn:
            - event: dev.delivery.finished
          tasks:
            - name: deployment
            - name: test
            - name: evaluation
            - name: release
    - name: production
      sequences:
        - name: delivery
          triggeredOn:
            - event: staging.delivery.finished
          tasks:
            - name: approval
              properties:
                pass: automatic
                warning: manual
            - name: deployment
            - name: release
";

/// A registration for event patterns.
pub(crate) fn registration(name: &str, patterns: &[&str]) -> Registration {
    Registration::for_events(name, patterns).expect("valid patterns")
}

/// A control plane on fresh in-memory storage.
pub(crate) fn builder() -> (Builder, Arc<MemoryStore>, Arc<MemoryConfigRepo>) {
    let store = Arc::new(MemoryStore::new());
    let config_repo = Arc::new(MemoryConfigRepo::new());
    let builder = ControlPlane::builder()
        .store(Arc::clone(&store) as _)
        .config_repo(Arc::clone(&config_repo) as _);
    (builder, store, config_repo)
}

/// Registers `shipyard` for project `sockshop`.
pub(crate) async fn set_shipyard(control_plane: &ControlPlane, shipyard: &str) {
    let parsed = keptn_core::shipyard::parse(shipyard).expect("a valid shipyard");
    control_plane
        .set_shipyard("sockshop", parsed.shipyard)
        .await
        .expect("the shipyard is set");
}

/// `sh.keptn.event.<stage>.<sequence>.triggered` for sockshop/carts.
pub(crate) fn sequence_trigger(stage: &str, sequence: &str) -> KeptnEvent {
    let event_type =
        EventType::sequence(stage, sequence, SequenceEventKind::Triggered).expect("a valid type");
    let mut data = EventData::scoped("sockshop", stage, "carts");
    data.fields.insert(
        "configurationChange".to_owned(),
        serde_json::json!({"values": {"image": "docker.io/keptnexamples/carts:0.9.1"}}),
    );
    KeptnEvent::new("", "test", event_type, data)
}

/// Waits for the first committed event `wanted` accepts, failing after 10 s.
pub(crate) async fn wait_for(
    events: &mut broadcast::Receiver<Arc<KeptnEvent>>,
    wanted: impl Fn(&KeptnEvent) -> bool,
) -> Arc<KeptnEvent> {
    let waiting = async {
        loop {
            match events.recv().await {
                Ok(event) if wanted(&event) => return event,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the control plane stopped"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the event came within 10 s")
}

/// Whether `event` is `sh.keptn.event.<stage>.delivery.finished`.
pub(crate) fn delivery_finished(stage: &str) -> impl Fn(&KeptnEvent) -> bool {
    let wanted = format!("sh.keptn.event.{stage}.delivery.finished");
    move |event| event.event_type.to_string() == wanted
}

/// Every event type of the store's history, in order.
pub(crate) async fn history(store: &dyn Store) -> Vec<String> {
    store
        .events(&EventFilter::default())
        .await
        .expect("the history")
        .iter()
        .map(|event| event.event_type.to_string())
        .collect()
}

/// A store that fails every commit from the `fail_from`-th on (0-based), and otherwise is a
/// [`MemoryStore`].
pub(crate) struct FailingStore {
    pub(crate) inner: MemoryStore,
    pub(crate) fail_from: usize,
    pub(crate) commits: Mutex<usize>,
}

#[async_trait]
impl Store for FailingStore {
    async fn load_state(&self) -> Result<Option<State>, AdapterError> {
        self.inner.load_state().await
    }
    async fn unprocessed(&self) -> Result<Vec<KeptnEvent>, AdapterError> {
        self.inner.unprocessed().await
    }
    async fn commit(
        &self,
        state: &State,
        accepted: &[KeptnEvent],
        processed: &[String],
        emitted: &[KeptnEvent],
    ) -> Result<(), AdapterError> {
        let n_commits = {
            let mut commits = self.commits.lock().expect("not poisoned");
            *commits += 1;
            *commits - 1
        };
        if n_commits >= self.fail_from {
            return Err(AdapterError::new(
                keptn_core::ports::AdapterErrorKind::Unavailable,
                "the disk is full",
            ));
        }
        self.inner.commit(state, accepted, processed, emitted).await
    }
    async fn known_ids(&self, ids: &[String]) -> Result<Vec<bool>, AdapterError> {
        self.inner.known_ids(ids).await
    }
    async fn unpublished(&self) -> Result<Vec<KeptnEvent>, AdapterError> {
        self.inner.unpublished().await
    }
    async fn mark_published(&self, ids: &[String]) -> Result<(), AdapterError> {
        self.inner.mark_published(ids).await
    }
    async fn events(&self, filter: &EventFilter) -> Result<Vec<KeptnEvent>, AdapterError> {
        self.inner.events(filter).await
    }
    async fn create_project(&self, project: &ProjectRecord) -> Result<(), AdapterError> {
        self.inner.create_project(project).await
    }
    async fn delete_project(&self, name: &str) -> Result<(), AdapterError> {
        self.inner.delete_project(name).await
    }
    async fn projects(&self) -> Result<Vec<ProjectRecord>, AdapterError> {
        self.inner.projects().await
    }
    async fn create_service(&self, project: &str, service: &str) -> Result<(), AdapterError> {
        self.inner.create_service(project, service).await
    }
    async fn record_evaluation(&self, evaluation: &EvaluationRecord) -> Result<(), AdapterError> {
        self.inner.record_evaluation(evaluation).await
    }
    async fn evaluations(
        &self,
        project: &str,
        stage: &str,
        service: &str,
        limit: usize,
    ) -> Result<Vec<EvaluationRecord>, AdapterError> {
        self.inner.evaluations(project, stage, service, limit).await
    }
}

/// Writes `files` (path → text) for sockshop's `stage`/carts.
pub(crate) async fn write_files(
    config_repo: &dyn ConfigRepo,
    stage: &str,
    files: &BTreeMap<&str, &str>,
) {
    for (path, text) in files {
        config_repo
            .write(
                "sockshop",
                Some(stage),
                Some("carts"),
                path,
                text.as_bytes(),
            )
            .await
            .expect("written");
    }
}
