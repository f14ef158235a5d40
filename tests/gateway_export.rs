//! Gateway exporter, in process on 127.0.0.1:0: retries per the OTLP spec, permanent errors,
//! partial success, back-pressure when the queue is full, batching, and shutdown accounting.
//! Every test checks received = exported + not delivered.
#![cfg(feature = "gateway")]

mod common;

use std::time::Duration;

use common::gateway::*;
use prost::Message;

const FAST: &str = "assembly: { root_grace: 50ms, trace_timeout: 5s }";
const WAIT: Duration = Duration::from_secs(15);

fn trace(
    t: u8,
    children: u8,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let mut spans = vec![span(t, 1, 0, "root", vec![])];
    for c in 0..children {
        spans.push(span(t, 2 + c, 1, "llm", llm("gpt-4o-mini", 100, 10)));
    }
    request("svc", spans)
}

/// Guards: with the downstream unreachable the gateway retries; once it is back, every span
/// received is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_down_then_back_delivers_every_span() {
    let down = closed_port();
    let gw = start_gateway(&format!("http://{}", down.addr), "", FAST).await;
    let grpc = gw.grpc_addr().expect("grpc");
    for t in 1..=3 {
        send_grpc(grpc, trace(t, 2)).await.expect("accepted");
    }
    eventually("export retries while the downstream is down", WAIT, || {
        gw.metrics().export_retries >= 2
    })
    .await;
    assert_eq!(gw.metrics().spans_exported, 0);
    // The downstream comes back on the same address.
    let faults = Faults::new(Answer::Ok);
    down.open_grpc_sink(faults.clone()).await;
    assert_eq!(faults.captured.wait_for(9, WAIT).await, 9);
    eventually("9 spans exported", WAIT, || {
        gw.metrics().spans_exported == 9
    })
    .await;
    assert_balanced(&scrape(&gw).await);
    let m = gw.shutdown().await.metrics;
    assert_eq!(
        (m.spans_received, m.spans_exported, m.not_delivered_total()),
        (9, 9, 0)
    );
}

/// Guards: HTTP 400 from the downstream is permanent: counted as not delivered, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_http_400_is_counted_and_not_retried() {
    let faults = Faults::new(Answer::Http(400, None));
    let sink = start_http_sink(faults.clone()).await;
    let gw = start_gateway(&format!("http://{sink}"), "  protocol: http/protobuf", FAST).await;
    send_grpc(gw.grpc_addr().expect("grpc"), trace(1, 1))
        .await
        .expect("accepted");
    eventually("2 spans counted as rejected", WAIT, || {
        gw.metrics().spans_not_delivered.get("rejected") == Some(&2)
    })
    .await;
    let text = scrape(&gw).await;
    assert_balanced(&text);
    assert_eq!(
        metric_sum(&text, "otel_llm_cost_spans_not_delivered_total"),
        2.0
    );
    let m = gw.shutdown().await.metrics;
    assert_eq!(faults.attempts(), 1, "a 400 is never retried");
    assert_eq!(
        (m.export_retries, m.export_failures, m.spans_exported),
        (0, 1, 0)
    );
}

/// Guards: gRPC INVALID_ARGUMENT is permanent too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_grpc_invalid_argument_is_not_retried() {
    let faults = Faults::new(Answer::Grpc(tonic::Code::InvalidArgument));
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    send_grpc(gw.grpc_addr().expect("grpc"), trace(1, 1))
        .await
        .expect("accepted");
    eventually("2 spans rejected", WAIT, || {
        gw.metrics().spans_not_delivered.get("rejected") == Some(&2)
    })
    .await;
    let m = gw.shutdown().await.metrics;
    assert_eq!(faults.attempts(), 1);
    assert_eq!(m.export_retries, 0);
    assert!(m.balanced());
}

