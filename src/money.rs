//! Exact money: integer femto-dollars, never floating-point sums.
//!
//! A token rate is stored as an integer number of nano-dollars per million tokens, which is the
//! same unit as femto-dollars (10^-15 USD) per token. A cost is `tokens x rate` in femto-dollars,
//! held in a `u128`: exact for any realistic call (10^12 tokens at $10^6 per million tokens still
//! fits), and sums of costs stay exact. Only when a value is written to a span attribute is it
//! turned into an `f64` of dollars.

use std::fmt;
use std::ops::{Add, AddAssign};

/// Femto-dollars per USD.
const FEMTO_PER_USD: u128 = 1_000_000_000_000_000;

/// An exact amount of US dollars, in femto-dollars (10^-15 USD). Never negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(u128);

impl Usd {
    /// Zero dollars.
    pub const ZERO: Usd = Usd(0);

    /// From a count of femto-dollars.
    pub const fn from_femto(femto: u128) -> Self {
        Usd(femto)
    }

    /// The amount in femto-dollars.
    pub const fn femto(self) -> u128 {
        self.0
    }

    /// Parses a decimal dollar amount such as `"0.0075"` or `"1e-3"` exactly.
    /// More than 15 decimals is an error (below a femto-dollar).
    pub fn parse(s: &str) -> Result<Self, DecimalError> {
        parse_scaled(s, 15, Rounding::Exact).map(Usd)
    }

    /// `true` when zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The amount as `f64` dollars, for writing to attributes and metrics only.
    #[inline]
    pub fn as_f64(self) -> f64 {
        // Exact below 2^53 femto-dollars (~$9), then one correctly rounded division: the
        // nearest double to the exact amount; above that, within one ulp. Below 2^64 (~$18,446)
        // through `u64`: the same correctly rounded conversion, without the software `u128`
        // one.
        match u64::try_from(self.0) {
            Ok(v) => v as f64 / 1e15,
            Err(_) => wide_as_f64(self.0),
        }
    }

    /// Saturating sum.
    pub fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }

    /// This amount as a percentage of `total`, rounded to one decimal (for display only).
    pub fn percent_of(self, total: Usd) -> f64 {
        if total.0 == 0 {
            return 0.0;
        }
        // Integer per-mille with round-half-up, then one decimal place.
        let per_mille = (self.0.saturating_mul(2000) / total.0).div_ceil(2);
        per_mille as f64 / 10.0
    }
}

/// Each amount's share of their sum, in tenths of a percent, by largest remainder: every share
/// is floored, then the tenths left over go one each to the largest remainders (ties: the
/// earlier amount first), so that the shares sum to exactly 1000 (100.0 %). The one percentage
/// routine: `cost.by_model` on a root and the report's tables both use it, so that they agree.
///
/// - Nothing spent (no amount, or all zero): every share is 0. A percentage is a share of what
///   was spent; of $0 there is none to share (as [`Usd::percent_of`] says for one amount), and a
///   split by call counts would show spend that did not happen.
/// - Sums too large for `amount * 1000` to fit a `u128` (beyond ~$3.4 * 10^20, only from a
///   hostile provided cost) are scaled down by a power of two first: no overflow, and the shares
///   still sum to 1000.
pub(crate) fn percent_tenths(amounts: &[Usd]) -> Vec<u32> {
    let total = amounts.iter().fold(0u128, |t, a| t.saturating_add(a.0));
    if total == 0 {
        return vec![0; amounts.len()];
    }
    // With n amounts, each below 2^128, shifting by 10 + bits(n) leaves a sum below 2^118,
    // and 1000 times that below 2^128.
    let shift = if total > u128::MAX / 1000 {
        10 + (usize::BITS - amounts.len().leading_zeros())
    } else {
        0
    };
    let total: u128 = match shift {
        0 => total,
        s => amounts.iter().map(|a| a.0 >> s).sum(),
    };
    if total == 0 {
        return vec![0; amounts.len()];
    }
    // (floor of the share, remainder) in tenths of a percent.
    let mut shares: Vec<(u128, u128)> = amounts
        .iter()
        .map(|a| {
            let w = (a.0 >> shift) * 1000;
            (w / total, w % total)
        })
        .collect();
    let assigned: u128 = shares.iter().map(|s| s.0).sum();
    let mut left = 1000u128.saturating_sub(assigned);
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| shares[b].1.cmp(&shares[a].1).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        if shares[i].1 > 0 {
            shares[i].0 += 1;
            left -= 1;
        }
    }
    shares
        .into_iter()
        .map(|s| u32::try_from(s.0).unwrap_or(1000))
        .collect()
}

