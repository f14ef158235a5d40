//! Streaming aggregates: exact money sums, counts, and the latencies kept for percentiles.

use crate::money::Usd;
use crate::records::{CallRecord, CHARGES};

/// The names of [`CHARGES`] (`media_input`, `media_output`, `tool_calls`, `per_unit`).
pub(crate) const CHARGE_NAMES: [&str; 4] = [CHARGES[0].0, CHARGES[1].0, CHARGES[2].0, CHARGES[3].0];

/// The charges of calls beyond tokens (`cost.charges.*`), exact, and the units no rate priced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Charges {
    /// In [`CHARGES`] order: media input, media output, tool calls, per unit.
    pub usd: [Usd; 4],
    pub unpriced_units: u64,
}

impl Charges {
    /// A call record's charges; a value that is not a dollar amount or a kind the records do not
    /// name is an error (naming it), and the rest is kept.
    pub(crate) fn of(c: &CallRecord) -> (Charges, Vec<String>) {
        let mut out = Charges {
            unpriced_units: c.unpriced_units,
            ..Charges::default()
        };
        let mut errors = Vec::new();
        for (name, v) in &c.charges_usd {
            let Some(i) = CHARGE_NAMES.iter().position(|n| n == name) else {
                errors.push(format!("unknown charge kind '{name}' in charges_usd"));
                continue;
            };
            match Usd::parse(v) {
                Ok(u) => out.usd[i] = u,
                Err(e) => errors.push(format!("charges_usd.{name} '{v}': {e}")),
            }
        }
        (out, errors)
    }

    pub(crate) fn add(&mut self, o: &Charges) {
        for (a, b) in self.usd.iter_mut().zip(o.usd) {
            *a += b;
        }
        self.unpriced_units = self.unpriced_units.saturating_add(o.unpriced_units);
    }

    /// No charge beyond tokens and no unpriced unit.
    pub(crate) fn is_empty(&self) -> bool {
        self.usd.iter().all(|u| u.is_zero()) && self.unpriced_units == 0
    }

    /// The charges' sum.
    pub(crate) fn sum(&self) -> Usd {
        self.usd.iter().copied().sum()
    }
}

/// Nearest-rank percentiles of `values` (sorted in place): for each `p` in `ps` (0 < p <= 100),
/// the smallest value such that at least `p`% of the values are less than or equal to it, i.e.
/// the value at 1-based rank `ceil(p/100 * n)` of the sorted values. Always one of the values
/// (no interpolation). `None` for an empty set.
pub(crate) fn nearest_rank(values: &mut [u32], ps: &[u32]) -> Vec<Option<u32>> {
    values.sort_unstable();
    let n = values.len() as u64;
    ps.iter()
        .map(|&p| {
            if n == 0 {
                return None;
            }
            let rank = (u64::from(p.clamp(1, 100)) * n).div_ceil(100).max(1);
            usize::try_from(rank - 1)
                .ok()
                .and_then(|i| values.get(i).copied())
        })
        .collect()
}

/// `sum / n` with one decimal, rounded half up; 0 when `n == 0`.
pub(crate) fn avg1(sum: u64, n: u64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let tenths = (u128::from(sum) * 20 / u128::from(n)).div_ceil(2);
    tenths as f64 / 10.0
}

/// Aggregates of a set of calls (a group, a model, a step or everything).
#[derive(Debug, Default, Clone)]
pub(crate) struct Acc {
    /// Traces (0 for models and steps).
    pub traces: u64,
    /// Traces that may miss spans.
    pub incomplete: u64,
    pub calls: u64,
    pub unpriced: u64,
    pub cost: Usd,
    /// Of `cost`, the charges beyond tokens.
    pub charges: Charges,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Earliest span start and latest span end (Unix ns) of the traces: wall-clock extent.
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    /// LLM call latencies, ms, when kept.
    pub latencies: Vec<u32>,
}

impl Acc {
    pub(crate) fn add_call(
        &mut self,
        cost: Option<Usd>,
        charges: &Charges,
        input: u64,
        output: u64,
        latency_ms: u32,
        keep_latency: bool,
    ) {
        self.calls += 1;
        match cost {
            Some(c) => self.cost += c,
            None => self.unpriced += 1,
        }
        self.charges.add(charges);
        self.input_tokens = self.input_tokens.saturating_add(input);
        self.output_tokens = self.output_tokens.saturating_add(output);
        if keep_latency {
            self.latencies.push(latency_ms);
        }
    }

    pub(crate) fn add_trace(&mut self, start: u64, end: u64, complete: bool) {
        self.traces += 1;
        if !complete {
            self.incomplete += 1;
        }
        self.first_start = Some(self.first_start.map_or(start, |s| s.min(start)));
        self.last_end = Some(self.last_end.map_or(end, |e| e.max(end)));
    }

    /// Wall-clock extent, ms.
    pub(crate) fn duration_ms(&self) -> u64 {
        match (self.first_start, self.last_end) {
            (Some(s), Some(e)) => crate::records::duration_ms(s, e),
            _ => 0,
        }
    }

    /// p50, p95, p99 of the kept latencies (sorts them).
    pub(crate) fn percentiles(&mut self) -> [Option<u32>; 3] {
        let v = nearest_rank(&mut self.latencies, &[50, 95, 99]);
        [v[0], v[1], v[2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_known_sets() {
        // 1..=100: pXX is XX exactly.
        let mut v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(
            nearest_rank(&mut v, &[1, 50, 95, 99, 100]),
            vec![Some(1), Some(50), Some(95), Some(99), Some(100)]
        );
        // The classic example: 15, 20, 35, 40, 50.
        let mut v = vec![50, 15, 40, 20, 35];
        assert_eq!(
            nearest_rank(&mut v, &[5, 30, 40, 50, 100]),
            vec![Some(15), Some(20), Some(20), Some(35), Some(50)]
        );
        // 10 values: p95 and p99 are both the largest (rank 10); p50 is rank 5.
        let mut v: Vec<u32> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(
            nearest_rank(&mut v, &[50, 95, 99]),
            vec![Some(50), Some(100), Some(100)]
        );
        // 1000 values 0..999: p99 is rank 990, value 989.
        let mut v: Vec<u32> = (0..1000).collect();
        assert_eq!(nearest_rank(&mut v, &[99]), vec![Some(989)]);
        assert_eq!(nearest_rank(&mut [7], &[50, 99]), vec![Some(7), Some(7)]);
        assert_eq!(nearest_rank(&mut [], &[50]), vec![None]);
    }

    #[test]
    fn averages_round_half_up() {
        assert_eq!(avg1(10, 4), 2.5);
        assert_eq!(avg1(1, 3), 0.3);
        assert_eq!(avg1(2, 3), 0.7);
        assert_eq!(avg1(5, 0), 0.0);
    }
}
