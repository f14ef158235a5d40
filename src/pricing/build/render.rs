//! Writes the catalog (schema 2, FORMAT.md): header members one per line, then one model per
//! line for readable diffs; compact JSON, non-ASCII as is. Deterministic: same inputs and date,
//! same bytes.

use std::fmt::Write as _;

use super::model::{BModel, Rule};
use super::units::{thresholds, PriceEntry, RateSet, UnitId};
use crate::money::Rate;
use crate::pricing::SourceFile;

/// A JSON string literal.
fn s(out: &mut String, v: &str) {
    // Serialising a &str cannot fail.
    out.push_str(&serde_json::to_string(v).unwrap_or_default());
}

fn rule(out: &mut String, r: &Rule) {
    let (k, v) = match r {
        Rule::Equals(v) => ("equals", v),
        Rule::StartsWith(v) => ("starts_with", v),
        Rule::EndsWith(v) => ("ends_with", v),
        Rule::Contains(v) => ("contains", v),
        Rule::Regex(v) => ("regex", v),
        Rule::All(parts) => {
            out.push_str("{\"all\":[");
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                rule(out, p);
            }
            out.push_str("]}");
            return;
        }
    };
    let _ = write!(out, "{{\"{k}\":");
    s(out, v);
    out.push('}');
}

/// Rates, then `tiers`: each tier lists every unit that has its own cliff at or below that
/// threshold, so that FORMAT.md's "unlisted = base rate" stays true.
fn rate_set_members(out: &mut String, rs: &RateSet) {
    for (u, t) in rs.iter().filter(|(u, _)| u.unit().field) {
        let _ = write!(out, ",\"{}\":\"{}\"", u.name(), t.base);
    }
    units_object(out, rs.iter().map(|(u, t)| (*u, Some(t.base))));
    let thresholds = thresholds(rs);
    if thresholds.is_empty() {
        return;
    }
    out.push_str(",\"tiers\":[");
    for (i, th) in thresholds.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"above_input_tokens\":{th}");
        for u in UnitId::all().filter(|u| u.unit().field) {
            if let Some(v) = rs.get(&u).and_then(|t| t.at(*th)) {
                let _ = write!(out, ",\"{}\":\"{v}\"", u.name());
            }
        }
        units_object(
            out,
            UnitId::all().map(|u| (u, rs.get(&u).and_then(|t| t.at(*th)))),
        );
        out.push('}');
    }
    out.push(']');
}

/// `,"units":{...}` of the units written there (none: nothing).
fn units_object(out: &mut String, rates: impl Iterator<Item = (UnitId, Option<Rate>)>) {
    let mut first = true;
    for (u, r) in rates {
        let Some(r) = r.filter(|_| !u.unit().field) else {
            continue;
        };
        out.push_str(if first { ",\"units\":{" } else { "," });
        first = false;
        let _ = write!(out, "\"{}\":\"{r}\"", u.name());
    }
    if !first {
        out.push('}');
    }
}

/// One price object, as the catalog writes it (the LiteLLM import reads its prices through it).
pub(crate) fn price(out: &mut String, p: &PriceEntry) {
    out.push_str("{\"effective_from\":");
    match &p.effective_from {
        Some(d) => s(out, d),
        None => out.push_str("null"),
    }
    out.push_str(",\"source\":");
    s(out, p.source);
    rate_set_members(out, &p.rates);
    if !p.service_tiers.is_empty() {
        out.push_str(",\"service_tiers\":{");
        for (i, (st, rs)) in p.service_tiers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            s(out, st);
            out.push(':');
            // a rate set object: its members without the leading comma
            let mut inner = String::new();
            rate_set_members(&mut inner, rs);
            out.push('{');
            out.push_str(inner.strip_prefix(',').unwrap_or(&inner));
            out.push('}');
        }
        out.push('}');
    }
    if !p.variants.is_empty() {
        out.push_str(",\"variants\":[");
        for (i, (when, rs)) in p.variants.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"when\":{");
            for (j, (k, v)) in when.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                s(out, k);
                out.push(':');
                s(out, v);
            }
            out.push('}');
            rate_set_members(out, rs);
            out.push('}');
        }
        out.push(']');
    }
    if !p.windows.is_empty() {
        out.push_str(",\"windows\":[");
        for (i, (start, end, rs)) in p.windows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"start\":");
            s(out, start);
            out.push_str(",\"end\":");
            s(out, end);
            rate_set_members(out, rs);
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
}

fn model(out: &mut String, m: &BModel) {
    out.push_str("{\"id\":");
    s(out, &m.id);
    out.push_str(",\"provider\":");
    s(out, &m.provider);
    if let Some(n) = m.name.as_ref().filter(|n| !n.is_empty()) {
        out.push_str(",\"name\":");
        s(out, n);
    }
    out.push_str(",\"mode\":");
    s(out, &m.mode);
    out.push_str(",\"match\":[");
    for (i, r) in m.rules.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        rule(out, r);
    }
    out.push(']');
    if !m.notes.is_empty() {
        out.push_str(",\"notes\":[");
        for (i, n) in m.notes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            s(out, n);
        }
        out.push(']');
    }
    out.push_str(",\"prices\":[");
    for (i, p) in m.prices.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        price(out, p);
    }
    out.push_str("]}");
}

/// The whole catalog file.
pub(crate) fn catalog(
    day: &str,
    sources: &[SourceFile],
    notes: &[String],
    models: &[BModel],
) -> String {
    let mut out = String::with_capacity(2 << 20);
    out.push_str("{\n\"schema\":2,\n\"catalog_version\":");
    s(&mut out, &day.replace('-', "."));
    out.push_str(",\n\"generated\":");
    s(&mut out, day);
    out.push_str(",\n\"sources\":");
    out.push_str(&serde_json::to_string(sources).unwrap_or_default());
    out.push_str(",\n\"notes\":[");
    for (i, n) in notes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        s(&mut out, n);
    }
    out.push_str("],\n\"models\":[\n");
    for (i, m) in models.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        model(&mut out, m);
    }
    out.push_str("\n]\n}\n");
    out
}
