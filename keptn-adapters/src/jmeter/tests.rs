//! Hermetic tests: jmeter.conf.yaml and JTL parsing, the pass/fail rules, target
//! properties, and the runner driven through stub `jmeter`, `javac` and `jar` shell scripts
//! written to a temporary directory (the real JMeter runs in tests/it/jmeter.rs).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keptn_core::Severity;
use keptn_core::ports::{AdapterErrorKind, Scope, TestRequest, TestRunner};

use super::client::{JMeterInvocation, RunFiles, jmeter_args, saveservice_property};
use super::{
    Config, Error, FixFiles, HealthcheckConfig, JMeter, JMeterRunner, Outcome, Run, RunRequest,
    Stats, TargetProperties, Workload, Workloads, judge, last_summary_line, parse_jtl,
    parse_summary,
};

// ---------------------------------------------------------------------------------------
// jmeter.conf.yaml

/// Keptn's quickstart file (keptn/examples quickstart/demo/jmeter/jmeter.conf.yaml).
const QUICKSTART: &str = "---
spec_version: '0.1.0'
workloads:
  - teststrategy: performance
    vuser: 30
    loopcount: 150
    script: jmeter/load.jmx
    acceptederrorrate: 1.0
  - teststrategy: performance_light
    vuser: 50
    loopcount: 50
    script: jmeter/load.jmx
    acceptederrorrate: 1.0
";

fn parse_ok(source: &str) -> (Workloads, Vec<String>) {
    let (workloads, diagnostics) = Workloads::parse(source).expect("the file is valid");
    (
        workloads,
        diagnostics.iter().map(ToString::to_string).collect(),
    )
}

fn parse_err(source: &str) -> Vec<String> {
    match Workloads::parse(source) {
        Err(Error::InvalidWorkloads { diagnostics }) => diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == Severity::Error)
            .map(ToString::to_string)
            .collect(),
        other => panic!("expected InvalidWorkloads, got {other:?}"),
    }
}

#[test]
fn keptn_quickstart_file_parses_with_zero_value_fields() {
    let (workloads, warnings) = parse_ok(QUICKSTART);
    assert!(warnings.is_empty(), "{warnings:?}");
    let performance = workloads.workload("performance").expect("defined");
    assert_eq!(
        performance,
        Workload {
            teststrategy: "performance".into(),
            vuser: 30,
            loopcount: 150,
            // Not in the file: jmeter-service's Go zero values.
            thinktime_ms: 0,
            script: "jmeter/load.jmx".into(),
            accepted_error_rate: 1.0,
            avg_rt_validation_ms: 0,
            properties: BTreeMap::new(),
        }
    );
    assert_eq!(
        workloads.workload("PERFORMANCE_LIGHT").map(|w| w.vuser),
        Some(50)
    );
    // Not in the file: jmeter-service's defaults.
    let healthcheck = workloads.workload("healthcheck").expect("default");
    assert_eq!(healthcheck.script, "jmeter/basiccheck.jmx");
    assert_eq!(healthcheck.accepted_error_rate, 0.0);
    assert_eq!(
        workloads.strategies(),
        [
            "functional",
            "healthcheck",
            "performance",
            "performance_light"
        ]
    );
}

#[test]
fn defaults_are_jmeter_services() {
    let workloads = Workloads::default();
    let summary = |strategy: &str| {
        workloads.workload(strategy).map(|w| {
            (
                w.vuser,
                w.loopcount,
                w.thinktime_ms,
                w.script,
                w.accepted_error_rate,
            )
        })
    };
    assert_eq!(
        summary("healthcheck"),
        Some((1, 1, 250, "jmeter/basiccheck.jmx".into(), 0.0))
    );
    assert_eq!(
        summary("performance"),
        Some((10, 500, 250, "jmeter/load.jmx".into(), 0.1))
    );
    assert_eq!(
        summary("functional"),
        Some((1, 1, 250, "jmeter/load.jmx".into(), 0.1))
    );
    assert_eq!(summary("soak"), None);
    assert!(workloads.defined().is_empty());
}

