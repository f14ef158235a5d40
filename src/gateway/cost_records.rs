//! The JSONL cost records (`analytics.records`), written off the async workers.
//!
//! ```text
//! Pipeline::release (tokio worker): trace_records(spans) --try_send, never waits--> channel
//!   (RECORDS_QUEUE_TRACES traces) --> writer thread "otel-llm-cost-records": RecordWriter::write_trace
//! shutdown: close() -> the thread writes what the channel holds, flushes, answers, ends
//! ```
//!
//! A release never waits for the disk: when the channel is full (the disk slower than the
//! traces), that trace's records are dropped, counted (`cost_records_dropped_total{reason=
//! "queue_full"}`) and logged at most once per 10 s; a write that fails is counted as
//! `write_failed` and logged the same way. The spans themselves are exported either way.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::metrics::{LogLimiter, Metrics, RecordsDropped};
use super::proto_span::GatewaySpan;
use crate::records::{trace_records, RecordWriter, TraceRecords};

/// Traces whose records may wait for the writer thread; beyond it they are dropped (counted).
pub(crate) const RECORDS_QUEUE_TRACES: usize = 1024;

enum Msg {
    Trace(Box<TraceRecords>),
    Close(oneshot::Sender<()>),
}

/// The sending side, held by the pipeline.
#[derive(Debug)]
pub(crate) struct CostRecords {
    tx: mpsc::Sender<Msg>,
    prefix: String,
    metrics: Arc<Metrics>,
    full_log: LogLimiter,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Trace(_) => "Trace",
            Msg::Close(_) => "Close",
        })
    }
}

impl CostRecords {
    /// Starts the writer thread over `writer`; records read the attributes under `prefix`.
    pub(crate) fn start(
        writer: RecordWriter,
        prefix: &str,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<CostRecords> {
        let (tx, rx) = mpsc::channel(RECORDS_QUEUE_TRACES);
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("otel-llm-cost-records".into())
            .spawn(move || run(writer, rx, &thread_metrics))?;
        Ok(CostRecords {
            tx,
            prefix: prefix.to_owned(),
            metrics,
            full_log: LogLimiter::new(Duration::from_secs(10)),
        })
    }

    /// Hands the records of one priced trace to the writer thread; never waits.
    pub(crate) fn write_trace(&self, spans: &[GatewaySpan], complete: bool) {
        let records = trace_records(spans, complete, &self.prefix);
        let reason = match self.tx.try_send(Msg::Trace(Box::new(records))) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => RecordsDropped::QueueFull,
            Err(mpsc::error::TrySendError::Closed(_)) => RecordsDropped::Closed,
        };
        self.metrics.records_dropped(reason);
        if let Some(suppressed) = self.full_log.allow() {
            tracing::warn!(
                reason = reason.as_str(),
                suppressed,
                "cost records: a trace's records were dropped (counted in otel_llm_cost_cost_records_dropped_total)"
            );
        }
    }

    /// Waits until the writer thread wrote every record handed to it, then ends it (shutdown).
    pub(crate) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// The writer thread: writes until closed (then what the channel still holds) or until every
/// sender is gone.
fn run(mut writer: RecordWriter, mut rx: mpsc::Receiver<Msg>, metrics: &Metrics) {
    let failed_log = LogLimiter::new(Duration::from_secs(10));
    let mut write = |records: TraceRecords| {
        if let Err(e) = writer.write_trace(records) {
            metrics.records_dropped(RecordsDropped::WriteFailed);
            if let Some(suppressed) = failed_log.allow() {
                tracing::warn!(error = %e, suppressed, "cost records: write failed");
            }
        }
    };
    let mut replies = Vec::new();
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Trace(records) => write(*records),
            Msg::Close(reply) => {
                // Later sends fail (counted as `closed`); what was sent before is written.
                rx.close();
                replies.push(reply);
            }
        }
    }
    let _ = writer.flush();
    for reply in replies {
        let _ = reply.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(name: &str) -> (std::path::PathBuf, RecordWriter) {
        let dir =
            std::env::temp_dir().join(format!("olc-cost-records-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("costs.jsonl");
        let _ = std::fs::remove_file(&path);
        let w = RecordWriter::open(&path).expect("opens");
        (dir, w)
    }

    fn trace(t: u8) -> Vec<GatewaySpan> {
        vec![crate::gateway::proto_span::tests::span(t, 1, 0, &[])]
    }

    #[tokio::test]
    async fn records_are_written_by_the_thread_and_close_waits_for_them() {
        let (dir, w) = writer("close");
        let metrics = Arc::new(Metrics::default());
        let r = CostRecords::start(w, "cost.", metrics.clone()).expect("starts");
        for t in 1..=3 {
            r.write_trace(&trace(t), true);
        }
        r.close().await;
        let text = std::fs::read_to_string(dir.join("costs.jsonl")).expect("written");
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(r#"{"type":"trace""#))
                .count(),
            3,
            "{text}"
        );
        // After close, records are counted as dropped, not lost silently.
        r.write_trace(&trace(4), true);
        assert_eq!(metrics.records_dropped_total(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_full_channel_drops_and_counts_instead_of_waiting() {
        let (dir, w) = writer("full");
        let metrics = Arc::new(Metrics::default());
        // A channel nobody reads: the release side must not wait once it is full.
        let (tx, _rx) = mpsc::channel(RECORDS_QUEUE_TRACES);
        let r = CostRecords {
            tx,
            prefix: "cost.".into(),
            metrics: metrics.clone(),
            full_log: LogLimiter::new(Duration::from_secs(10)),
        };
        for _ in 0..RECORDS_QUEUE_TRACES + 5 {
            r.write_trace(&trace(1), true);
        }
        assert_eq!(metrics.records_dropped_total(), 5);
        drop(w);
        std::fs::remove_dir_all(&dir).ok();
    }
}
