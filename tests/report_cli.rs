#![cfg(feature = "cli")]
//! `otel-llm-cost report`, run as a built binary: golden outputs on fixtures
//! (tests/fixtures/report/expected/), input formats, URL inputs, malformed inputs.
//!
//! Regenerate the golden files after an intended change with
//! `UPDATE_GOLDEN=1 cargo test --features cli --test report_cli` and review the diff.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "common/http_server.rs"]
mod http_server;

fn fixture(name: &str) -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/report"
    ))
    .join(name)
    .display()
    .to_string()
}

/// Runs `report` with the fixtures' prices, from the fixture directory (so paths in error
/// messages are stable), hermetic.
fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
        .current_dir(fixture(""))
        .args(["--overrides", "prices.toml", "report", "--no-progress"])
        .args(args)
        .env_remove("OTEL_LLM_COST_OVERRIDES")
        .output()
        .expect("run otel-llm-cost")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = report(args);
    assert!(
        o.status.success(),
        "{args:?} failed ({:?}):\n{}\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Compares with tests/fixtures/report/expected/NAME exactly (or writes it with UPDATE_GOLDEN).
fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(fixture("expected")).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the output.\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&ok(&a)).expect("report JSON")
}

#[test]
fn collector_file_golden_table_json_csv() {
    golden("collector.table.txt", &ok(&["collector.jsonl"]));
    golden(
        "collector.json",
        &ok(&["collector.jsonl", "--format", "json"]),
    );
    golden(
        "collector.csv",
        &ok(&["collector.jsonl", "--format", "csv"]),
    );
}

#[test]
fn grouped_by_attribute_and_by_run_prefix_golden() {
    golden(
        "collector.by_session.table.txt",
        &ok(&["collector.jsonl", "--group-by", "session.id", "--top", "0"]),
    );
    golden(
        "collector.by_run_prefix.csv",
        &ok(&[
            "collector.jsonl",
            "--group-by",
            "root",
            "--run-prefix",
            "12",
            "--format",
            "csv",
            "--top",
            "0",
        ]),
    );
}

#[test]
fn the_sums_add_up_and_shares_sum_to_100() {
    let r = json(&["collector.jsonl", "--group-by", "session.id"]);
    let sum = |section: &str, field: &str| -> i64 {
        r[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x[field].as_f64().unwrap() * 10.0).round() as i64)
            .sum()
    };
    assert_eq!(sum("models", "pct"), 1000);
    assert_eq!(sum("steps", "pct"), 1000);
    assert_eq!(sum("groups", "pct"), 1000);
    // Exact money: the model costs add up to the total, as decimals.
    let total: f64 = r["summary"]["total_usd"].as_str().unwrap().parse().unwrap();
    assert_eq!(r["summary"]["total_usd"], "0.2606");
    let models: f64 = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["cost_usd"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((models - total).abs() < 1e-12);
    // The duplicate SDK span and the aggregate agent span are not counted twice.
    assert_eq!(r["summary"]["llm_calls"], 6);
    assert_eq!(r["summary"]["unpriced_calls"], 2);
}