#[test]
fn full_entry_with_properties() {
    let (workloads, warnings) = parse_ok(
        "spec_version: '0.1.0'
workloads:
  - teststrategy: functional
    vuser: 2
    loopcount: 3
    thinktime: 100
    script: ./jmeter/func.jmx
    acceptederrorrate: 0.5
    avgrtvalidation: 500
    properties:
      CHECK_PATH: /ready
      CART_ID: 7
      FLAG: true
",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let functional = workloads.workload("functional").expect("defined");
    assert!(functional.is_functional());
    assert_eq!(functional.thinktime_ms, 100);
    assert_eq!(functional.avg_rt_validation_ms, 500);
    assert_eq!(functional.script, "./jmeter/func.jmx");
    assert_eq!(
        functional.properties,
        BTreeMap::from([
            ("CART_ID".to_owned(), "7".to_owned()),
            ("CHECK_PATH".to_owned(), "/ready".to_owned()),
            ("FLAG".to_owned(), "true".to_owned()),
        ])
    );
}

#[test]
fn warnings_do_not_reject_the_file() {
    let (workloads, warnings) = parse_ok(
        "workloads:
  - teststrategy: performance
    script: jmeter/a.jmx
    acceptederrorrate: 10
    colour: blue
  - teststrategy: Performance
    script: jmeter/b.jmx
",
    );
    // The first one of a strategy wins, as in jmeter-service.
    assert_eq!(
        workloads.workload("performance").map(|w| w.script),
        Some("jmeter/a.jmx".to_owned())
    );
    assert_eq!(workloads.defined().len(), 1);
    let expected = [
        "4:24: warning: acceptederrorrate '10' is above 1",
        "5:5: warning: unknown workload key 'colour'",
        "6:19: warning: test strategy 'Performance' has a workload already at workloads[0]",
        "1:1: warning: missing spec_version",
    ];
    assert_eq!(warnings.len(), expected.len(), "{warnings:?}");
    for (warning, expected) in warnings.iter().zip(expected) {
        assert!(warning.starts_with(expected), "{warning} vs {expected}");
    }
}

#[test]
fn errors_are_located_and_all_reported() {
    let errors = parse_err(
        "spec_version: '0.1.0'
workloads:
  - teststrategy: performance
    vuser: -1
    loopcount: 0
    script: /etc/passwd
  - vuser: 2
  - teststrategy: functional
    script: jmeter/../../secret.jmx
    acceptederrorrate: lots
    thinktime: 1.5
    properties: { 'a=b': x, ok: [1] }
",
    );
    let expected = [
        "4:12: error: vuser must be a whole number of at least 1, found '-1' (at workloads[0].vuser)",
        "5:16: error: loopcount must be a whole number of at least 1, found '0' (at workloads[0].loopcount)",
        "6:13: error: script '/etc/passwd' must be relative",
        "7:5: error: a workload needs a 'teststrategy' (at workloads[1])",
        "7:5: error: a workload needs a 'script'",
        "9:13: error: script 'jmeter/../../secret.jmx' must not leave the service directory",
        "10:24: error: acceptederrorrate must be a fraction of at least 0 (0.1 accepts 10 %), found 'lots'",
        "11:16: error: thinktime must be a whole number of milliseconds (at least 0), found '1.5'",
        "12:26: error: property name 'a=b' must be non-empty, without '=' or whitespace",
        "12:33: error: property 'ok' must be a string, number or boolean, found a list",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (error, expected) in errors.iter().zip(expected) {
        assert!(error.starts_with(expected), "{error}\n  vs {expected}");
    }
}

#[test]
fn document_level_errors() {
    let cases = [
        ("workloads: [", "not valid yaml"),
        (
            "- a\n- b\n",
            "must be a mapping with 'workloads', found a list",
        ),
        ("spec_version: '0.1.0'\n", "missing 'workloads'"),
        (
            "workloads: 3\n",
            "'workloads' must be a list of workloads, found a number",
        ),
        (
            "workloads:\n  - performance\n",
            "a workload must be a mapping, found a string",
        ),
    ];
    for (source, expected) in cases {
        let errors = parse_err(source);
        assert_eq!(errors.len(), 1, "{source:?}: {errors:?}");
        assert!(errors[0].contains(expected), "{source:?}: {errors:?}");
    }
    let message = Workloads::parse("workloads: 3\n")
        .expect_err("invalid")
        .to_string();
    assert!(
        message.starts_with("invalid jmeter.conf.yaml: 1:12: error: 'workloads' must be a list"),
        "{message}"
    );
}

/// Every finding, errors and warnings, whether the file is accepted or not.
fn parse_all(source: &str) -> Vec<String> {
    let diagnostics = match Workloads::parse(source) {
        Ok((_, diagnostics)) | Err(Error::InvalidWorkloads { diagnostics }) => diagnostics,
        Err(other) => panic!("expected diagnostics, got {other:?}"),
    };
    diagnostics.iter().map(ToString::to_string).collect()
}

#[test]
fn a_key_written_empty_is_not_a_missing_key() {
    // `workloads:` without entries is a file without workloads, not one missing the key.
    let (workloads, warnings) = parse_ok("workloads:\n");
    assert!(workloads.defined().is_empty());
    assert_eq!(
        warnings,
        ["1:1: warning: missing spec_version (expected '0.1.0') (at <root>)"]
    );
    // An empty `vuser` is not the default of 1, and an empty `spec_version` is not missing.
    assert_eq!(
        parse_all(
            "spec_version:\nworkloads:\n  - teststrategy: performance\n    script: jmeter/load.jmx\n    vuser:\n"
        ),
        [
            "1:13: warning: spec_version must be a string like '0.1.0', found nothing (at spec_version)",
            "5:10: error: vuser must be a whole number of at least 1, found nothing (at workloads[0].vuser)",
        ]
    );
}

#[test]
fn findings_come_in_the_order_of_the_file() {
    assert_eq!(
        parse_all(
            "workloads:
  - properties: {ok: [1]}
    colour: blue
    1: x
    thinktime: 1.5
    script: /etc/passwd
    teststrategy: ''
spec_version: 2
"
        ),
        [
            "2:22: error: property 'ok' must be a string, number or boolean, found a list (at workloads[0].properties.ok)",
            "3:5: warning: unknown workload key 'colour' (expected teststrategy, vuser, loopcount, thinktime, script, acceptederrorrate, avgrtvalidation, properties); ignored (at workloads[0].colour)",
            "2:5: error: workload keys must be strings, found a number (at workloads[0])",
            "5:16: error: thinktime must be a whole number of milliseconds (at least 0), found '1.5' (at workloads[0].thinktime)",
            "6:13: error: script '/etc/passwd' must be relative to the service directory (like 'jmeter/load.jmx') (at workloads[0].script)",
            "7:19: error: teststrategy must not be empty (at workloads[0].teststrategy)",
            "8:15: warning: spec_version '2' is not '0.1.0'; reading it as 0.1.0 (at spec_version)",
        ]
    );
}

#[test]
fn yaml_tags_on_unknown_keys_and_on_keys_are_accepted() {
    let (workloads, warnings) = parse_ok(
        "spec_version: '0.1.0'
colour: !paint {shade: !dark blue}
workloads:
  - !strategy teststrategy: performance
    script: jmeter/load.jmx
",
    );
    assert_eq!(workloads.defined().len(), 1);
    assert_eq!(
        warnings,
        [
            "2:1: warning: unknown key 'colour' in jmeter.conf.yaml (expected 'spec_version' and 'workloads'); ignored (at colour)"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// JTL and summary

const HEADER: &str = "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,bytes,grpThreads,allThreads,Latency";

fn jtl(rows: &[&str]) -> String {
    let mut res = format!("{HEADER}\n");
    for row in rows {
        res.push_str(row);
        res.push('\n');
    }
    res
}

fn stats_of(text: &str) -> Stats {
    parse_jtl(Path::new("results.jtl"), text).expect("valid jtl")
}

#[test]
fn jtl_counts_samples_errors_and_times() {
    let text = jtl(&[
        "1795351858435,69,GET /api,200,OK,users 1-1,text,true,159,2,2,69",
        "1795351859737,23,GET /api,Non HTTP response code: java.net.ConnectException,Non HTTP response message: Connection refused,users 1-1,text,false,1973,1,1,0",
        "1795351859800,10,GET /api,200,OK,users 1-2,text,true,159,2,2,10",
    ]);
    let stats = stats_of(&text);
    assert_eq!(stats.samples, 3);
    assert_eq!(stats.errors, 1);
    assert!((stats.avg_ms - 34.0).abs() < 1e-9);
    assert_eq!(stats.avg_whole_ms, 34);
    assert_eq!((stats.min_ms, stats.max_ms), (10, 69));
    assert_eq!((stats.p50_ms, stats.p95_ms), (23, 69));
    assert_eq!(stats.first_sample_ms, 1_795_351_858_435);
    assert_eq!(stats.last_sample_end_ms, 1_795_351_859_810);
    assert_eq!(
        stats.first_failure.as_deref(),
        Some(
            "GET /api: Non HTTP response code: java.net.ConnectException Non HTTP response message: Connection refused"
        )
    );
    assert!((stats.error_rate() - 1.0 / 3.0).abs() < 1e-9);
}

#[test]
fn jtl_quoted_fields_hold_commas_quotes_and_line_breaks() {
    let text = format!(
        "{HEADER},failureMessage\r\n\
         1000,5,\"POST /carts, items\",500,\"Internal \"\"Server\"\" Error\",t 1-1,text,false,10,1,1,5,\"Test failed: code expected\nto be 201\"\r\n\
         1010,7,GET,200,OK,t 1-1,text,true,10,1,1,7,\r\n"
    );
    let stats = stats_of(&text);
    assert_eq!(stats.samples, 2);
    assert_eq!(stats.errors, 1);
    assert_eq!(
        stats.first_failure.as_deref(),
        Some(
            "POST /carts, items: 500 Internal \"Server\" Error Test failed: code expected\nto be 201"
        )
    );
    assert_eq!(stats.avg_whole_ms, 6);
}

#[test]
fn jtl_without_rows_has_no_samples() {
    for text in ["", "\n", &format!("{HEADER}\n")] {
        let stats = stats_of(text);
        assert_eq!((stats.samples, stats.errors), (0, 0), "{text:?}");
    }
}

#[test]
fn jtl_errors_name_file_and_line() {
    let cases = [
        (
            "elapsed,success\n5,true\n".to_owned(),
            "invalid jmeter results file 'results.jtl' at line 1: no 'timeStamp' column",
        ),
        (
            jtl(&["1000,5,GET,200,OK,t,text,true,1,1,1"]),
            "at line 2: 11 fields, but the header has 12 columns",
        ),
        (
            jtl(&[
                "1000,5,GET,200,OK,t,text,true,1,1,1,5",
                "x,5,GET,200,OK,t,text,true,1,1,1,5",
            ]),
            "at line 3: 'timeStamp' must be a whole number, got 'x'",
        ),
        (
            jtl(&["1000,5,GET,200,OK,t,text,yes,1,1,1,5"]),
            "at line 2: 'success' must be 'true' or 'false', got 'yes'",
        ),
        (
            format!("{HEADER}\n1000,5,\"GET,200"),
            "at line 2: a quoted field is not closed",
        ),
    ];
    for (text, expected) in cases {
        let error = parse_jtl(Path::new("results.jtl"), &text).expect_err("invalid");
        assert!(
            error.to_string().contains(expected),
            "{error} vs {expected}"
        );
    }
}

#[test]
fn summary_line_is_the_last_one() {
    let stdout = "Creating summariser <summary>
summary +      1 in   1.4s =    0.7/s Avg:   164 Min:   164 Max:   164 Err:     0 (0.00%) Active: 1 Started: 1 Finished: 0
summary =      6 in     1s =    5.9/s Avg:    41 Min:     5 Max:   104 Err:     2 (33.33%)
Tidying up ...    @ Sun Nov 22 16:16:39 UTC 2026 (1795364199879)
";
    let line = last_summary_line(stdout).expect("present");
    assert!(line.starts_with("summary =      6 in"));
    let summary = parse_summary(line).expect("parses");
    assert_eq!(
        (summary.samples, summary.avg_ms, summary.errors),
        (6, 41, 2)
    );
    assert_eq!(last_summary_line("no summary here"), None);
    assert_eq!(parse_summary("summary + 1 in 1s"), None);
}

// ---------------------------------------------------------------------------------------
// Pass/fail

fn workload(strategy: &str, rate: f64, avg_rt_ms: u64) -> Workload {
    Workload {
        teststrategy: strategy.into(),
        vuser: 1,
        loopcount: 1,
        thinktime_ms: 0,
        script: "jmeter/load.jmx".into(),
        accepted_error_rate: rate,
        avg_rt_validation_ms: avg_rt_ms,
        properties: BTreeMap::new(),
    }
}

fn stats(samples: u64, errors: u64, avg_whole_ms: u64) -> Stats {
    let mut res = stats_of("");
    res.samples = samples;
    res.errors = errors;
    res.avg_whole_ms = avg_whole_ms;
    res.avg_ms = avg_whole_ms as f64 + 0.9;
    res
}

#[test]
fn judge_follows_jmeter_service() {
    // (strategy, acceptederrorrate, avgrtvalidation, samples, errors, avg) -> broken criteria
    type Case = (
        &'static str,
        f64,
        u64,
        u64,
        u64,
        u64,
        &'static [&'static str],
    );
    let cases: [Case; 12] = [
        ("performance", 0.1, 0, 100, 0, 50, &[]),
        ("performance", 0.1, 0, 100, 10, 50, &[]),
        (
            "performance",
            0.1,
            0,
            100,
            11,
            50,
            &["11 of 100 samples failed (11.00 %), more than the accepted error rate of 10.00 %"],
        ),
        // jmeter-service: errors > int(0.1 * 15) = 1.
        ("performance", 0.1, 0, 15, 1, 50, &[]),
        ("performance", 0.1, 0, 15, 2, 50, &["2 of 15"]),
        ("performance", 1.0, 0, 10, 10, 50, &[]),
        ("healthcheck", 0.0, 0, 1, 1, 5, &["1 of 1 samples failed"]),
        (
            "functional",
            0.1,
            0,
            100,
            1,
            50,
            &["a functional test accepts none"],
        ),
        (
            "functional",
            0.0,
            0,
            10,
            1,
            50,
            &[
                "a functional test accepts none",
                "more than the accepted error rate of 0.00 %",
            ],
        ),
        // The whole-millisecond average, as the summary line printed it (500.9 ms passes 500).
        ("performance", 0.1, 500, 10, 0, 500, &[]),
        (
            "performance",
            0.1,
            500,
            10,
            0,
            501,
            &["average response time 501 ms is above avgrtvalidation 500 ms"],
        ),
        ("performance", 0.1, 0, 10, 0, 99_999, &[]),
    ];
    for (strategy, rate, avg_rt, samples, errors, avg, expected) in cases {
        let failures = judge(
            &workload(strategy, rate, avg_rt),
            &stats(samples, errors, avg),
        );
        let case = format!("{strategy} rate {rate} avgrt {avg_rt}: {errors}/{samples} avg {avg}");
        assert_eq!(failures.len(), expected.len(), "{case}: {failures:?}");
        for (failure, expected) in failures.iter().zip(expected) {
            assert!(
                failure.contains(expected),
                "{case}: {failure} vs {expected}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Target properties

#[test]
fn target_properties_from_urls() {
    let cases = [
        (
            "http://carts.sockshop-dev:8080",
            "http",
            "carts.sockshop-dev",
            8080,
            "/health",
        ),
        (
            "http://carts.sockshop-dev:8080/",
            "http",
            "carts.sockshop-dev",
            8080,
            "/health",
        ),
        ("http://carts", "http", "carts", 80, "/health"),
        (
            "https://carts.example.com",
            "https",
            "carts.example.com",
            443,
            "/health",
        ),
        (
            "HTTPS://carts.example.com:8443/api/ready?x=1#top",
            "https",
            "carts.example.com",
            8443,
            "/api/ready",
        ),
        (
            "http://user:pw@127.0.0.1:9/carts",
            "http",
            "127.0.0.1",
            9,
            "/carts",
        ),
        ("http://[::1]:8080/health", "http", "::1", 8080, "/health"),
        ("http://[::1]", "http", "::1", 80, "/health"),
        ("http://host:/x", "http", "host", 80, "/x"),
    ];
    for (url, protocol, host, port, check_path) in cases {
        let properties = TargetProperties::parse(url).expect(url);
        assert_eq!(
            properties,
            TargetProperties {
                protocol: protocol.into(),
                host: host.into(),
                port,
                check_path: check_path.into(),
            },
            "{url}"
        );
    }
    let invalid = [
        ("carts:8080", "expected 'http://host[:port][/path]'"),
        ("ftp://carts", "the scheme must be http or https"),
        ("http://:8080/x", "the url has no host"),
        (
            "http://carts:99999",
            "the port must be a number from 1 to 65535",
        ),
        (
            "http://carts:0",
            "the port must be a number from 1 to 65535",
        ),
        ("http://[::1:80", "an IPv6 host lacks its closing ']'"),
    ];
    for (url, reason) in invalid {
        let error = TargetProperties::parse(url).expect_err(url);
        assert_eq!(
            error.to_string(),
            format!("invalid test target '{url}': {reason}")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Configuration

#[test]
fn config_defaults_and_problems() {
    let valid = Config::new("/var/lib/keptn/jmeter")
        .validate()
        .expect("valid");
    assert_eq!(valid.jmeter(), Path::new("jmeter"));
    assert_eq!(valid.jmeter_home(), Path::new("/usr/share/jmeter"));
    assert_eq!(valid.timeout(), Duration::from_secs(3600));
    assert_eq!(valid.tries(), 3);
    assert_eq!(valid.interval(), Duration::from_secs(5));

    let yaml = "work_dir: relative/dir
jmeter: ''
jmeter_home: /usr/../jmeter
timeout_seconds: 0
healthcheck: { tries: 0, interval_seconds: -1, connect_timeout_seconds: .nan }
";
    let config: Config = serde_yaml::from_str(yaml).expect("fields are known");
    let Err(Error::Config { problems }) = config.validate() else {
        panic!("expected a config error");
    };
    assert_eq!(
        problems,
        [
            "work_dir: must be an absolute path, got 'relative/dir'",
            "jmeter_home: must not contain '..', got '/usr/../jmeter'",
            "jmeter: must not be empty",
            "timeout_seconds: must be above 0 and at most 86400, got '0'",
            "healthcheck.tries: must be between 1 and 100, got '0'",
            "healthcheck.interval_seconds: must be at least 0 and at most 600, got '-1'",
            "healthcheck.connect_timeout_seconds: must be above 0 and at most 600, got 'NaN'",
        ]
    );
    let unknown = serde_yaml::from_str::<Config>("work_dir: /x\njmeter_path: /y\n")
        .expect_err("unknown field");
    assert!(
        unknown.to_string().contains("unknown field `jmeter_path`"),
        "{unknown}"
    );
}

// ---------------------------------------------------------------------------------------
// Command line

#[test]
fn command_line_carries_jmeter_services_properties() {
    let files = RunFiles::in_dir(Path::new("/w/runs/r1"));
    let fix = FixFiles {
        jar: "/w/xstream-fix/xstream-allow.jar".into(),
        saveservice_properties: "/w/xstream-fix/saveservice.properties".into(),
    };
    let mut load = workload("performance", 0.1, 0);
    load.vuser = 4;
    load.loopcount = 20;
    load.thinktime_ms = 250;
    load.properties = BTreeMap::from([("CHECK_PATH".to_owned(), "/ready".to_owned())]);
    let target = TargetProperties::parse("http://carts.sockshop-dev:8080").expect("valid");
    let scope = scope();
    let args = jmeter_args(&JMeterInvocation {
        plan: Path::new("/w/runs/r1/jmeter/load.jmx"),
        files: &files,
        fix: Some(&fix),
        jmeter_home: Path::new("/usr/share/jmeter"),
        target: &target,
        workload: &load,
        scope: &scope,
        strategy: "performance",
        load_test_name: "r1",
        dynatrace: &[("DT_TENANT".to_owned(), "abc".to_owned())],
    });
    let args: Vec<String> = args
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        args,
        [
            "-n",
            "-t",
            "/w/runs/r1/jmeter/load.jmx",
            "-l",
            "/w/runs/r1/results.jtl",
            "-j",
            "/w/runs/r1/jmeter.log",
            "-Juser.classpath=/w/xstream-fix/xstream-allow.jar",
            "-Jsaveservice_properties=/../../../w/xstream-fix/saveservice.properties",
            "-Jjmeter.save.saveservice.output_format=csv",
            "-Jjmeter.save.saveservice.print_field_names=true",
            "-Jjmeter.save.saveservice.timestamp_format=ms",
            "-Jjmeter.save.saveservice.subresults=false",
            "-Jsampleresult.timestamp.start=true",
            "-JPROTOCOL=http",
            "-JSERVER_PROTOCOL=http",
            "-JSERVER_URL=carts.sockshop-dev",
            "-JDT_LTN=r1",
            "-JVUCount=4",
            "-JLoopCount=20",
            "-JCHECK_PATH=/health",
            "-JSERVER_PORT=8080",
            "-JThinkTime=250",
            "-JDT_TENANT=abc",
            "-JKEPTN_PROJECT=sockshop",
            "-JKEPTN_STAGE=dev",
            "-JKEPTN_SERVICE=carts",
            "-JKEPTN_TESTSTRATEGY=performance",
            // The workload's own, last, so it overrides.
            "-JCHECK_PATH=/ready",
        ]
    );
    // JMeter resolves the path below its home: as many `/..` as the home is deep.
    assert_eq!(
        saveservice_property(Path::new("/opt/apache/jmeter/5.6"), Path::new("/w/s.p")),
        "/../../../../w/s.p"
    );
}

// ---------------------------------------------------------------------------------------
// The runner with a stub `jmeter`

fn scope() -> Scope {
    Scope {
        project: "sockshop".into(),
        stage: "dev".into(),
        service: "carts".into(),
    }
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("the temporary directory is writable");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("the script is ours");
}

/// A stub `jmeter` in `dir`: it appends its arguments to `dir/calls.txt` (one per line,
/// each call after a `--- call` line), copies `dir/health.jtl` (for a plan named
/// `*basiccheck.jmx`) or `dir/load.jtl` (any other plan) to its `-l` file when that exists,
/// `dir/log.txt` to its `-j` file, prints `dir/stdout.txt` and exits with `exit_code`.
struct Stub {
    dir: PathBuf,
    jmeter: PathBuf,
}

impl Stub {
    fn new(dir: &Path, exit_code: i32) -> Self {
        let jmeter = dir.join("jmeter");
        let d = dir.display();
        write_executable(
            &jmeter,
            &format!(
                r#"#!/bin/sh
echo "--- call" >> "{d}/calls.txt"
for arg in "$@"; do printf '%s\n' "$arg" >> "{d}/calls.txt"; done
plan=""; jtl=""; log=""
while [ $# -gt 0 ]; do
  case "$1" in
    -t) plan="$2"; shift ;;
    -l) jtl="$2"; shift ;;
    -j) log="$2"; shift ;;
  esac
  shift
done
case "$plan" in
  *basiccheck.jmx) [ -f "{d}/health.jtl" ] && cp "{d}/health.jtl" "$jtl" ;;
  *) [ -f "{d}/load.jtl" ] && cp "{d}/load.jtl" "$jtl" ;;
esac
[ -f "{d}/log.txt" ] && cp "{d}/log.txt" "$log"
[ -f "{d}/stdout.txt" ] && cat "{d}/stdout.txt"
[ -f "{d}/sleep" ] && exec sleep 30
exit {exit_code}
"#
            ),
        );
        Self {
            dir: dir.to_owned(),
            jmeter,
        }
    }

    fn file(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.dir.join(name), text).expect("the temporary directory is writable");
        self
    }

    /// The arguments of each call so far.
    fn calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.join("calls.txt")).unwrap_or_default();
        text.split("--- call\n")
            .filter(|call| !call.is_empty())
            .map(|call| call.lines().map(str::to_owned).collect())
            .collect()
    }

    fn config(&self, work_dir: &Path) -> Config {
        Config {
            jmeter: Some(self.jmeter.clone()),
            xstream_fix: Some(false),
            healthcheck: Some(HealthcheckConfig {
                tries: Some(1),
                interval_seconds: Some(0.0),
                connect_timeout_seconds: Some(2.0),
            }),
            ..Config::new(work_dir)
        }
    }
}

/// A TCP listener standing for the target (connections wait in its backlog).
async fn target() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let address = listener.local_addr().expect("bound");
    (listener, format!("http://{address}"))
}

fn plans(paths: &[&str]) -> BTreeMap<String, Vec<u8>> {
    paths
        .iter()
        .map(|path| ((*path).to_owned(), b"<jmeterTestPlan/>".to_vec()))
        .collect()
}

async fn run_with(
    config: Config,
    strategy: &str,
    target: &str,
    workloads: &Workloads,
    plans: &BTreeMap<String, Vec<u8>>,
) -> Result<Outcome, Error> {
    let jmeter = JMeter::new(config.validate().expect("valid config"));
    jmeter
        .run(RunRequest {
            scope: scope(),
            strategy: strategy.into(),
            target: target.into(),
            workloads,
            plans,
        })
        .await
}

fn tested(outcome: Result<Outcome, Error>) -> Run {
    match outcome {
        Ok(Outcome::Tested(run)) => *run,
        other => panic!("expected a test run, got {other:?}"),
    }
}

const SUMMARY: &str =
    "summary =      2 in     1s =    2.0/s Avg:    15 Min:    10 Max:    20 Err:     0 (0.00%)\n";

#[tokio::test]
async fn stub_run_passes_and_reports_jtl_numbers() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    stub.file(
        "health.jtl",
        &jtl(&["1000,3,GET health,200,OK,t 1-1,text,true,1,1,1,3"]),
    )
    .file(
        "load.jtl",
        &jtl(&[
            "2000,10,POST,201,Created,t 1-1,text,true,1,1,1,10",
            "2010,20,GET,200,OK,t 1-1,text,true,1,1,1,20",
        ]),
    )
    .file("stdout.txt", SUMMARY);
    let work_dir = temp.path().join("work");
    let (_listener, url) = target().await;
    let run = tested(
        run_with(
            stub.config(&work_dir),
            "performance",
            &url,
            &Workloads::default(),
            &plans(&["jmeter/basiccheck.jmx", "jmeter/load.jmx"]),
        )
        .await,
    );
    assert!(run.report.passed, "{}", run.report.message);
    let stats = run.stats.expect("the strategy ran");
    assert_eq!(
        (stats.samples, stats.errors, stats.avg_whole_ms),
        (2, 0, 15)
    );
    assert_eq!(stats.summary_line.as_deref(), Some(SUMMARY.trim_end()));
    assert_eq!(run.healthcheck.map(|check| check.samples), Some(1));
    assert!(run.report.start.0 <= run.report.end.0);
    assert!(
        run.report.message.starts_with(
            "performance (jmeter/load.jmx, 10 users x 500 loops): 2 samples, 0 failed (0.00 %)"
        ),
        "{}",
        run.report.message
    );
    let calls = stub.calls();
    assert_eq!(calls.len(), 2, "health check, then the strategy");
    assert!(
        calls[0][2].ends_with("/jmeter/basiccheck.jmx"),
        "{:?}",
        calls[0]
    );
    assert!(calls[1][2].ends_with("/jmeter/load.jmx"), "{:?}", calls[1]);
    let port = url.rsplit(':').next().expect("url has a port");
    for expected in [
        "-JSERVER_URL=127.0.0.1".to_owned(),
        format!("-JSERVER_PORT={port}"),
        "-JVUCount=10".to_owned(),
        "-JLoopCount=500".to_owned(),
        "-JKEPTN_TESTSTRATEGY=performance".to_owned(),
    ] {
        assert!(calls[1].contains(&expected), "{expected} in {:?}", calls[1]);
    }
    // Without the fix, no fix arguments.
    assert!(
        !calls[1]
            .iter()
            .any(|arg| arg.starts_with("-Juser.classpath"))
    );
    // Run directories are removed unless keep_runs is set.
    let runs: Vec<_> = std::fs::read_dir(work_dir.join("runs"))
        .expect("runs dir exists")
        .collect();
    assert!(runs.is_empty(), "{runs:?}");
}

#[tokio::test]
async fn exit_zero_without_jtl_is_a_plan_error_with_log_lines() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    stub.file(
        "log.txt",
        "2026/11/22 16:16:24 INFO  - jmeter.save.SaveService: Loading file: x.jmx \n\
         2026/11/22 16:16:24 ERROR - jmeter.JMeter: Error in NonGUIDriver com.thoughtworks.xstream.security.ForbiddenClassException: org.apache.jmeter.save.ScriptWrapper\n\
         \tat com.thoughtworks.xstream.security.NoTypePermission.allows(NoTypePermission.java:26)\n",
    )
    .file(
        "stdout.txt",
        "Error in NonGUIDriver com.thoughtworks.xstream.security.ForbiddenClassException: org.apache.jmeter.save.ScriptWrapper\n",
    );
    let (_listener, url) = target().await;
    let error = run_with(
        stub.config(&temp.path().join("work")),
        "healthcheck",
        &url,
        &Workloads::default(),
        &plans(&["jmeter/basiccheck.jmx"]),
    )
    .await
    .expect_err("no results");
    let Error::PlanNotLoaded {
        script,
        log_lines,
        hint,
    } = &error
    else {
        panic!("expected PlanNotLoaded, got {error:?}");
    };
    assert_eq!(script, "jmeter/basiccheck.jmx");
    assert_eq!(log_lines.len(), 2, "{log_lines:?}");
    assert!(log_lines[0].contains("ERROR - jmeter.JMeter: Error in NonGUIDriver"));
    assert!(hint.as_deref().is_some_and(|hint| hint.contains("xstream")));
    let adapter: keptn_core::ports::AdapterError = error.into();
    assert_eq!(adapter.kind, AdapterErrorKind::Invalid);
    assert!(
        adapter
            .message
            .starts_with("jmeter could not load the plan 'jmeter/basiccheck.jmx' (xstream refused")
    );
}