/// Guards: retryable answers (gRPC UNAVAILABLE, ABORTED; HTTP 429, 503 with Retry-After) are
/// retried until accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_answers_are_retried_until_accepted() {
    let grpc_faults = Faults::new(Answer::Ok).then(vec![
        Answer::Grpc(tonic::Code::Unavailable),
        Answer::Grpc(tonic::Code::Aborted),
    ]);
    let sink = start_grpc_fault_sink(grpc_faults.clone()).await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    send_grpc(gw.grpc_addr().expect("grpc"), trace(1, 1))
        .await
        .expect("accepted");
    assert_eq!(grpc_faults.captured.wait_for(2, WAIT).await, 2);
    eventually("exported", WAIT, || gw.metrics().spans_exported == 2).await;
    let m = gw.shutdown().await.metrics;
    assert_eq!((grpc_faults.attempts(), m.export_retries), (3, 2));

    let http_faults =
        Faults::new(Answer::Ok).then(vec![Answer::Http(429, Some(0)), Answer::Http(503, Some(0))]);
    let sink = start_http_sink(http_faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "  protocol: http/protobuf\n  compression: none",
        FAST,
    )
    .await;
    send_grpc(gw.grpc_addr().expect("grpc"), trace(2, 1))
        .await
        .expect("accepted");
    assert_eq!(http_faults.captured.wait_for(2, WAIT).await, 2);
    eventually("exported", WAIT, || gw.metrics().spans_exported == 2).await;
    let m = gw.shutdown().await.metrics;
    assert_eq!((http_faults.attempts(), m.export_retries), (3, 2));
    assert!(m.balanced());
}

/// Guards: retries stop at `max_elapsed_time`; the spans are counted as retry_exhausted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_give_up_after_max_elapsed_time_and_count_it() {
    let faults = Faults::new(Answer::Grpc(tonic::Code::Unavailable));
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "  retry: { initial_interval: 20ms, max_interval: 40ms, max_elapsed_time: 200ms }",
        FAST,
    )
    .await;
    send_grpc(gw.grpc_addr().expect("grpc"), trace(1, 1))
        .await
        .expect("accepted");
    eventually("retry_exhausted", WAIT, || {
        gw.metrics().spans_not_delivered.get("retry_exhausted") == Some(&2)
    })
    .await;
    assert!(faults.attempts() >= 2);
    let m = gw.shutdown().await.metrics;
    assert_eq!(m.export_failures, 1);
    assert!(m.balanced());
}

/// Guards: partial success is logged and counted, never retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_success_is_counted_and_not_retried() {
    let faults = Faults::new(Answer::Partial(1));
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    send_grpc(gw.grpc_addr().expect("grpc"), trace(1, 2))
        .await
        .expect("accepted");
    eventually("partial success counted", WAIT, || {
        gw.metrics().spans_not_delivered.get("partial_success") == Some(&1)
    })
    .await;
    let m = gw.shutdown().await.metrics;
    assert_eq!(faults.attempts(), 1);
    assert_eq!((m.spans_exported, m.export_retries), (2, 0));
    assert!(m.balanced());
}

/// Guards: when the export queue is full, senders get the OTLP retryable status (gRPC
/// UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After) instead of being accepted; once the
/// downstream drains the queue, they are accepted again and nothing was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_senders_with_the_retryable_status() {
    let faults = Faults::new(Answer::Grpc(tonic::Code::Unavailable));
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "  max_batch_spans: 1\n  queue: { size: 2, consumers: 1 }",
        "assembly: { root_grace: 0s, trace_timeout: 5s }",
    )
    .await;
    let grpc = gw.grpc_addr().expect("grpc");
    send_grpc(grpc, trace(1, 1))
        .await
        .expect("accepted while there is room");
    eventually("queue full (1 queued + 1 exporting)", WAIT, || {
        let m = gw.metrics();
        m.spans_queued + m.spans_exporting == 2
    })
    .await;
    // gRPC sender: UNAVAILABLE, with a RetryInfo detail.
    let err = send_grpc(grpc, trace(2, 1))
        .await
        .expect_err("refused while full");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("queue full"), "{}", err.message());
    assert!(!err.details().is_empty(), "RetryInfo detail attached");
    // HTTP sender: 503 with Retry-After.
    let (status, headers, _) = post_http(
        gw.http_addr().expect("http"),
        "application/x-protobuf",
        None,
        trace(3, 1).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "1");
    let m = gw.metrics();
    assert_eq!(
        (m.spans_received, m.spans_refused),
        (2, 4),
        "refused spans are not received"
    );
    // Downstream recovers: the queue drains and senders are accepted again.
    faults.set(Answer::Ok);
    eventually("queue drained", WAIT, || gw.metrics().spans_exported == 2).await;
    send_grpc(grpc, trace(2, 1)).await.expect("accepted again");
    eventually("all delivered", WAIT, || gw.metrics().spans_exported == 4).await;
    assert_balanced(&scrape(&gw).await);
    let m = gw.shutdown().await.metrics;
    assert_eq!(
        (m.spans_received, m.spans_exported, m.not_delivered_total()),
        (4, 4, 0)
    );
}

