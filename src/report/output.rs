//! The report as a table (for people), JSON, or CSV (one long table with a `section` column).

use std::io::{self, Write};

use super::{ChargeColumns, Report, TraceRow};
use crate::money::Usd;

/// `$1.234568`: rounded half up to the micro-dollar (tables only; JSON and CSV are exact).
fn money(u: Usd) -> String {
    const MICRO: u128 = 1_000_000_000; // femto per micro-dollar
    let micros = (u.femto() + MICRO / 2) / MICRO;
    format!(
        "${}.{:06}",
        group_digits(micros / 1_000_000),
        micros % 1_000_000
    )
}

/// The cost cell: `-` when every call was unpriced (an unknown model is never shown as $0).
fn cost_cell(u: Usd, calls: u64, unpriced: u64) -> String {
    if calls > 0 && unpriced >= calls {
        "-".to_owned()
    } else {
        money(u)
    }
}

/// `12,345`.
fn group_digits(n: impl std::fmt::Display) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(v: Option<u32>) -> String {
    v.map_or_else(|| "-".into(), group_digits)
}

fn avg(v: f64) -> String {
    format!("{v:.1}")
}

/// Writes aligned columns; `right[i]` right-aligns column i.
fn table(w: &mut dyn Write, head: &[&str], right: &[bool], rows: &[Vec<String>]) -> io::Result<()> {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |w: &mut dyn Write, cells: &[String]| -> io::Result<()> {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if i > 0 {
                s.push_str("  ");
            }
            if right[i] {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(w, &head.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())?;
    for r in rows {
        line(w, r)?;
    }
    Ok(())
}

/// The charge columns of the tables, after COST (when the report has charges beyond tokens).
const CHARGE_HEADS: [&str; 6] = [
    "TOKENS",
    "MEDIA IN",
    "MEDIA OUT",
    "TOOL CALLS",
    "PER UNIT",
    "UNPRICED UNITS",
];

fn charge_cells(c: &ChargeColumns) -> [String; 6] {
    [
        money(c.token_usd),
        money(c.media_input_usd),
        money(c.media_output_usd),
        money(c.tool_calls_usd),
        money(c.per_unit_usd),
        group_digits(c.unpriced_units),
    ]
}

/// [`table`], with the charge columns after column `at` when the rows have them (all or none).
fn table_charged(
    w: &mut dyn Write,
    head: &[&str],
    right: &[bool],
    mut rows: Vec<Vec<String>>,
    charges: &[Option<ChargeColumns>],
    at: usize,
) -> io::Result<()> {
    if !charges.iter().any(Option::is_some) {
        return table(w, head, right, &rows);
    }
    let mut head = head.to_vec();
    let mut right = right.to_vec();
    head.splice(at..at, CHARGE_HEADS);
    right.splice(at..at, [true; 6]);
    for (r, c) in rows.iter_mut().zip(charges) {
        let cells = c.as_ref().map(charge_cells).unwrap_or_default();
        r.splice(at..at, cells);
    }
    table(w, &head, &right, &rows)
}

fn trace_cells(t: &TraceRow) -> Vec<String> {
    vec![
        t.trace_id.clone(),
        t.workflow.clone().unwrap_or_else(|| "-".into()),
        t.service.clone().unwrap_or_else(|| "-".into()),
        group_digits(t.llm_calls),
        group_digits(t.unpriced_calls),
        cost_cell(t.total_usd, t.llm_calls, t.unpriced_calls),
        group_digits(t.duration_ms),
        ms(t.p50_ms),
        ms(t.p95_ms),
        if t.complete { "yes" } else { "no" }.into(),
    ]
}

impl Report {
    /// Writes the report as text tables, for people. Money is rounded to $0.000001.
    pub fn write_table(&self, w: &mut dyn Write) -> io::Result<()> {
        let s = &self.summary;
        let incomplete = if s.incomplete_traces > 0 {
            format!(" ({} incomplete)", group_digits(s.incomplete_traces))
        } else {
            String::new()
        };
        let unpriced = if s.unpriced_calls > 0 {
            format!(" ({} unpriced)", group_digits(s.unpriced_calls))
        } else {
            String::new()
        };
        writeln!(
            w,
            "Cost report: {} traces{incomplete}, {} LLM calls{unpriced}, total {}",
            group_digits(s.traces),
            group_digits(s.llm_calls),
            money(s.total_usd)
        )?;
        writeln!(
            w,
            "Tokens: {} in, {} out. Span: {} ms. LLM call latency (ms): p50 {}, p95 {}, p99 {}",
            group_digits(s.input_tokens),
            group_digits(s.output_tokens),
            group_digits(s.duration_ms),
            ms(s.p50_ms),
            ms(s.p95_ms),
            ms(s.p99_ms)
        )?;
        if let Some(c) = &s.charges {
            writeln!(
                w,
                "Charges: tokens {}, media in {}, media out {}, tool calls {}, per unit {}; {} units unpriced",
                money(c.token_usd),
                money(c.media_input_usd),
                money(c.media_output_usd),
                money(c.tool_calls_usd),
                money(c.per_unit_usd),
                group_digits(c.unpriced_units)
            )?;
        }
        let i = &self.input;
        writeln!(
            w,
            "Input: {} inputs, {} spans, {} cost records, {} errors, {} late spans, {} repeated spans, {} traces released early",
            i.inputs, i.spans, i.records, i.errors, i.late_spans, i.duplicate_spans, i.evicted_traces
        )?;
        if !self.groups.is_empty() {
            writeln!(w, "\nBy {}", self.group_by)?;
            let rows: Vec<Vec<String>> = self
                .groups
                .iter()
                .map(|g| {
                    vec![
                        g.key.clone(),
                        group_digits(g.traces),
                        group_digits(g.llm_calls),
                        group_digits(g.unpriced_calls),
                        money(g.total_usd),
                        format!("{:.1}%", g.pct),
                        money(g.avg_usd_per_trace),
                        group_digits(g.duration_ms),
                        ms(g.p50_ms),
                        ms(g.p95_ms),
                        ms(g.p99_ms),
                    ]
                })
                .collect();
            let charges: Vec<_> = self.groups.iter().map(|g| g.charges).collect();
            table_charged(
                w,
                &[
                    "GROUP",
                    "TRACES",
                    "CALLS",
                    "UNPRICED",
                    "COST",
                    "SHARE",
                    "PER TRACE",
                    "SPAN MS",
                    "P50 MS",
                    "P95 MS",
                    "P99 MS",
                ],
                &[
                    false, true, true, true, true, true, true, true, true, true, true,
                ],
                rows,
                &charges,
                5,
            )?;
        }
        if !self.models.is_empty() {
            writeln!(w, "\nBy model")?;
            let rows: Vec<Vec<String>> = self
                .models
                .iter()
                .map(|m| {
                    vec![
                        m.model.clone(),
                        group_digits(m.calls),
                        group_digits(m.unpriced_calls),
                        cost_cell(m.cost_usd, m.calls, m.unpriced_calls),
                        format!("{:.1}%", m.pct),
                        avg(m.avg_input_tokens),
                        avg(m.avg_output_tokens),
                        ms(m.p50_ms),
                        ms(m.p95_ms),
                        ms(m.p99_ms),
                    ]
                })
                .collect();
            let charges: Vec<_> = self.models.iter().map(|m| m.charges).collect();
            table_charged(
                w,
                &[
                    "MODEL", "CALLS", "UNPRICED", "COST", "SHARE", "AVG IN", "AVG OUT", "P50 MS",
                    "P95 MS", "P99 MS",
                ],
                &[false, true, true, true, true, true, true, true, true, true],
                rows,
                &charges,
                4,
            )?;
        }
        if !self.steps.is_empty() {
            writeln!(w, "\nBy step")?;
            let rows: Vec<Vec<String>> = self
                .steps
                .iter()
                .map(|m| {
                    vec![
                        m.step.clone(),
                        group_digits(m.calls),
                        group_digits(m.unpriced_calls),
                        cost_cell(m.cost_usd, m.calls, m.unpriced_calls),
                        format!("{:.1}%", m.pct),
                        avg(m.avg_input_tokens),
                        avg(m.avg_output_tokens),
                    ]
                })
                .collect();
            let charges: Vec<_> = self.steps.iter().map(|m| m.charges).collect();
            table_charged(
                w,
                &[
                    "STEP", "CALLS", "UNPRICED", "COST", "SHARE", "AVG IN", "AVG OUT",
                ],
                &[false, true, true, true, true, true, true],
                rows,
                &charges,
                4,
            )?;
        }
        if !self.top_traces.is_empty() {
            writeln!(w, "\nTop {} traces by cost", self.top_traces.len())?;
            let rows: Vec<Vec<String>> = self.top_traces.iter().map(trace_cells).collect();
            let charges: Vec<_> = self.top_traces.iter().map(|t| t.charges).collect();
            table_charged(
                w,
                &[
                    "TRACE",
                    "WORKFLOW",
                    "SERVICE",
                    "CALLS",
                    "UNPRICED",
                    "COST",
                    "DURATION MS",
                    "P50 MS",
                    "P95 MS",
                    "COMPLETE",
                ],
                &[
                    false, false, false, true, true, true, true, true, true, false,
                ],
                rows,
                &charges,
                6,
            )?;
        }
        Ok(())
    }

    /// Writes the report as pretty JSON (money as exact decimal strings).
    pub fn write_json(&self, w: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, self).map_err(io::Error::other)?;
        writeln!(w)
    }

    /// Writes the report as one CSV table (RFC 4180), a row per total, group, model, step and
    /// top trace, told apart by the `section` column; money exact. Columns that do not apply
    /// to a section are empty. When the report has charges beyond tokens, six columns follow
    /// the others: `token_usd`, `media_input_usd`, `media_output_usd`, `tool_calls_usd`,
    /// `per_unit_usd`, `unpriced_units` ([`ChargeColumns`]).
    pub fn write_csv(&self, w: &mut dyn Write) -> io::Result<()> {
        const HEAD: [&str; 17] = [
            "section",
            "key",
            "label",
            "traces",
            "llm_calls",
            "unpriced_calls",
            "cost_usd",
            "pct",
            "avg_input_tokens",
            "avg_output_tokens",
            "input_tokens",
            "output_tokens",
            "duration_ms",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "complete",
        ];
        const CHARGE_HEAD: [&str; 6] = [
            "token_usd",
            "media_input_usd",
            "media_output_usd",
            "tool_calls_usd",
            "per_unit_usd",
            "unpriced_units",
        ];
        let shown = self.summary.charges.is_some();
        let mut head = HEAD.to_vec();
        if shown {
            head.extend(CHARGE_HEAD);
        }
        writeln!(w, "{}", head.join(","))?;
        let mut put = |r: CsvRow| -> io::Result<()> {
            let cells: Vec<String> = r.cells(shown).iter().map(|c| csv_field(c)).collect();
            writeln!(w, "{}", cells.join(","))
        };
        let s = &self.summary;
        put(CsvRow {
            section: "total",
            key: "all".into(),
            traces: Some(s.traces.to_string()),
            llm_calls: s.llm_calls.to_string(),
            unpriced_calls: s.unpriced_calls.to_string(),
            cost_usd: s.total_usd.to_string(),
            pct: Some(if s.total_usd.is_zero() { "0" } else { "100" }.into()),
            tokens: Some((s.input_tokens, s.output_tokens)),
            duration_ms: Some(s.duration_ms),
            latency: Some([s.p50_ms, s.p95_ms, s.p99_ms]),
            charges: s.charges,
            ..CsvRow::default()
        })?;
        for g in &self.groups {
            put(CsvRow {
                section: "group",
                key: g.key.clone(),
                label: self.group_by.clone(),
                traces: Some(g.traces.to_string()),
                llm_calls: g.llm_calls.to_string(),
                unpriced_calls: g.unpriced_calls.to_string(),
                cost_usd: g.total_usd.to_string(),
                pct: Some(g.pct.to_string()),
                tokens: Some((g.input_tokens, g.output_tokens)),
                duration_ms: Some(g.duration_ms),
                latency: Some([g.p50_ms, g.p95_ms, g.p99_ms]),
                charges: g.charges,
                ..CsvRow::default()
            })?;
        }
        for m in &self.models {
            put(CsvRow {
                section: "model",
                key: m.model.clone(),
                llm_calls: m.calls.to_string(),
                unpriced_calls: m.unpriced_calls.to_string(),
                cost_usd: m.cost_usd.to_string(),
                pct: Some(m.pct.to_string()),
                avg_tokens: Some((m.avg_input_tokens, m.avg_output_tokens)),
                latency: Some([m.p50_ms, m.p95_ms, m.p99_ms]),
                charges: m.charges,
                ..CsvRow::default()
            })?;
        }
        for m in &self.steps {
            put(CsvRow {
                section: "step",
                key: m.step.clone(),
                llm_calls: m.calls.to_string(),
                unpriced_calls: m.unpriced_calls.to_string(),
                cost_usd: m.cost_usd.to_string(),
                pct: Some(m.pct.to_string()),
                avg_tokens: Some((m.avg_input_tokens, m.avg_output_tokens)),
                charges: m.charges,
                ..CsvRow::default()
            })?;
        }
        for t in &self.top_traces {
            put(CsvRow {
                section: "trace",
                key: t.trace_id.clone(),
                label: t.workflow.clone().unwrap_or_default(),
                traces: Some("1".into()),
                llm_calls: t.llm_calls.to_string(),
                unpriced_calls: t.unpriced_calls.to_string(),
                cost_usd: t.total_usd.to_string(),
                tokens: Some((t.input_tokens, t.output_tokens)),
                duration_ms: Some(t.duration_ms),
                latency: Some([t.p50_ms, t.p95_ms, t.p99_ms]),
                complete: Some(t.complete),
                charges: t.charges,
                ..CsvRow::default()
            })?;
        }
        Ok(())
    }
}

/// One CSV row; a section leaves the columns that do not apply to it empty (`None`).
#[derive(Default)]
struct CsvRow {
    section: &'static str,
    key: String,
    label: String,
    traces: Option<String>,
    llm_calls: String,
    unpriced_calls: String,
    cost_usd: String,
    pct: Option<String>,
    avg_tokens: Option<(f64, f64)>,
    tokens: Option<(u64, u64)>,
    duration_ms: Option<u64>,
    /// p50, p95, p99 (a percentile may be unknown: empty).
    latency: Option<[Option<u32>; 3]>,
    complete: Option<bool>,
    charges: Option<ChargeColumns>,
}

impl CsvRow {
    /// The row's cells; `charges`: with the six charge columns.
    fn cells(self, charges: bool) -> Vec<String> {
        fn or_empty<T: ToString>(v: Option<T>) -> String {
            v.map(|x| x.to_string()).unwrap_or_default()
        }
        let [p50, p95, p99] = self.latency.unwrap_or_default();
        let mut cells = vec![
            self.section.to_owned(),
            self.key,
            self.label,
            self.traces.unwrap_or_default(),
            self.llm_calls,
            self.unpriced_calls,
            self.cost_usd,
            self.pct.unwrap_or_default(),
            or_empty(self.avg_tokens.map(|t| t.0)),
            or_empty(self.avg_tokens.map(|t| t.1)),
            or_empty(self.tokens.map(|t| t.0)),
            or_empty(self.tokens.map(|t| t.1)),
            or_empty(self.duration_ms),
            or_empty(p50),
            or_empty(p95),
            or_empty(p99),
            or_empty(self.complete),
        ];
        if charges {
            let c = self.charges;
            cells.extend([
                or_empty(c.map(|c| c.token_usd)),
                or_empty(c.map(|c| c.media_input_usd)),
                or_empty(c.map(|c| c.media_output_usd)),
                or_empty(c.map(|c| c.tool_calls_usd)),
                or_empty(c.map(|c| c.per_unit_usd)),
                or_empty(c.map(|c| c.unpriced_units)),
            ]);
        }
        cells
    }
}

/// Quotes a field when it holds a comma, quote, line break or edge space.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_rounds_to_the_micro_dollar() {
        assert_eq!(money(Usd::parse("0.0000125").unwrap()), "$0.000013");
        assert_eq!(money(Usd::parse("1234.5").unwrap()), "$1,234.500000");
        assert_eq!(money(Usd::ZERO), "$0.000000");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(1234567u64), "1,234,567");
        assert_eq!(group_digits(123u64), "123");
    }
}
