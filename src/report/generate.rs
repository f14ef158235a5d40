//! A deterministic generator of OTLP/JSON lines (the Collector `file` exporter's format) with
//! agent traces carrying token usage, for benchmarks (`otel-llm-cost report --generate N`).
//!
//! Each trace: a root `agent.run` (with `session.id`, `user.id`), steps `plan`, `research`
//! (1-3 tool + LLM call pairs) and `answer`, each LLM call with usage in the OpenInference or the
//! OTel GenAI convention, a 300-byte prompt attribute, and one call in 50 on a model the
//! catalog does not know. Children are written before their parents (export order); about 512
//! spans a line.

use std::fmt::Write as _;
use std::io::{self, Write};

const MODELS: [&str; 4] = [
    "gpt-4o-2024-08-06",
    "gpt-4o-mini",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
];
const SERVICES: [&str; 3] = ["agent-api", "batch-worker", "support-bot"];
const WORKFLOWS: [&str; 3] = ["answer_question", "summarise_ticket", "nightly-eval"];
const BASE_NANOS: u64 = 1_748_736_000_000_000_000; // 2025-06-01T00:00:00Z
const SPANS_PER_LINE: usize = 512;

/// xorshift64*: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Gen {
    rng: Rng,
    next_id: u64,
    prompt: String,
}

struct SpanOut<'a> {
    trace: &'a str,
    id: u64,
    parent: Option<u64>,
    name: &'a str,
    start: u64,
    end: u64,
    attrs: String,
}

fn write_span(out: &mut String, s: &SpanOut<'_>) {
    if !out.ends_with('[') {
        out.push(',');
    }
    let parent = s.parent.map(|p| format!("{p:016x}")).unwrap_or_default();
    let _ = write!(
        out,
        r#"{{"traceId":"{}","spanId":"{:016x}","parentSpanId":"{parent}","flags":256,"name":"{}","kind":1,"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{}],"status":{{}}}}"#,
        s.trace, s.id, s.name, s.start, s.end, s.attrs
    );
}

fn kv_str(k: &str, v: &str) -> String {
    format!(r#"{{"key":"{k}","value":{{"stringValue":"{v}"}}}}"#)
}

fn kv_int(k: &str, v: u64) -> String {
    format!(r#"{{"key":"{k}","value":{{"intValue":"{v}"}}}}"#)
}

impl Gen {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn llm_attrs(&mut self) -> String {
        let unknown = self.rng.below(50) == 0;
        let model = if unknown {
            "acme-internal-7b"
        } else {
            MODELS[self.rng.below(MODELS.len() as u64) as usize]
        };
        let input = 200 + self.rng.below(8000);
        let output = 20 + self.rng.below(1500);
        let a = if self.rng.below(2) == 0 {
            [
                kv_str("openinference.span.kind", "LLM"),
                kv_str("llm.model_name", model),
                kv_int("llm.token_count.prompt", input),
                kv_int("llm.token_count.completion", output),
                kv_int("llm.token_count.total", input + output),
                kv_str("input.value", &self.prompt),
            ]
        } else {
            [
                kv_str("gen_ai.operation.name", "chat"),
                kv_str("gen_ai.request.model", model),
                kv_int("gen_ai.usage.input_tokens", input),
                kv_int("gen_ai.usage.output_tokens", output),
                kv_int("gen_ai.usage.cache_read.input_tokens", input / 4),
                kv_str("gen_ai.prompt.0.content", &self.prompt),
            ]
        };
        a.join(",")
    }

    /// One trace's spans into `out` (a JSON array being built); returns the span count.
    fn trace(&mut self, n: u64, out: &mut String) -> u64 {
        let trace = format!("{:016x}{:016x}", self.rng.next() | 1, n);
        let root = self.id();
        let t0 = BASE_NANOS + n * 1_000_000_000;
        let mut t = t0;
        let mut count = 0;
        let mut step = |g: &mut Gen, name: &str, calls: u64, out: &mut String, t: &mut u64| {
            let sid = g.id();
            let s0 = *t;
            for _ in 0..calls {
                if name == "research" {
                    let tid = g.id();
                    let d = 5_000_000 + g.rng.below(50_000_000);
                    write_span(
                        out,
                        &SpanOut {
                            trace: &trace,
                            id: tid,
                            parent: Some(sid),
                            name: "tool.search",
                            start: *t,
                            end: *t + d,
                            attrs: kv_str("tool.name", "search"),
                        },
                    );
                    *t += d;
                    count += 1;
                }
                let cid = g.id();
                let d = 200_000_000 + g.rng.below(3_000_000_000);
                let attrs = g.llm_attrs();
                write_span(
                    out,
                    &SpanOut {
                        trace: &trace,
                        id: cid,
                        parent: Some(sid),
                        name: "chat",
                        start: *t,
                        end: *t + d,
                        attrs,
                    },
                );
                *t += d;
                count += 1;
            }
            write_span(
                out,
                &SpanOut {
                    trace: &trace,
                    id: sid,
                    parent: Some(root),
                    name,
                    start: s0,
                    end: *t,
                    attrs: String::new(),
                },
            );
            count += 1;
        };
        step(self, "plan", 1, out, &mut t);
        let k = 1 + self.rng.below(3);
        step(self, "research", k, out, &mut t);
        step(self, "answer", 1, out, &mut t);
        let wf = WORKFLOWS[(n % WORKFLOWS.len() as u64) as usize];
        let attrs = [
            kv_str("session.id", &format!("session-{}", n / 4)),
            kv_str("user.id", &format!("user-{}", n % 97)),
        ]
        .join(",");
        write_span(
            out,
            &SpanOut {
                trace: &trace,
                id: root,
                parent: None,
                name: wf,
                start: t0,
                end: t + 1_000_000,
                attrs,
            },
        );
        count + 1
    }
}

/// Writes at least `spans` spans of agent traces as OTLP/JSON lines; returns the spans written.
pub fn generate_otlp_lines(spans: u64, seed: u64, out: &mut dyn Write) -> io::Result<u64> {
    let mut g = Gen {
        rng: Rng(seed | 1),
        next_id: 0,
        prompt: "Summarise the customer's request and propose the next action. ".repeat(5),
    };
    let mut written = 0u64;
    let mut n = 0u64;
    while written < spans {
        let mut line = String::with_capacity(SPANS_PER_LINE * 700);
        line.push_str(r#"{"resourceSpans":["#);
        let mut in_line = 0usize;
        let mut first = true;
        while in_line < SPANS_PER_LINE && written < spans {
            if !first {
                line.push(',');
            }
            first = false;
            let svc = SERVICES[(n % SERVICES.len() as u64) as usize];
            let _ = write!(
                line,
                r#"{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"scope":{{"name":"openinference.instrumentation.openai"}},"spans":["#,
                kv_str("service.name", svc)
            );
            let c = g.trace(n, &mut line);
            line.push_str("]}]}");
            n += 1;
            written += c;
            in_line += c as usize;
        }
        line.push_str("]}\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(written)
}