/// Guards: batches stay under max_batch_spans and max_message_bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_stay_under_span_and_byte_limits() {
    let faults = Faults::new(Answer::Ok);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "  max_batch_spans: 3\n  max_message_bytes: 4096\n  queue: { size: 1000, consumers: 1 }",
        FAST,
    )
    .await;
    let padding = "p".repeat(1000);
    let mut spans = vec![span(1, 1, 0, "root", vec![])];
    for i in 0..9u8 {
        spans.push(span(
            1,
            10 + i,
            1,
            "padded",
            vec![kv_str("padding", &padding)],
        ));
    }
    send_grpc(gw.grpc_addr().expect("grpc"), request("svc", spans))
        .await
        .expect("accepted");
    assert_eq!(faults.captured.wait_for(10, WAIT).await, 10);
    let reqs = faults.captured.0.lock().expect("lock").clone();
    assert!(reqs.len() >= 4, "{} requests", reqs.len());
    for r in &reqs {
        let n: usize = r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum();
        assert!(n <= 3, "batch of {n} spans");
        assert!(
            r.encoded_len() <= 4096,
            "request of {} bytes",
            r.encoded_len()
        );
    }
    gw.shutdown().await;
}

/// Guards: shutdown with the downstream down ends by the deadline and counts every span it
/// could not deliver (nothing silently dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_downstream_down_counts_what_was_not_delivered() {
    let faults = Faults::new(Answer::Grpc(tonic::Code::Unavailable));
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        "assembly: { root_grace: 5s, trace_timeout: 10s }\nshutdown: { timeout: 300ms }",
    )
    .await;
    let grpc = gw.grpc_addr().expect("grpc");
    send_grpc(grpc, trace(1, 2)).await.expect("accepted");
    send_grpc(
        grpc,
        request("svc", vec![span(2, 5, 4, "rootless", vec![])]),
    )
    .await
    .expect("accepted");
    assert_eq!(
        gw.metrics().spans_buffered,
        4,
        "still buffered (long root_grace)"
    );
    let report = gw.shutdown().await;
    let m = &report.metrics;
    assert!(!report.drained_in_time);
    assert_eq!(m.traces_released["shutdown"], 2);
    assert_eq!((m.spans_received, m.spans_exported), (4, 0));
    assert_eq!(m.spans_not_delivered["shutdown"], 4);
    assert!(m.balanced(), "{m:?}");
}

/// Guards: shutdown releases buffered traces at once (root present: complete) and delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_buffered_traces_when_the_downstream_is_up() {
    let faults = Faults::new(Answer::Ok);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        "assembly: { root_grace: 10s, trace_timeout: 20s }",
    )
    .await;
    let grpc = gw.grpc_addr().expect("grpc");
    send_grpc(grpc, trace(1, 2)).await.expect("accepted");
    assert_eq!(gw.metrics().spans_buffered, 3);
    let report = gw.shutdown().await;
    assert!(report.drained_in_time);
    assert_eq!(faults.captured.spans().len(), 3);
    let root = by_name(&faults.captured.spans(), "root").clone();
    // Released at shutdown with its root present: complete.
    assert_eq!(
        common::bool_attr(&root.attributes, "cost.complete"),
        Some(true)
    );
    assert_eq!(report.metrics.spans_exported, 3);
}