#[test]
fn jaeger_v3_response_and_whole_document() {
    golden(
        "jaeger_v3.json",
        &ok(&["jaeger_v3.json", "--format", "json"]),
    );
    // The Jaeger response holds trace A of the collector fixture: same cost.
    let j = json(&["jaeger_v3.json"]);
    let c = json(&["collector.jsonl"]);
    let trace_a = c["top_traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
        .unwrap()
        .clone();
    assert_eq!(j["top_traces"][0], trace_a);
    // A pretty-printed ExportTraceServiceRequest (trace C), read as a stream.
    let d = json(&["document.json"]);
    assert_eq!(d["summary"]["total_usd"], "0.0018");
    assert_eq!(d["top_traces"][0]["complete"], true);
    assert_eq!(d["top_traces"][0]["workflow"], "nightly-eval-2025-06-01-b");
}

#[test]
fn cost_records_round_trip_golden() {
    let dir = std::env::temp_dir().join(format!("report-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("costs.jsonl");
    let _ = std::fs::remove_file(&path);
    let p = path.display().to_string();
    let from_spans = json(&["collector.jsonl", "--write-records", &p]);
    let records = std::fs::read_to_string(&path).unwrap();
    golden("collector.records.jsonl", &records);
    // Every line starts with its type.
    for l in records.lines() {
        assert!(
            l.starts_with(r#"{"type":"call","#) || l.starts_with(r#"{"type":"trace","#),
            "{l}"
        );
    }
    // The report over the records says what the report over the spans said.
    let from_records = json(&[p.as_str()]);
    assert_eq!(from_records["summary"], from_spans["summary"]);
    assert_eq!(from_records["top_traces"], from_spans["top_traces"]);
    let strip = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["model"].clone(),
                    m["calls"].clone(),
                    m["cost_usd"].clone(),
                    m["pct"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&from_records["models"]), strip(&from_spans["models"]));
    assert_eq!(from_records["input"]["records"], 9);
    golden(
        "records.table.txt",
        &ok(&["expected/collector.records.jsonl", "--group-by", "service"]),
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn call_records_without_their_trace_record_make_an_incomplete_trace() {
    let records = std::fs::read_to_string(fixture("expected/collector.records.jsonl")).unwrap();
    let calls: String = records
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"call""#))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = std::env::temp_dir().join(format!("report-orphans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("calls.jsonl");
    std::fs::write(&path, calls).unwrap();
    let r = json(&[path.to_str().unwrap()]);
    assert_eq!(r["summary"]["traces"], 3);
    assert_eq!(r["summary"]["incomplete_traces"], 3);
    assert_eq!(r["summary"]["total_usd"], "0.2606");
    std::fs::remove_dir_all(&dir).ok();
}

/// Serves `body` with `status` to one connection on 127.0.0.1 (a tiny HTTP/1.1 server), with a
/// `Content-Length` or, when `chunked`, in chunks of 1000 bytes.
fn serve(
    status: &'static str,
    body: Vec<u8>,
    chunked: bool,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut requests = Vec::new();
        let (mut s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut first = String::new();
        r.read_line(&mut first).unwrap();
        requests.push(first.trim_end().to_owned());
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
        }
        if chunked {
            write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            .unwrap();
            for c in body.chunks(1000) {
                write!(s, "{:x};ext=1\r\n", c.len()).unwrap();
                s.write_all(c).unwrap();
                s.write_all(b"\r\n").unwrap();
            }
            s.write_all(b"0\r\nx-trailer: 1\r\n\r\n").unwrap();
        } else {
            write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .unwrap();
            s.write_all(&body).unwrap();
        }
        requests
    });
    (format!("http://{addr}"), h)
}

#[test]
fn url_input_from_a_local_http_server() {
    let from_file = ok(&["jaeger_v3.json", "--format", "json"]);
    for chunked in [false, true] {
        let body = std::fs::read(fixture("jaeger_v3.json")).unwrap();
        let (base, h) = serve("200 OK", body, chunked);
        let url = format!("{base}/api/v3/traces/4bf92f3577b34da6a3ce929d0e0e4736");
        let from_url = ok(&[&url, "--format", "json"]);
        assert_eq!(
            h.join().unwrap(),
            vec!["GET /api/v3/traces/4bf92f3577b34da6a3ce929d0e0e4736 HTTP/1.1"]
        );
        assert_eq!(from_url, from_file, "chunked: {chunked}");
    }
}

/// `https://` inputs, through the same HTTP client as `catalog build` (a private CA trusted
/// with `SSL_CERT_FILE`); the hand-written HTTP/1.1 client before it refused `https://`.
#[test]
fn url_input_over_https_with_a_private_ca() {
    let from_file = ok(&["jaeger_v3.json", "--format", "json"]);
    let path = "/api/v3/traces/4bf92f3577b34da6a3ce929d0e0e4736";
    let body = std::fs::read(fixture("jaeger_v3.json")).unwrap();
    let ca = std::env::temp_dir().join(format!("report-ca-{}.pem", std::process::id()));
    let addr = http_server::https_server(vec![(path, http_server::ok_json(body))], 1, &ca);
    let o = Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
        .current_dir(fixture(""))
        .args(["--overrides", "prices.toml", "report", "--no-progress"])
        .args([&format!("https://{addr}{path}"), "--format", "json"])
        .env_remove("OTEL_LLM_COST_OVERRIDES")
        .env("SSL_CERT_FILE", &ca)
        .output()
        .expect("run otel-llm-cost");
    std::fs::remove_file(&ca).ok();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), from_file);
}

#[test]
fn url_errors_are_reported() {
    let (base, h) = serve(
        "404 Not Found",
        br#"{"error":{"httpCode":404,"message":"trace not found"}}"#.to_vec(),
        false,
    );
    let url = format!("{base}/api/v3/traces/00000000000000000000000000000001");
    let o = report(&[&url]);
    h.join().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!("error: {url}: GET returned HTTP 404 Not Found")),
        "{e}"
    );
    assert!(e.contains("trace not found"), "{e}");
    // Empty stdin: an empty report.
    let o = report(&["-"]);
    assert_eq!(o.status.code(), Some(0)); // empty stdin: an empty report
    assert!(stdout(&o).starts_with("Cost report: 0 traces, 0 LLM calls, total $0.000000"));
}

