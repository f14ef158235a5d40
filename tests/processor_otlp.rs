//! End to end over real sockets: provider -> CostSpanProcessor -> BatchSpanProcessor -> OTLP
//! exporter (gRPC and HTTP/protobuf) -> a capture receiver on 127.0.0.1:0; and the exporter
//! placement, provider -> BatchSpanProcessor -> CostSpanExporter -> OTLP exporter (gRPC).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use otel_llm_cost::{CostSpanExporter, CostSpanProcessor};
use prost::Message;

fn emit(provider: &SdkTracerProvider) {
    let tracer = provider.tracer("e2e");
    let root = Context::new().with_span(tracer.start("agent run"));
    let call = tracer
        .span_builder("chat gpt-4o")
        .with_attributes(vec![
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.response.model", "gpt-4o-2024-08-06"),
            KeyValue::new("gen_ai.usage.input_tokens", 1000),
            KeyValue::new("gen_ai.usage.output_tokens", 500),
        ])
        .start_with_context(&tracer, &root);
    drop(call);
    root.span().end();
}

fn resource() -> Resource {
    Resource::builder().with_service_name("e2e-agent").build()
}

/// gpt-4o-2024-08-06 1000 in / 500 out: 1000 x $2.50/M + 500 x $10/M = $0.0075.
const WANT: f64 = 0.0075;

fn check(spans: &[(Option<String>, opentelemetry_proto::tonic::trace::v1::Span)]) {
    assert_eq!(spans.len(), 2, "both spans exported");
    for (service, _) in spans {
        assert_eq!(
            service.as_deref(),
            Some("e2e-agent"),
            "service.name survives (set_resource)"
        );
    }
    let call = spans
        .iter()
        .find(|(_, s)| s.name == "chat gpt-4o")
        .expect("call span");
    let root = spans
        .iter()
        .find(|(_, s)| s.name == "agent run")
        .expect("root span");
    let got = common::f64_attr(&call.1.attributes, "llm.cost.total").expect("llm.cost.total");
    assert!((got - WANT).abs() < 1e-12, "call cost {got}");
    assert_eq!(
        common::str_attr(&call.1.attributes, "cost.pricing.status").as_deref(),
        Some("priced")
    );
    let total =
        common::f64_attr(&root.1.attributes, "cost.total_usd").expect("root cost.total_usd");
    assert!((total - WANT).abs() < 1e-12, "root total {total}");
    assert_eq!(
        common::bool_attr(&root.1.attributes, "cost.complete"),
        Some(true)
    );
    assert!(common::str_attr(&root.1.attributes, "cost.by_model").is_some());
}

/// Pricing around the batch processor, or (`in_exporter`) in front of the exporter.
fn provider_with(exporter: impl SpanExporter + 'static, in_exporter: bool) -> SdkTracerProvider {
    let b = SdkTracerProvider::builder().with_resource(resource());
    if in_exporter {
        b.with_span_processor(
            BatchSpanProcessor::builder(CostSpanExporter::new(exporter).unwrap()).build(),
        )
    } else {
        b.with_span_processor(
            CostSpanProcessor::new(BatchSpanProcessor::builder(exporter).build()).unwrap(),
        )
    }
    .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_arrive_over_otlp_grpc() {
    grpc_roundtrip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_arrive_over_otlp_grpc_when_priced_in_front_of_the_exporter() {
    grpc_roundtrip(true).await;
}

async fn grpc_roundtrip(in_exporter: bool) {
    let (addr, captured) = common::start_grpc_sink().await;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{addr}"))
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let provider = provider_with(exporter, in_exporter);
    emit(&provider);
    let p = provider.clone();
    tokio::task::spawn_blocking(move || p.force_flush())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(captured.wait_for(2, Duration::from_secs(10)).await, 2);
    check(&captured.spans());
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .unwrap();
}

/// A minimal OTLP/HTTP receiver: HTTP/1.1, one request per connection, protobuf bodies.
fn start_http_sink() -> (String, Arc<Mutex<Vec<ExportTraceServiceRequest>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(req) = ExportTraceServiceRequest::decode(body.as_slice()) {
                    store.lock().unwrap().push(req);
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (format!("http://{addr}/v1/traces"), got)
}

#[test]
fn attributes_arrive_over_otlp_http() {
    let (endpoint, got) = start_http_sink();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let provider = provider_with(exporter, false);
    emit(&provider);
    provider.force_flush().unwrap();
    let captured = common::Captured(got);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while captured.spans().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    check(&captured.spans());
    provider.shutdown().unwrap();
}
