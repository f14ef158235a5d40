//! genai-prices' conditional prices beyond a dated history, in the builder's model: price
//! variants (`when: {key: value}` request context -> partial prices, maybe dated) and
//! time-of-day prices; and what catalog schema 1 keeps of them (the rules of the former
//! `catalog/generate.py`, catalog/README.md rules 12 and 12a).
//!
//! ```text
//! genai.rs reads -> Variant / TimeOfDayPrice (every key, every window, every unit we know)
//!                -> schema1(): batch / flex / priority variants become service tiers;
//!                   the rest is counted in the notes (issue 15's schema 2 writes it)
//! ```
//!
//! genai-prices (`ModelInfo.get_prices`, 0.2.3) applies a variant when every `when` pair equals
//! the request's context (exact, case-sensitive) and its constraint is active; the variants are
//! resolved first to last independently for each price key (the first active match of a key
//! wins), over the standard price in force.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::notes::Notes;
use super::units::{over, PriceEntry, RateSet, Tiered, UnitId};
use crate::pricing::model::parse_date;
use crate::pricing::Date;

/// When a genai-prices price applies (`StartDateConstraint` / `TimeOfDateConstraint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Constraint {
    /// From this UTC day on.
    StartDate(Date),
    /// Every day from `start` (included) to `end` (excluded), UTC; an `end` before `start`
    /// wraps midnight.
    TimeOfDay { start: ClockTime, end: ClockTime },
}

/// A time of day as the feed writes it (`01:00:00+00:00`), and the UTC time it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClockTime {
    /// As written (the notes quote it).
    pub text: String,
    /// In UTC (a naive time is UTC, as genai-prices reads it).
    pub utc: time::Time,
}

impl ClockTime {
    /// `HH:MM[:SS[.f]]` with an optional `Z` or `±HH:MM` offset (pydantic's `time`).
    pub(crate) fn parse(text: &str) -> Option<ClockTime> {
        let (clock, offset_secs) = split_offset(text)?;
        let fmt = time::macros::format_description!(
            "[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
        );
        let local = time::Time::parse(clock, &fmt).ok()?;
        Some(ClockTime {
            text: text.to_owned(),
            utc: local - time::Duration::seconds(offset_secs),
        })
    }
}

/// The clock part and the UTC offset in seconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(clock) = text.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    // The offset's sign comes after the minutes (HH:MM...), never at the start.
    let Some(at) = text.rfind(['+', '-']).filter(|&i| i >= 5) else {
        return Some((text, 0));
    };
    let (clock, off) = text.split_at(at);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    (h < 24 && m < 60).then_some((clock, sign * (h * 3600 + m * 60)))
}

impl Constraint {
    /// Reads a constraint object. `Ok(None)`: none (absent, `null` or `{}`); `Err`: neither a
    /// start date nor a time-of-day window, or a malformed one.
    pub(crate) fn read(v: Option<&serde_json::Value>) -> Result<Option<Constraint>, ()> {
        let Some(obj) = v.and_then(|v| v.as_object()).filter(|o| !o.is_empty()) else {
            return match v {
                None | Some(serde_json::Value::Null | serde_json::Value::Object(_)) => Ok(None),
                Some(_) => Err(()),
            };
        };
        let field = |k: &str| obj.get(k).and_then(|v| v.as_str());
        if let (Some(start), Some(end)) = (field("start_time"), field("end_time")) {
            return match (ClockTime::parse(start), ClockTime::parse(end)) {
                (Some(start), Some(end)) => Ok(Some(Constraint::TimeOfDay { start, end })),
                _ => Err(()),
            };
        }
        match field("start_date").map(parse_date) {
            Some(Ok(d)) => Ok(Some(Constraint::StartDate(d))),
            _ => Err(()),
        }
    }
}

/// A price in force during a daily window (a `ConditionalPrice` with a time-of-day constraint).
#[derive(Debug, Clone)]
pub(crate) struct TimeOfDayPrice {
    pub start: ClockTime,
    pub end: ClockTime,
    /// Its prices, in the feed's order (the note lists them so).
    pub rates: Vec<(UnitId, Tiered)>,
}

/// A price variant: partial prices selected by request context values.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// The context keys and values that select it (`processing: batch`, `speed: fast`,
    /// `service_tier: priority`, `route: mistral/eu` ...); all must match.
    pub when: BTreeMap<String, String>,
    /// The units it prices (the others: the standard price's).
    pub rates: RateSet,
    pub constraint: Option<Constraint>,
}