#[tokio::test]
async fn exit_zero_with_empty_results_is_no_samples() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    stub.file("health.jtl", &jtl(&[])).file(
        "log.txt",
        "2026/11/22 INFO - jmeter.JMeter: nothing happened\n",
    );
    let (_listener, url) = target().await;
    let error = run_with(
        stub.config(&temp.path().join("work")),
        "healthcheck",
        &url,
        &Workloads::default(),
        &plans(&["jmeter/basiccheck.jmx"]),
    )
    .await
    .expect_err("no samples");
    let Error::NoSamples { log_lines, .. } = &error else {
        panic!("expected NoSamples, got {error:?}");
    };
    // Nothing looked like an error: the log's last lines.
    assert_eq!(
        log_lines,
        &["2026/11/22 INFO - jmeter.JMeter: nothing happened"]
    );
}

#[tokio::test]
async fn failed_health_check_stops_before_the_strategy() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    stub.file(
        "health.jtl",
        &jtl(&["1000,3,GET health,503,Service Unavailable,t 1-1,text,false,1,1,1,3"]),
    )
    .file(
        "load.jtl",
        &jtl(&["2000,10,POST,201,Created,t 1-1,text,true,1,1,1,10"]),
    );
    let (_listener, url) = target().await;
    let run = tested(
        run_with(
            stub.config(&temp.path().join("work")),
            "functional",
            &url,
            &Workloads::default(),
            &plans(&["jmeter/basiccheck.jmx", "jmeter/load.jmx"]),
        )
        .await,
    );
    assert!(!run.report.passed);
    assert!(run.stats.is_none());
    assert!(
        run.report
            .message
            .starts_with("functional: not run, the health check failed: healthcheck"),
        "{}",
        run.report.message
    );
    assert!(
        run.report
            .message
            .contains("first failure: GET health: 503 Service Unavailable"),
        "{}",
        run.report.message
    );
    assert_eq!(stub.calls().len(), 1, "the strategy did not run");
}