/// `u128 -> f64` dollars, out of line: kept apart so that the compiler does not fold the
/// `u64` fast path of [`Usd::as_f64`] back into this (software) conversion.
#[cold]
#[inline(never)]
fn wide_as_f64(femto: u128) -> f64 {
    femto as f64 / 1e15
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, rhs: Usd) -> Usd {
        self.saturating_add(rhs)
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, rhs: Usd) {
        *self = self.saturating_add(rhs);
    }
}

impl std::iter::Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, |a, b| a + b)
    }
}

/// Exact decimal, all significant digits, no trailing zeros (`0.0075`, `50`, `0.000000001`).
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / FEMTO_PER_USD;
        let frac = self.0 % FEMTO_PER_USD;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:015}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// A token rate: nano-dollars per million tokens (= femto-dollars per token).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u64);

impl Rate {
    /// Zero rate.
    pub const ZERO: Rate = Rate(0);

    /// From nano-dollars per million tokens.
    pub const fn from_nano_per_mtok(n: u64) -> Self {
        Rate(n)
    }

    /// Nano-dollars per million tokens.
    pub const fn nano_per_mtok(self) -> u64 {
        self.0
    }

    /// Parses USD per million tokens (`"2.5"`), at most 9 decimals.
    pub fn parse_per_mtok(s: &str) -> Result<Self, DecimalError> {
        let v = parse_scaled(s, 9, Rounding::Exact)?;
        u64::try_from(v)
            .map(Rate)
            .map_err(|_| DecimalError::TooLarge)
    }

    /// Parses USD per token (`"2.5e-06"`, LiteLLM's unit), rounded to the nearest femto-dollar
    /// (ties to even).
    pub fn parse_per_token(s: &str) -> Result<Self, DecimalError> {
        let v = parse_scaled(s, 15, Rounding::HalfEven)?;
        u64::try_from(v)
            .map(Rate)
            .map_err(|_| DecimalError::TooLarge)
    }

    /// USD per million tokens rounded to 9 decimals (ties to even), and whether rounding
    /// changed the value.
    pub(crate) fn parse_per_mtok_rounded(s: &str) -> Result<(Self, bool), DecimalError> {
        let (v, rounded) = parse_scaled_rounded(s, 9, Rounding::HalfEven)?;
        u64::try_from(v)
            .map(|v| (Rate(v), rounded))
            .map_err(|_| DecimalError::TooLarge)
    }

    /// The cost of `tokens` tokens at this rate.
    pub fn cost(self, tokens: u64) -> Usd {
        Usd(u128::from(tokens) * u128::from(self.0))
    }

    /// The rate as USD per million tokens, exact (`2.5`).
    pub fn per_mtok(self) -> Usd {
        // n nano-dollars = n * 10^6 femto-dollars.
        Usd(u128::from(self.0) * 1_000_000)
    }
}

/// Displays USD per million tokens exactly.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.per_mtok().fmt(f)
    }
}

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not a plain decimal number.
    #[error("not a decimal number")]
    Syntax,
    /// A minus sign.
    #[error("negative amounts are not allowed")]
    Negative,
    /// More decimals than the unit can hold exactly.
    #[error("too many decimal places (at most {0})")]
    TooPrecise(u32),
    /// Out of range.
    #[error("value too large")]
    TooLarge,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rounding {
    Exact,
    /// To the nearest, ties to even (Python `decimal`'s ROUND_HALF_EVEN).
    HalfEven,
}

/// Parses `[+]digits[.digits][e[+-]digits]` into an integer scaled by `10^scale`.
fn parse_scaled(s: &str, scale: u32, rounding: Rounding) -> Result<u128, DecimalError> {
    parse_scaled_rounded(s, scale, rounding).map(|(v, _)| v)
}