/// The `when` that schema 1 writes as a service tier, and the one that is the standard price.
const SERVICE_TIER_WHEN: [((&str, &str), &str); 3] = [
    (("processing", "batch"), "batch"),
    (("service_tier", "flex"), "flex"),
    (("service_tier", "priority"), "priority"),
];
const STANDARD_WHEN: (&str, &str) = ("service_tier", "default");

fn is_exactly(when: &BTreeMap<String, String>, (k, v): (&str, &str)) -> bool {
    when.len() == 1 && when.get(k).is_some_and(|x| x == v)
}

/// `when` as Python's `json.dumps(when, sort_keys=True)` writes it (the notes' examples).
fn python_json(when: &BTreeMap<String, String>) -> String {
    fn string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(c),
                _ => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{u:04x}");
                    }
                }
            }
        }
        out.push('"');
    }
    let mut out = String::from("{");
    for (i, (k, v)) in when.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(&mut out, k);
        out.push_str(": ");
        string(&mut out, v);
    }
    out.push('}');
    out
}

/// What the catalog keeps of a model's variants and time-of-day prices. `entries`: its dated
/// history (ascending); `variant_notes[i]`: what reading variant `i`'s prices noted (counted
/// for the variants written, in feed order); `what`: `provider/model`. Returns the model's
/// notes.
///
/// - A time-of-day price becomes a window (schema 2) of every entry: its rates over the
///   entry's standard ones. genai-prices lists windows after the dated prices and uses the last
///   active price, so a window wins over every dated price while it is open.
/// - A variant whose `when` is exactly `processing: batch`, `service_tier: flex` or
///   `service_tier: priority` becomes that service tier; any other `when` (`speed: fast`,
///   OpenAI `service_tier: fast`, `route`, `search_type` ...) a variant (schema 2), in feed
///   order. Either way its rates go over the standard ones of the price entries it overlaps. Of
///   several variants of one `when`, each entry (in force over `[effective_from, next
///   effective_from)`) takes the newest starting before the entry ends (the first listed on a
///   tie); one starting after the entry's own date is attached to it (noted), as the catalog
///   has no separate date for variants.
/// - `service_tier: default` is the standard price itself; a variant with a time-of-day
///   window is skipped (counted: the catalog has no variant-in-a-window).
pub(crate) fn schema1(
    entries: &mut [PriceEntry],
    variants: &[Variant],
    variant_notes: Vec<Notes>,
    time_of_day: &[TimeOfDayPrice],
    what: &str,
    notes: &mut Notes,
) -> Vec<String> {
    let mut model_notes: Vec<String> = Vec::new();
    for t in time_of_day {
        notes.add("genai-prices time-of-day prices written as windows", what);
        let own: RateSet = t.rates.iter().cloned().collect();
        let clock = |c: &ClockTime| {
            let (h, m, s) = c.utc.as_hms();
            format!("{h:02}:{m:02}:{s:02}")
        };
        for e in entries.iter_mut() {
            let full = over(&e.rates, &own);
            e.windows.push((clock(&t.start), clock(&t.end), full));
        }
    }
    // (entry, when) -> (start or "", variant index): the newest start wins, then the first
    // listed.
    let mut chosen: BTreeMap<(usize, String), (String, Reverse<usize>)> = BTreeMap::new();
    for (vi, (var, read_notes)) in variants.iter().zip(variant_notes).enumerate() {
        if is_exactly(&var.when, STANDARD_WHEN) {
            continue;
        }
        let start = match &var.constraint {
            None => String::new(),
            Some(Constraint::StartDate(d)) => d.to_string(),
            Some(Constraint::TimeOfDay { .. }) => {
                notes.add(
                    "genai-prices price variants skipped (non-date constraint)",
                    what,
                );
                continue;
            }
        };
        notes.absorb(read_notes);
        let key = python_json(&var.when);
        if !SERVICE_TIER_WHEN
            .iter()
            .any(|(w, _)| is_exactly(&var.when, *w))
        {
            notes.add(
                "genai-prices price variants written (other than batch/flex/priority)",
                format!("{what} {key}"),
            );
        }
        for i in 0..entries.len() {
            let next = entries.get(i + 1).and_then(|e| e.effective_from.as_deref());
            if next.is_some_and(|n| !start.is_empty() && start.as_str() >= n) {
                continue; // starts after this entry was superseded
            }
            let cand = (start.clone(), Reverse(vi));
            let best = chosen
                .entry((i, key.clone()))
                .or_insert_with(|| cand.clone());
            if cand > *best {
                *best = cand;
            }
        }
    }
    let mut picked: Vec<(usize, String, String, usize)> = chosen
        .into_iter()
        .map(|((i, key), (start, Reverse(vi)))| (i, key, start, vi))
        .collect();
    picked.sort_by_key(|(i, _, _, vi)| (*i, *vi)); // feed order: the variants' precedence
    for (i, key, start, vi) in picked {
        let var = &variants[vi];
        let e = &mut entries[i];
        let full = over(&e.rates, &var.rates); // unlisted units at the standard rate
        let tier = SERVICE_TIER_WHEN
            .iter()
            .find(|(w, _)| is_exactly(&var.when, *w))
            .map(|(_, t)| *t);
        let name = match tier {
            Some(t) => {
                e.service_tiers.insert(t, full);
                t.to_owned()
            }
            None => {
                e.variants.push((var.when.clone(), full));
                key
            }
        };
        if !start.is_empty() && start.as_str() > e.effective_from.as_deref().unwrap_or("") {
            notes.add(
                "genai-prices dated variants attached to the price in force on their start date",
                format!("{what} {name}@{start}"),
            );
            model_notes.push(format!(
                "genai-prices: {name} rates apply from {start}; attached to the price in force since {}",
                e.effective_from.as_deref().unwrap_or("the start")
            ));
        }
    }
    model_notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u8, m: u8) -> time::Time {
        time::Time::from_hms(h, m, 0).unwrap()
    }

    #[test]
    fn clock_times_are_read_in_utc_as_genai_prices_reads_them() {
        let cases = [
            ("16:30:00+00:00", Some(hm(16, 30))),
            ("16:30", Some(hm(16, 30))), // naive: UTC
            ("12:00:00Z", Some(hm(12, 0))),
            ("01:00:00+02:00", Some(hm(23, 0))), // wraps back over midnight
            ("23:30:00-01:30", Some(hm(1, 0))),  // and forward
            ("10:15+0100", Some(hm(9, 15))),
            ("25:00:00", None),
            ("12:00:00+2", None),
            ("12:00:00+24:00", None),
            ("noon", None),
            ("", None),
        ];
        for (text, utc) in cases {
            assert_eq!(ClockTime::parse(text).map(|c| c.utc), utc, "{text}");
        }
        let c = ClockTime::parse("08:00:00.5+00:00").unwrap();
        assert_eq!(c.utc, time::Time::from_hms_milli(8, 0, 0, 500).unwrap());
        assert_eq!(c.text, "08:00:00.5+00:00");
    }

    #[test]
    fn constraints_are_a_start_date_a_window_nothing_or_refused() {
        let read = |j: &str| Constraint::read(Some(&serde_json::from_str(j).unwrap()));
        assert_eq!(Constraint::read(None), Ok(None));
        assert_eq!(read("null"), Ok(None));
        assert_eq!(read("{}"), Ok(None));
        assert_eq!(
            read(r#"{"start_date": "2025-06-10"}"#),
            Ok(Some(Constraint::StartDate("2025-06-10".parse().unwrap())))
        );
        let Ok(Some(Constraint::TimeOfDay { start, end })) =
            read(r#"{"start_time": "16:30:00+00:00", "end_time": "00:30:00+00:00"}"#)
        else {
            panic!("not a window");
        };
        assert_eq!((start.utc, end.utc), (hm(16, 30), hm(0, 30)));
        for bad in [
            r#"{"start_date": "June 2025"}"#,
            r#"{"start_time": "16:30", "end_time": "late"}"#,
            r#"{"start_time": "16:30"}"#,
            r#"{"after": "2025-06-10"}"#,
            r#""2025-06-10""#,
        ] {
            assert_eq!(read(bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn when_is_written_as_pythons_json_dumps_sorted() {
        let when: BTreeMap<String, String> = [
            ("speed", "fast"),
            ("route", "eu/zürich \"a\\b\"\n\t\u{1}\u{7f}😀"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            python_json(&when),
            r#"{"route": "eu/z\u00fcrich \"a\\b\"\n\t\u0001\u007f\ud83d\ude00", "speed": "fast"}"#
        );
    }
}