#[tokio::test]
async fn missing_scripts_are_skipped_and_pass() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    stub.file(
        "load.jtl",
        &jtl(&["2000,10,POST,201,Created,t 1-1,text,true,1,1,1,10"]),
    );
    let (_listener, url) = target().await;
    // No basiccheck.jmx: the health check is skipped, the strategy runs.
    let run = tested(
        run_with(
            stub.config(&temp.path().join("work")),
            "functional",
            &url,
            &Workloads::default(),
            &plans(&["jmeter/load.jmx"]),
        )
        .await,
    );
    assert!(run.report.passed, "{}", run.report.message);
    assert_eq!(run.skipped, ["jmeter/basiccheck.jmx"]);
    assert_eq!(run.stats.map(|stats| stats.samples), Some(1));
    // No plan at all: both skipped, passed, JMeter never started.
    let run = tested(
        run_with(
            stub.config(&temp.path().join("work")),
            "performance",
            &url,
            &Workloads::default(),
            &BTreeMap::new(),
        )
        .await,
    );
    assert!(run.report.passed);
    assert_eq!(run.skipped, ["jmeter/basiccheck.jmx", "jmeter/load.jmx"]);
    assert_eq!(
        run.report.message,
        "performance: skipped, script 'jmeter/load.jmx' not found"
    );
    assert_eq!(stub.calls().len(), 1);
}

