//! The Prometheus SLI provider against the real `prometheus` binary (Debian package
//! `prometheus`), started on a free loopback port with a temporary data directory, scraping a
//! target this test serves itself every second.
//!
//! The target counts 10 requests per scrape: 9 answered with code 200 in 40 ms and 1 with
//! code 500 in 400 ms, as a counter and a histogram in the shape of the sockshop tutorial's
//! metrics. Rates and quantiles over the window then have exact expected values: error rate
//! 0.1, mean 76 ms, p50 27.8 ms and p95 375 ms (linear interpolation inside the buckets), and
//! a throughput of about 10 per second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use keptn_adapters::prometheus::{Config, Prometheus, SliConfig};
use keptn_core::event::Timestamp;
use keptn_core::ports::{Scope, SliProvider, SliRequest};

/// The scrape job, named the way Keptn's prometheus-service named them.
const JOB: &str = "carts-sockshop-staging-canary";

const SLI_YAML: &str = r#"---
spec_version: '1.0'
indicators:
  throughput: sum(rate(http_requests_total{job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT",handler="$handler"}[$DURATION_SECONDS]))
  error_rate: sum(rate(http_requests_total{job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT",code=~"5.."}[$DURATION_SECONDS])) / sum(rate(http_requests_total{job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS]))
  response_time_p50: histogram_quantile(0.5, sum by(le) (rate(http_response_time_milliseconds_bucket{handler="$handler",job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS])))
  response_time_p90: histogram_quantile(0.9, sum by(le) (rate(http_response_time_milliseconds_bucket{handler="$handler",job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS])))
  response_time_p95: histogram_quantile(0.95, sum by(le) (rate(http_response_time_milliseconds_bucket{handler="$handler",job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS])))
  response_time_avg: sum(rate(http_response_time_milliseconds_sum{job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS])) / sum(rate(http_response_time_milliseconds_count{job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS]))
  requests_scalar: scalar(sum(max_over_time(http_requests_total{job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS])))
  per_code: sum by(code) (rate(http_requests_total{job="$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT"}[$DURATION_SECONDS]))
  not_scraped: sum(rate(http_requests_total{job="no-such-job"}[$DURATION_SECONDS]))
  bad_syntax: sum(rate(http_requests_total{job="$SERVICE"}[$DURATION_SECONDS])
"#;

/// Bucket upper bounds of the histogram, in milliseconds.
const BUCKETS: [&str; 6] = ["50", "100", "250", "500", "1000", "+Inf"];

/// Scrapes so far; every scrape adds 10 requests.
#[derive(Default)]
struct Target {
    n_scrapes: AtomicU64,
}

async fn metrics(State(target): State<Arc<Target>>) -> String {
    let n = target.n_scrapes.fetch_add(1, Ordering::SeqCst) + 1;
    let handler = r#"handler="ItemsController.addToCart""#;
    let mut res = String::new();
    res.push_str(
        "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n",
    );
    res.push_str(&format!(
        "http_requests_total{{{handler},code=\"200\"}} {}\n",
        9 * n
    ));
    res.push_str(&format!(
        "http_requests_total{{{handler},code=\"500\"}} {n}\n"
    ));
    res.push_str("# HELP http_response_time_milliseconds Response time.\n");
    res.push_str("# TYPE http_response_time_milliseconds histogram\n");
    for bucket in BUCKETS {
        // 9 requests of 40 ms and 1 of 400 ms per scrape.
        let count = if matches!(bucket, "50" | "100" | "250") {
            9 * n
        } else {
            10 * n
        };
        res.push_str(&format!(
            "http_response_time_milliseconds_bucket{{{handler},le=\"{bucket}\"}} {count}\n"
        ));
    }
    res.push_str(&format!(
        "http_response_time_milliseconds_sum{{{handler}}} {}\n",
        760 * n
    ));
    res.push_str(&format!(
        "http_response_time_milliseconds_count{{{handler}}} {}\n",
        10 * n
    ));
    res
}

/// The running Prometheus; killed (and reaped) on drop.
struct PrometheusProcess {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrometheusProcess {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The `prometheus` executable: `$PROMETHEUS_BIN`, else the first on `PATH`.
fn find_prometheus() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("PROMETHEUS_BIN") {
        return Some(PathBuf::from(explicit));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

/// The binary, or `None` when the test should skip (never under `CI=true`).
fn prometheus_or_skip() -> Option<PathBuf> {
    match find_prometheus() {
        Some(binary) => Some(binary),
        None if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "the real-tool test needs the 'prometheus' binary and CI=true forbids skipping: \
             install it with 'apt-get install -y --no-install-recommends prometheus' \
             or set PROMETHEUS_BIN"
        ),
        None => {
            eprintln!(
                "SKIPPED prometheus real-tool test: no 'prometheus' on PATH \
                 (apt-get install prometheus, or set PROMETHEUS_BIN); under CI=true this fails"
            );
            None
        }
    }
}

pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
    listener
        .local_addr()
        .expect("a bound listener has an address")
        .port()
}

fn start_prometheus(binary: &Path, dir: &Path, target: &str) -> PrometheusProcess {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("the temp dir is writable");
    let port = free_port();
    let log = dir.join("prometheus.log");
    let log_file = std::fs::File::create(&log).expect("the temp dir is writable");
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--storage.tsdb.retention.time=1h")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("a log file handle"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start '{}': {error}", binary.display()));
    PrometheusProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    }
}

fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    Timestamp(u64::try_from(millis).expect("milliseconds fit in u64"))
}

fn request(indicators: &[&str], start: Timestamp, end: Timestamp) -> SliRequest {
    SliRequest {
        scope: Scope {
            project: "sockshop".into(),
            stage: "staging".into(),
            service: "carts".into(),
        },
        indicators: indicators.iter().map(|name| (*name).to_owned()).collect(),
        start,
        end,
        custom_filters: BTreeMap::from([(
            "handler".to_owned(),
            "ItemsController.addToCart".to_owned(),
        )]),
        deployment: "canary".into(),
        labels: BTreeMap::new(),
    }
}

/// Polls `check` every 100 ms until it holds, failing with Prometheus's log after `limit`.
async fn wait_until<F, Fut>(what: &str, process: &PrometheusProcess, limit: Duration, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "prometheus: {what} not reached within {limit:?}; its log:\n{}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_near(name: &str, actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{name}: {actual} is not within {tolerance} of {expected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slis_from_a_real_prometheus() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    eprintln!("real tool: {} ({version})", binary.display());

    let target = Arc::new(Target::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let target_addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(Arc::clone(&target));
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the scrape target serves until aborted");
    });

    let dir = tempfile::tempdir().expect("a temporary directory");
    let process = start_prometheus(&binary, dir.path(), &target_addr.to_string());
    let http = reqwest::Client::new();
    let ready_url = format!("{}/-/ready", process.url);
    wait_until("readiness", &process, Duration::from_secs(30), || async {
        http.get(&ready_url)
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    })
    .await;

    let prometheus = Prometheus::new(
        Config::new(&process.url)
            .validate()
            .expect("the test config is valid"),
    )
    .expect("the http client builds");
    // Wait for 6 scrapes, then evaluate the last 5 seconds: every window holds samples.
    let scraped = SliConfig::from_indicators([(
        "n_scrapes",
        format!("scalar(count_over_time(up{{job=\"{JOB}\"}}[1m]))"),
    )]);
    wait_until(
        "6 scrapes of the target",
        &process,
        Duration::from_secs(30),
        || async {
            let end = now();
            prometheus
                .get_slis_for(&scraped, &request(&["n_scrapes"], end, end))
                .await
                .is_ok_and(|values| values[0].success && values[0].value >= 6.0)
        },
    )
    .await;

    let (sli, warnings) = SliConfig::parse(SLI_YAML).expect("the test sli.yaml is valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let prometheus = prometheus.with_sli(sli.clone());
    let end = now();
    let start = Timestamp(end.0 - 5_000);
    let indicators = [
        "throughput",
        "error_rate",
        "response_time_p50",
        "response_time_p90",
        "response_time_p95",
        "response_time_avg",
        "requests_scalar",
        "per_code",
        "not_scraped",
        "bad_syntax",
        "undefined",
    ];
    let values = SliProvider::get_slis(&prometheus, &request(&indicators, start, end))
        .await
        .expect("a valid request");
    let by_name: BTreeMap<&str, &keptn_slo::SliValue> =
        values.iter().map(|value| (&*value.metric, value)).collect();
    let names: Vec<&str> = values.iter().map(|value| &*value.metric).collect();
    assert_eq!(names, indicators);
    eprintln!("values: {values:#?}");
    for name in &indicators[..7] {
        assert!(by_name[name].success, "{name}: {:?}", by_name[name]);
    }
    assert_near("throughput", by_name["throughput"].value, 10.0, 3.0);
    assert_near("error_rate", by_name["error_rate"].value, 0.1, 1e-9);
    assert_near(
        "p50",
        by_name["response_time_p50"].value,
        50.0 * 0.5 / 0.9,
        1e-6,
    );
    // p90 sits exactly at the 9/10 edge: the top of the 50 ms bucket.
    assert_near("p90", by_name["response_time_p90"].value, 50.0, 1e-6);
    assert_near("p95", by_name["response_time_p95"].value, 375.0, 1e-6);
    assert_near("avg", by_name["response_time_avg"].value, 76.0, 1e-6);
    let n_scrapes = target.n_scrapes.load(Ordering::SeqCst) as f64;
    let total = by_name["requests_scalar"].value;
    assert!(
        total >= 60.0 && total <= 10.0 * n_scrapes && total % 10.0 == 0.0,
        "requests_scalar: {total} after {n_scrapes} scrapes"
    );
    assert!(!by_name["per_code"].success);
    assert!(
        by_name["per_code"].message.contains("returned 2 samples"),
        "{:?}",
        by_name["per_code"]
    );
    assert!(!by_name["not_scraped"].success);
    assert!(
        by_name["not_scraped"].message.starts_with("no data"),
        "{:?}",
        by_name["not_scraped"]
    );
    assert!(!by_name["bad_syntax"].success);
    assert!(
        by_name["bad_syntax"]
            .message
            .contains("(http 400, bad_data)"),
        "{:?}",
        by_name["bad_syntax"]
    );
    assert!(!by_name["undefined"].success);

    measure_concurrency(&prometheus, &sli, end).await;

    drop(process);
    server.abort();
}

/// 10 SLIs in one request against the slowest of them alone; prints the figures (run with
/// `--release -- --nocapture` to read them). Against a local Prometheus on few cores the
/// queries are CPU-bound and take well under a millisecond, so the ≤ 1.5× target is reported,
/// not asserted: the unit tests assert concurrency where latency dominates (a fake answering
/// in 200 ms). Asserted here only: the concurrent path is not much slower than one by one.
async fn measure_concurrency(prometheus: &Prometheus, sli: &SliConfig, end: Timestamp) {
    const ROUNDS: usize = 7;
    let ten = [
        "throughput",
        "error_rate",
        "response_time_p50",
        "response_time_p90",
        "response_time_p95",
        "response_time_avg",
        "requests_scalar",
        "throughput",
        "error_rate",
        "response_time_p95",
    ];
    let start = Timestamp(end.0 - 5_000);
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let mut slowest_single = Duration::ZERO;
    let mut sum_single = Duration::ZERO;
    for indicator in &ten[..7] {
        let mut samples = Vec::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let values = prometheus
                .get_slis_for(sli, &request(&[indicator], start, end))
                .await
                .expect("a valid request");
            samples.push(started.elapsed());
            assert!(values[0].success, "{values:?}");
        }
        let single = median(samples);
        sum_single += single;
        slowest_single = slowest_single.max(single);
    }
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let values = prometheus
            .get_slis_for(sli, &request(&ten, start, end))
            .await
            .expect("a valid request");
        samples.push(started.elapsed());
        assert!(values.iter().all(|value| value.success), "{values:?}");
    }
    let all_ten = median(samples);
    let ratio = all_ten.as_secs_f64() / slowest_single.as_secs_f64();
    // Seven distinct queries were timed alone; the ten repeat three of them.
    let one_by_one = sum_single * 10 / 7;
    eprintln!(
        "measure: 10 SLIs in one request {all_ten:?} (median of {ROUNDS}); slowest single query \
         {slowest_single:?}; ratio {ratio:.2} (target <= 1.5); one by one about {one_by_one:?}"
    );
    assert!(
        all_ten < one_by_one * 3 / 2,
        "10 SLIs at once ({all_ten:?}) are much slower than one by one ({one_by_one:?})"
    );
}
