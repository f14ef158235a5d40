//! Shared test helpers: a capture OTLP/gRPC receiver on 127.0.0.1:0.
#![allow(dead_code)]

#[cfg(feature = "gateway")]
pub mod gateway;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;

/// Everything a capture receiver got.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

impl Captured {
    /// All spans received, with their resource's `service.name`.
    pub fn spans(&self) -> Vec<(Option<String>, Span)> {
        let reqs = self.0.lock().expect("capture lock");
        let mut out = Vec::new();
        for r in reqs.iter() {
            for rs in &r.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|res| str_attr(&res.attributes, "service.name"));
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push((service.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }

    /// Waits until at least `n` spans arrived (or the timeout passes); returns the count.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let have = self.spans().len();
            if have >= n || tokio::time::Instant::now() >= deadline {
                return have;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct Sink(Captured);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0
             .0
            .lock()
            .expect("capture lock")
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts a capture OTLP/gRPC receiver on 127.0.0.1:0; it stops when the runtime ends.
pub async fn start_grpc_sink() -> (SocketAddr, Captured) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let captured = Captured::default();
    let svc = TraceServiceServer::new(Sink(captured.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await;
    });
    (addr, captured)
}

/// A string attribute.
pub fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().rev().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// A double attribute.
pub fn f64_attr(attrs: &[KeyValue], key: &str) -> Option<f64> {
    attrs.iter().rev().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::DoubleValue(d) => Some(*d),
            _ => None,
        }
    })
}

/// An integer attribute.
pub fn i64_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    attrs.iter().rev().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::IntValue(i) => Some(*i),
            _ => None,
        }
    })
}

/// A boolean attribute.
pub fn bool_attr(attrs: &[KeyValue], key: &str) -> Option<bool> {
    attrs.iter().rev().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::BoolValue(b) => Some(*b),
            _ => None,
        }
    })
}

/// Builds a string `AnyValue`.
pub fn any_str(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.to_owned())),
    })
}