#[tokio::test]
async fn empty_and_real_user_strategies_run_nothing() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    let all = plans(&["jmeter/basiccheck.jmx", "jmeter/load.jmx"]);
    // Even an unreachable target does not matter: nothing runs.
    let run = tested(
        run_with(
            stub.config(&temp.path().join("work")),
            "",
            "http://127.0.0.1:1",
            &Workloads::default(),
            &all,
        )
        .await,
    );
    assert!(run.report.passed);
    assert_eq!(run.report.message, "no test strategy: nothing to run");
    let outcome = run_with(
        stub.config(&temp.path().join("work")),
        "real-user",
        "http://127.0.0.1:1",
        &Workloads::default(),
        &all,
    )
    .await
    .expect("handled without error");
    assert_eq!(outcome, Outcome::NotHandled);
    assert!(stub.calls().is_empty());
}

#[tokio::test]
async fn unknown_strategy_and_invalid_target_are_errors() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    let (_listener, url) = target().await;
    let error = run_with(
        stub.config(&temp.path().join("work")),
        "soak",
        &url,
        &Workloads::default(),
        &BTreeMap::new(),
    )
    .await
    .expect_err("no workload");
    assert_eq!(
        error.to_string(),
        "no workload for test strategy 'soak' (defined: functional, healthcheck, performance)"
    );
    let error = run_with(
        stub.config(&temp.path().join("work")),
        "performance",
        "carts:8080",
        &Workloads::default(),
        &BTreeMap::new(),
    )
    .await
    .expect_err("not a url");
    assert!(matches!(error, Error::InvalidTarget { .. }), "{error:?}");
}