#[test]
fn malformed_lines_are_named_counted_and_skipped() {
    let o = report(&[
        "malformed.jsonl",
        "missing.jsonl",
        "truncated.json",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for want in [
        "error: malformed.jsonl:2: not a JSON object\n",
        "error: malformed.jsonl:3: span 'bad id': traceId must be 32 hex digits, not all zero (got 'xyz')\n",
        "error: malformed.jsonl:4: invalid OTLP/JSON: EOF while parsing a string (column 78)\n",
        "error: malformed.jsonl:5: not a JSON object\n",
        "error: malformed.jsonl:6: no \"resourceSpans\" (nor Jaeger's \"result\") in this JSON object\n",
        "error: malformed.jsonl:7: invalid OTLP/JSON: not an unsigned integer: 'yesterday' (column 166)\n",
        "error: missing.jsonl: cannot open: No such file or directory",
        "error: truncated.json:63: invalid OTLP/JSON document: EOF while parsing a value (column 8)\n",
        "8 input problem(s): the report covers what could be read",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    // What could be read is reported: trace C (from line 1 and from the truncated document's
    // first spans), and the span with a bad token count is an invalid_usage call.
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["input"]["errors"], 8);
    assert_eq!(r["summary"]["unpriced_calls"], 1);
}

#[test]
fn bad_cost_records_are_named() {
    let dir = std::env::temp_dir().join(format!("report-badrec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.jsonl");
    let good = std::fs::read_to_string(fixture("expected/collector.records.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    std::fs::write(
        &path,
        format!(
            "{first}\n{}\n{{\"type\":\"span\"}}\n",
            first.replace("\"cost_usd\":\"", "\"cost_usd\":\"-")
        ),
    )
    .unwrap();
    let o = report(&[path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("bad.jsonl:2: invalid cost record: '-"), "{e}");
    assert!(e.contains("negative amounts are not allowed"), "{e}");
    assert!(
        e.contains("bad.jsonl:3: invalid cost record: unknown variant `span`"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Generated agent traces: the report is the same whatever the buffer, the shares sum to 100,
/// and a buffer too small for any trace releases every trace early without losing a cent.
#[test]
fn generated_traces_with_a_tiny_buffer_lose_nothing() {
    let o = Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
        .args(["report", "--generate", "3000"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let dir = std::env::temp_dir().join(format!("report-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gen.jsonl");
    std::fs::write(&path, &o.stdout).unwrap();
    let p = path.to_str().unwrap();
    let normal = json(&[p]);
    let tiny = json(&[p, "--buffer-mib", "0"]);
    assert_eq!(normal["input"]["errors"], 0);
    assert_eq!(normal["summary"]["incomplete_traces"], 0);
    assert!(normal["input"]["spans"].as_u64().unwrap() >= 3000);
    assert!(tiny["input"]["evicted_traces"].as_u64().unwrap() > 0);
    assert!(tiny["summary"]["incomplete_traces"].as_u64().unwrap() > 0);
    assert_eq!(tiny["summary"]["total_usd"], normal["summary"]["total_usd"]);
    assert_eq!(tiny["summary"]["llm_calls"], normal["summary"]["llm_calls"]);
    assert_eq!(tiny["models"], normal["models"]);
    let pct: i64 = normal["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["pct"].as_f64().unwrap() * 10.0).round() as i64)
        .sum();
    assert_eq!(pct, 1000);
    std::fs::remove_dir_all(&dir).ok();
}