/// As [`parse_scaled`], and whether rounding changed the value.
fn parse_scaled_rounded(
    s: &str,
    scale: u32,
    rounding: Rounding,
) -> Result<(u128, bool), DecimalError> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        // "-0" is still a negative sign on a price: refuse it.
        return Err(DecimalError::Negative);
    }
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => {
            let e: i32 = s[i + 1..].parse().map_err(|_| DecimalError::Syntax)?;
            (&s[..i], e)
        }
        None => (s, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(DecimalError::Syntax);
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(DecimalError::Syntax);
    }
    // value = digits * 10^(exp - frac_len); we want value * 10^scale.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(exp) - frac_part.len() as i64 + i64::from(scale);
    if digits.is_empty() {
        return Ok((0, false));
    }
    if shift >= 0 {
        if digits.len() as i64 + shift > 38 {
            return Err(DecimalError::TooLarge);
        }
        let base: u128 = digits.parse().map_err(|_| DecimalError::TooLarge)?;
        base.checked_mul(10u128.pow(shift as u32))
            .map(|v| (v, false))
            .ok_or(DecimalError::TooLarge)
    } else {
        let cut = (-shift) as usize;
        let (keep, dropped) = if cut >= digits.len() {
            ("", digits)
        } else {
            digits.split_at(digits.len() - cut)
        };
        let dropped_nonzero = dropped.bytes().any(|b| b != b'0');
        if dropped_nonzero && rounding == Rounding::Exact {
            return Err(DecimalError::TooPrecise(scale));
        }
        if keep.len() > 38 {
            return Err(DecimalError::TooLarge);
        }
        let mut v: u128 = if keep.is_empty() {
            0
        } else {
            keep.parse().map_err(|_| DecimalError::TooLarge)?
        };
        // Round half to even (only reached with Rounding::HalfEven). With `cut` beyond the
        // digits, the dropped part has implied leading zeros: below half, nothing to add.
        if cut <= digits.len() {
            let d = dropped.as_bytes();
            let first = d.first().copied().unwrap_or(b'0');
            let rest_nonzero = d.iter().skip(1).any(|&b| b != b'0');
            let odd = v % 2 == 1;
            if first > b'5' || (first == b'5' && (rest_nonzero || odd)) {
                v += 1;
            }
        }
        Ok((v, dropped_nonzero))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates_per_mtok_exactly() {
        assert_eq!(
            Rate::parse_per_mtok("2.5").unwrap().nano_per_mtok(),
            2_500_000_000
        );
        assert_eq!(
            Rate::parse_per_mtok("0.000000001").unwrap().nano_per_mtok(),
            1
        );
        assert_eq!(Rate::parse_per_mtok("0").unwrap(), Rate::ZERO);
        assert_eq!(
            Rate::parse_per_mtok("1e1").unwrap().nano_per_mtok(),
            10_000_000_000
        );
        assert_eq!(
            Rate::parse_per_mtok("0.0000000001"),
            Err(DecimalError::TooPrecise(9))
        );
        assert_eq!(Rate::parse_per_mtok("-1"), Err(DecimalError::Negative));
        assert_eq!(Rate::parse_per_mtok("abc"), Err(DecimalError::Syntax));
        assert_eq!(Rate::parse_per_mtok("."), Err(DecimalError::Syntax));
        assert_eq!(Rate::parse_per_mtok("NaN"), Err(DecimalError::Syntax));
    }

    #[test]
    fn parses_litellm_per_token_floats() {
        // 2.5e-06 USD per token = $2.50 per million tokens.
        assert_eq!(
            Rate::parse_per_token("2.5e-06").unwrap(),
            Rate::parse_per_mtok("2.5").unwrap()
        );
        assert_eq!(
            Rate::parse_per_token("1.25e-07").unwrap().nano_per_mtok(),
            125_000_000
        );
        // 1/3 of a femto-dollar rounds to nearest.
        assert_eq!(
            Rate::parse_per_token("3.3333333333333e-16")
                .unwrap()
                .nano_per_mtok(),
            0
        );
        assert_eq!(
            Rate::parse_per_token("6.6666666666666e-16")
                .unwrap()
                .nano_per_mtok(),
            1
        );
        // Ties go to the even neighbour (as the catalog builder rounds, and Python's decimal).
        assert_eq!(Rate::parse_per_token("2.5e-15").unwrap().nano_per_mtok(), 2);
        assert_eq!(Rate::parse_per_token("3.5e-15").unwrap().nano_per_mtok(), 4);
        assert_eq!(
            Rate::parse_per_token("2.50001e-15")
                .unwrap()
                .nano_per_mtok(),
            3
        );
        assert_eq!(
            Rate::parse_per_mtok_rounded("0.0000000025"),
            Ok((Rate::from_nano_per_mtok(2), true))
        );
        assert_eq!(
            Rate::parse_per_mtok_rounded("0.5"),
            Ok((Rate::from_nano_per_mtok(500_000_000), false))
        );
    }

    #[test]
    fn cost_is_exact_and_displays_exactly() {
        // gpt-4o: 1000 input at $2.50/M + 500 output at $10/M = $0.0075
        let c = Rate::parse_per_mtok("2.5").unwrap().cost(1000)
            + Rate::parse_per_mtok("10").unwrap().cost(500);
        assert_eq!(c.to_string(), "0.0075");
        assert_eq!(c, Usd::parse("0.0075").unwrap());
        assert!((c.as_f64() - 0.0075).abs() < 1e-18);
        assert_eq!(Usd::parse("50").unwrap().to_string(), "50");
    }

    #[test]
    fn sums_of_many_small_costs_do_not_drift() {
        // 10 million calls of 1 token at $0.1/M: exactly $1, where f64 sums drift.
        let one = Rate::parse_per_mtok("0.1").unwrap().cost(1);
        let total: Usd = std::iter::repeat_n(one, 10_000_000).sum();
        assert_eq!(total.to_string(), "1");
    }

    fn usd(v: &[u128]) -> Vec<Usd> {
        v.iter().copied().map(Usd::from_femto).collect()
    }

    #[test]
    fn largest_remainder_sums_to_100() {
        let shares = |v: &[u128]| percent_tenths(&usd(v));
        assert_eq!(shares(&[1, 1, 1]), vec![334, 333, 333]);
        assert_eq!(shares(&[2, 1]), vec![667, 333]);
        assert_eq!(shares(&[0, 0]), vec![0, 0]);
        assert_eq!(shares(&[5, 0]), vec![1000, 0]);
        // Many tiny shares: still exactly 1000 in total, none negative.
        let w: Vec<u128> = (1..=37).map(|i| i * 1_000_003).collect();
        assert_eq!(shares(&w).iter().sum::<u32>(), 1000);
        let w = vec![u128::MAX / 3, u128::MAX / 3, 7];
        assert_eq!(shares(&w).iter().sum::<u32>(), 1000);
        // A long tail of equal shares.
        for n in 1..60u128 {
            let w: Vec<u128> = (0..n).map(|i| 1 + i % 3).collect();
            assert_eq!(shares(&w).iter().sum::<u32>(), 1000, "n={n}");
        }
    }

    /// The edge cases, with the behaviour chosen where the engine's and the report's copies
    /// disagreed before they became this one routine.
    #[test]
    fn percent_tenths_edge_cases() {
        let max = u128::MAX;
        let cases: &[(&str, Vec<u128>, Vec<u32>)] = &[
            ("no amounts", vec![], vec![]),
            ("one amount has it all", vec![7], vec![1000]),
            // The engine split "nothing spent" by call counts; the report gave all zeros.
            (
                "nothing spent: all zero, not a split",
                vec![0, 0, 0],
                vec![0, 0, 0],
            ),
            ("one zero amount: 0, not 100", vec![0], vec![0]),
            ("a zero beside spend gets 0", vec![0, 3], vec![0, 1000]),
            (
                "ties: earlier amounts first",
                vec![1, 1, 1],
                vec![334, 333, 333],
            ),
            ("two thirds", vec![2, 1], vec![667, 333]),
            ("a sliver floors to 0", vec![1, 100_000], vec![0, 1000]),
            ("a remainder of exactly half", vec![1, 1999], vec![1, 999]),
            // The engine multiplied by 1000 unscaled (it overflowed here); the report shifted
            // by 16 bits whatever the count (see below). Scaled by 10 + bits(n) now.
            (
                "over u128::MAX / 1000",
                vec![max / 2, max / 2],
                vec![500, 500],
            ),
            ("saturating sum", vec![max, max, max], vec![334, 333, 333]),
            ("huge beside tiny", vec![max - 1, 1], vec![1000, 0]),
        ];
        for (name, amounts, want) in cases {
            assert_eq!(&percent_tenths(&usd(amounts)), want, "{name}");
        }
        // Past 65,536 amounts near the top, where the report's fixed 16-bit shift overflowed
        // its sum: each share floors to 0 and the 1000 tenths go to the first 1000 (equal
        // remainders).
        let many = vec![max / 2; 70_000];
        let got = percent_tenths(&usd(&many));
        assert_eq!(got.iter().sum::<u32>(), 1000);
        assert!(got[..1000].iter().all(|&t| t == 1) && got[1000..].iter().all(|&t| t == 0));
    }

    #[test]
    fn percent_rounds_to_one_decimal() {
        let a = Usd::parse("1").unwrap();
        let t = Usd::parse("3").unwrap();
        assert_eq!(a.percent_of(t), 33.3);
        assert_eq!(Usd::parse("2").unwrap().percent_of(t), 66.7);
        assert_eq!(a.percent_of(Usd::ZERO), 0.0);
    }
}