#[tokio::test]
async fn unreachable_target_fails_after_the_tries() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    // A port that was free a moment ago and is closed now.
    let closed = {
        let (listener, url) = target().await;
        drop(listener);
        url
    };
    let mut config = stub.config(&temp.path().join("work"));
    config.healthcheck = Some(HealthcheckConfig {
        tries: Some(3),
        interval_seconds: Some(0.1),
        connect_timeout_seconds: Some(1.0),
    });
    let started = Instant::now();
    let run = tested(
        run_with(
            config,
            "performance",
            &closed,
            &Workloads::default(),
            &plans(&["jmeter/basiccheck.jmx", "jmeter/load.jmx"]),
        )
        .await,
    );
    let elapsed = started.elapsed();
    assert!(!run.report.passed);
    assert!(
        run.failures[0].contains("after 3 tries: Connection refused"),
        "{:?}",
        run.failures
    );
    assert!(
        elapsed >= Duration::from_millis(200),
        "two pauses: {elapsed:?}"
    );
    assert!(stub.calls().is_empty());
}

#[tokio::test]
async fn a_run_over_time_is_killed() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    stub.file("sleep", "");
    let (_listener, url) = target().await;
    let mut config = stub.config(&temp.path().join("work"));
    config.timeout_seconds = Some(0.5);
    let started = Instant::now();
    let error = run_with(
        config,
        "healthcheck",
        &url,
        &Workloads::default(),
        &plans(&["jmeter/basiccheck.jmx"]),
    )
    .await
    .expect_err("too slow");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        error.to_string(),
        "'jmeter jmeter/basiccheck.jmx' did not finish within 500ms and was killed"
    );
}

