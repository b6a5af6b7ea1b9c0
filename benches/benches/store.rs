//! Store benchmark: the durable part of one orchestration step on the SQLite store. Run:
//! `cargo bench -p keptn-benches --bench store` (set `KEPTN_BENCH_DIR` to measure another
//! disk; the default is a temporary directory). Target: ≤ 1 ms per task.
//!
//! Not criterion: each sample is one fsynced transaction, so the figure of interest is the
//! distribution over many calls on a real file. It prints the median, p90 and p99 of
//!
//! - `commit`: save a small state (the sockshop shipyard with one running sequence), record
//!   one new incoming event as accepted and processed, and record two emitted events, in one
//!   transaction, 1,000 times;
//! - `step`: `commit` + `mark_published`, the store calls the service makes for one incoming
//!   event (it commits the event with its transition, then publishes), 1,000 times.

use std::time::{Duration, Instant};

use keptn_adapters::sqlite::{Config, Sqlite};
use keptn_core::event::{EventData, EventType, KeptnEvent, Timestamp};
use keptn_core::orchestrator::{self, Input, Orchestrator, State};
use keptn_core::ports::Store;

const SOCKSHOP_SHIPYARD: &str = include_str!("../../examples/sockshop/shipyard.yaml");
const N_CALLS: usize = 1_000;

fn event(id: &str, event_type: &str) -> KeptnEvent {
    let event_type = EventType::parse(event_type).expect("the bench event type is valid");
    let mut event = KeptnEvent::new(
        id,
        "bench",
        event_type,
        EventData::scoped("sockshop", "dev", "carts"),
    );
    event.keptn_context = Some("2f1d4c7e-8b1a-4a8e-9d35-6a3f1a2b3c4d".to_owned());
    event.time = Some("2026-11-22T12:00:00.000Z".to_owned());
    event
}

fn small_state() -> State {
    let shipyard = keptn_core::shipyard::parse(SOCKSHOP_SHIPYARD)
        .expect("the sockshop shipyard parses")
        .shipyard;
    let mut orchestrator = Orchestrator::new(orchestrator::Config::default());
    orchestrator.handle(
        Timestamp(0),
        Input::SetShipyard {
            project: "sockshop".into(),
            shipyard,
        },
    );
    orchestrator.handle(
        Timestamp(1_000),
        Input::Event(event("t0", "sh.keptn.event.dev.delivery.triggered")),
    );
    orchestrator.state
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |quantile: f64| {
        let idx = ((samples.len() - 1) as f64 * quantile).round() as usize;
        samples[idx]
    };
    println!(
        "{name:<18} n={} median={:?} p90={:?} p99={:?} max={:?}",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

async fn run() {
    let temp_dir = match std::env::var_os("KEPTN_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let path = temp_dir.path().join("keptn.db");
    let store = Sqlite::open(Config::new(&path).validate().expect("valid"))
        .await
        .expect("the database opens");
    let state = small_state();
    let state_bytes = serde_json::to_string(&state).expect("encodes").len();
    println!(
        "database {} (state {state_bytes} bytes as JSON)",
        path.display()
    );

    let mut commit_samples = Vec::with_capacity(N_CALLS);
    for call_idx in 0..N_CALLS {
        let input = event(
            &format!("in-{call_idx}"),
            "sh.keptn.event.deployment.finished",
        );
        let emitted = [
            event(
                &format!("out-{call_idx}-a"),
                "sh.keptn.event.test.triggered",
            ),
            event(
                &format!("out-{call_idx}-b"),
                "sh.keptn.event.dev.delivery.finished",
            ),
        ];
        let started = Instant::now();
        store
            .commit(&state, std::slice::from_ref(&input), &[], &emitted)
            .await
            .expect("commits");
        commit_samples.push(started.elapsed());
    }
    report("commit", commit_samples);

    let mut step_samples = Vec::with_capacity(N_CALLS);
    for call_idx in 0..N_CALLS {
        let input = event(
            &format!("step-in-{call_idx}"),
            "sh.keptn.event.deployment.finished",
        );
        let emitted = [
            event(
                &format!("step-out-{call_idx}-a"),
                "sh.keptn.event.test.triggered",
            ),
            event(
                &format!("step-out-{call_idx}-b"),
                "sh.keptn.event.dev.delivery.finished",
            ),
        ];
        let emitted_ids = [emitted[0].id.clone(), emitted[1].id.clone()];
        let started = Instant::now();
        store
            .commit(&state, std::slice::from_ref(&input), &[], &emitted)
            .await
            .expect("commits");
        store.mark_published(&emitted_ids).await.expect("marks");
        step_samples.push(started.elapsed());
    }
    report("step (2 calls)", step_samples);
    store.close().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and expects a quick
    // run, so only the real invocation measures.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run());
}
