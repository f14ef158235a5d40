//! Values every section parses the same way: Go-style durations, paths relative to the config
//! file's directory, files that must exist.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Where relative paths of the file resolve: the config file's directory; as written (the
/// working directory) when there is none, as for a configuration built in code.
#[derive(Debug, Clone, Copy)]
pub(super) struct BaseDir<'a>(pub(super) Option<&'a Path>);

impl BaseDir<'_> {
    /// `p` resolved against the base directory when relative.
    pub(super) fn resolve(&self, p: &Path) -> PathBuf {
        match self.0 {
            Some(b) if p.is_relative() && !b.as_os_str().is_empty() => b.join(p),
            _ => p.to_owned(),
        }
    }
}

/// A problem for each of `files` (field name, path) that is not a file.
pub(super) fn require_files(section: &str, files: &[(&str, &PathBuf)], problems: &mut Vec<String>) {
    for (name, f) in files {
        if !f.is_file() {
            problems.push(format!(
                "{section}.{name}: '{}' is not a readable file",
                f.display()
            ));
        }
    }
}

pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

pub(super) fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Parses a Go-style duration as the Collector writes them: `150ms`, `2s`, `1m30s`, `1h`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err("empty duration; write e.g. '2s' or '150ms'".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("'{s}': not a duration; write e.g. '2s', '150ms', '1m30s'"))?;
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("'{s}': missing unit (ns, us, ms, s, m, h)")),
            u => return Err(format!("'{s}': unknown unit '{u}' (ns, us, ms, s, m, h)")),
        };
        let nanos = value * nanos_per;
        if !nanos.is_finite() || nanos > 1e18 {
            return Err(format!("'{s}': too long"));
        }
        total += Duration::from_nanos(nanos.round() as u64);
        rest = tail;
    }
    Ok(total)
}