#[tokio::test]
async fn missing_programs_name_their_package() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (_listener, url) = target().await;
    let mut config = Stub::new(temp.path(), 0).config(&temp.path().join("work"));
    config.jmeter = Some(temp.path().join("no-such-jmeter"));
    let error = run_with(
        config,
        "healthcheck",
        &url,
        &Workloads::default(),
        &plans(&["jmeter/basiccheck.jmx"]),
    )
    .await
    .expect_err("no jmeter");
    assert!(
        error
            .to_string()
            .ends_with("no-such-jmeter': install it with 'apt-get install -y jmeter jmeter-http'"),
        "{error}"
    );

    // The XStream fix with no javac.
    let home = fake_jmeter_home(temp.path());
    let config = Config {
        jmeter_home: Some(home),
        javac: Some(temp.path().join("no-such-javac")),
        xstream_jar: Some(temp.path().join("xstream.jar")),
        ..Config::new(temp.path().join("fix-work"))
    };
    std::fs::write(temp.path().join("xstream.jar"), b"jar").expect("writable");
    let jmeter = JMeter::new(config.validate().expect("valid"));
    let error = jmeter.prepare().await.expect_err("no javac");
    let Error::ToolMissing {
        program, package, ..
    } = &error
    else {
        panic!("expected ToolMissing, got {error:?}");
    };
    assert_eq!((*program, *package), ("javac", "default-jdk-headless"));
}

/// A JMeter home whose saveservice.properties ends without a line break, like Debian's.
fn fake_jmeter_home(dir: &Path) -> PathBuf {
    let home = dir.join("jmeter-home");
    std::fs::create_dir_all(home.join("bin")).expect("writable");
    std::fs::write(
        home.join("bin/saveservice.properties"),
        "_version=2.8\n#\tRemember to update the _version entry\n#",
    )
    .expect("writable");
    home
}

#[tokio::test]
async fn xstream_fix_is_built_once_per_work_dir() {
    let temp = tempfile::tempdir().expect("temp dir");
    let home = fake_jmeter_home(temp.path());
    let log = temp.path().join("tools.log");
    let javac = temp.path().join("javac");
    let jar = temp.path().join("jar");
    // javac: record, then create the class in -d; jar: record, then create the jar file.
    write_executable(
        &javac,
        &format!(
            "#!/bin/sh\necho \"javac $*\" >> {log}\nwhile [ \"$1\" != -d ]; do shift; done\nmkdir -p \"$2/keptn\" && touch \"$2/keptn/XStreamAllowAll.class\"\n",
            log = log.display()
        ),
    );
    write_executable(
        &jar,
        &format!(
            "#!/bin/sh\necho \"jar $*\" >> {log}\necho jar > \"$2\"\n",
            log = log.display()
        ),
    );
    std::fs::write(temp.path().join("xstream.jar"), b"jar").expect("writable");
    let work_dir = temp.path().join("work");
    let config = Config {
        jmeter_home: Some(home),
        javac: Some(javac),
        jar: Some(jar),
        xstream_jar: Some(temp.path().join("xstream.jar")),
        ..Config::new(&work_dir)
    };
    let first = JMeter::new(config.validate().expect("valid"))
        .prepare()
        .await
        .expect("builds")
        .expect("the fix is on");
    assert_eq!(first.jar, work_dir.join("xstream-fix/xstream-allow.jar"));
    assert!(first.jar.exists());
    let properties = std::fs::read_to_string(&first.saveservice_properties).expect("written");
    assert!(
        properties.ends_with("update the _version entry\n#\n_keptn.XStreamAllowAll=collection\n"),
        "{properties:?}"
    );
    let source =
        std::fs::read_to_string(work_dir.join("xstream-fix/src/keptn/XStreamAllowAll.java"))
            .expect("written");
    assert_eq!(source, super::XSTREAM_FIX_SOURCE);
    let tools = std::fs::read_to_string(&log).expect("tools ran");
    assert_eq!(tools.lines().count(), 2, "{tools}");
    assert!(
        tools.starts_with("javac --release 8 -nowarn -cp "),
        "{tools}"
    );
    assert!(
        !std::fs::read_dir(work_dir.join("xstream-fix"))
            .expect("exists")
            .any(|entry| entry
                .is_ok_and(|entry| entry.file_name().to_string_lossy().starts_with("build-")))
    );

    // A second runner on the same work directory finds the jar newer than the source.
    let second = JMeter::new(config.validate().expect("valid"));
    assert_eq!(second.prepare().await.expect("cached"), Some(first));
    let tools = std::fs::read_to_string(&log).expect("tools ran");
    assert_eq!(tools.lines().count(), 2, "not rebuilt: {tools}");
}

#[tokio::test]
async fn test_runner_port_reports_or_refuses_real_user() {
    let temp = tempfile::tempdir().expect("temp dir");
    let stub = Stub::new(temp.path(), 0);
    stub.file(
        "load.jtl",
        &jtl(&["2000,700,POST,201,Created,t 1-1,text,true,1,1,1,10"]),
    );
    let (_listener, url) = target().await;
    let (workloads, _) = parse_ok(
        "spec_version: '0.1.0'\nworkloads:\n  - { teststrategy: performance, script: jmeter/load.jmx, avgrtvalidation: 500 }\n",
    );
    let runner = JMeterRunner {
        jmeter: JMeter::new(
            stub.config(&temp.path().join("work"))
                .validate()
                .expect("valid"),
        ),
        workloads,
        plans: plans(&["jmeter/load.jmx"]),
    };
    let request = |strategy: &str| TestRequest {
        scope: scope(),
        strategy: strategy.into(),
        target: url.clone(),
        git_commit_id: None,
    };
    let report = runner.run(&request("performance")).await.expect("ran");
    assert!(!report.passed);
    assert!(
        report
            .message
            .ends_with("failed: average response time 700 ms is above avgrtvalidation 500 ms"),
        "{}",
        report.message
    );
    let error = runner
        .run(&request("real-user"))
        .await
        .expect_err("not handled");
    assert_eq!(error.kind, AdapterErrorKind::Invalid);
}
