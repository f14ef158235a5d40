//! The builder's working model (one catalog entry in the making) and the JSON reading helpers
//! both readers share: objects in input order, and numbers read as genai-prices and LiteLLM
//! read them (a JSON number is a float; its value is the shortest decimal that round-trips).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::units::PriceEntry;
use crate::money::{DecimalError, Rate};

/// A catalog match rule (FORMAT.md `match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(String),
    All(Vec<Rule>),
}

/// One catalog entry in the making.
#[derive(Debug, Clone)]
pub(crate) struct BModel {
    pub id: String,
    pub provider: String,
    pub mode: String,
    pub name: Option<String>,
    pub prices: Vec<PriceEntry>,
    /// `(alias, priority)`; `equals` aliases are given out per provider at the end.
    pub alias_candidates: Vec<(String, u8)>,
    /// Rules other than `equals` (the `equals` ones are put first when aliases are resolved).
    pub rules: Vec<Rule>,
    pub notes: Vec<String>,
    /// Names tried against genai-prices clauses.
    pub match_names: Vec<String>,
}

/// A JSON object with its members in input order (the last of duplicate keys wins, in the
/// place of the first, as Python's `json` reads it).
#[derive(Debug)]
pub(crate) struct Ordered<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::new();
                let mut index = std::collections::HashMap::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    match index.get(&k) {
                        Some(&i) => out[i] = (k, v),
                        None => {
                            index.insert(k.clone(), out.len());
                            out.push((k, v));
                        }
                    }
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V2(std::marker::PhantomData))
    }
}

/// A JSON value seen through its text: what the readers need to tell apart.
pub(crate) enum Scalar<'a> {
    /// A number literal, as written.
    Number(&'a str),
    String(String),
    Bool(bool),
    Null,
    /// An object or an array.
    Compound,
}

impl<'a> Scalar<'a> {
    pub(crate) fn of(raw: &'a RawValue) -> Scalar<'a> {
        let t = raw.get();
        match t.as_bytes().first() {
            Some(b'"') => serde_json::from_str(t).map_or(Scalar::Compound, Scalar::String),
            Some(b't') => Scalar::Bool(true),
            Some(b'f') => Scalar::Bool(false),
            Some(b'n') => Scalar::Null,
            Some(b'{' | b'[') | None => Scalar::Compound,
            Some(_) => Scalar::Number(t),
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A number literal as a rate in the catalog's unit (USD per million tokens): the source's
/// value times `10^scale` (LiteLLM's USD per token: 6; genai-prices' per million tokens: 0),
/// times `factor` (exactly, before the rounding: USD per second -> per hour: 3,600; a price
/// per pixel -> per image of W x H pixels), rounded half-even to 9 decimals;
/// `Ok((rate, rounded))`. The value is the one Python's `json` (and JavaScript) reads: the
/// float nearest to the literal, as the shortest decimal that reads back as that float.
pub(crate) fn literal_rate_times(
    literal: &str,
    scale: i32,
    factor: u64,
) -> Result<(Rate, bool), DecimalError> {
    let f: f64 = literal.trim().parse().map_err(|_| DecimalError::Syntax)?;
    if !f.is_finite() {
        return Err(DecimalError::Syntax);
    }
    if f == 0.0 || factor == 0 {
        return Ok((Rate::ZERO, false)); // -0.0 included: no negative zero rate
    }
    let shortest = format!("{f:e}");
    let (mantissa, exp) = shortest.split_once('e').ok_or(DecimalError::Syntax)?;
    let exp: i32 = exp.parse().map_err(|_| DecimalError::Syntax)?;
    if factor == 1 {
        return Rate::parse_per_mtok_rounded(&format!("{mantissa}e{}", exp + scale));
    }
    // The mantissa's digits as an integer (at most 17 of them), times the factor.
    let (sign, digits) = match mantissa.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", mantissa),
    };
    let frac = digits.split_once('.').map_or(0, |(_, f)| f.len());
    let int: u128 = digits
        .replace('.', "")
        .parse()
        .map_err(|_| DecimalError::Syntax)?;
    let product = int
        .checked_mul(u128::from(factor))
        .ok_or(DecimalError::TooLarge)?;
    let frac = i32::try_from(frac).map_err(|_| DecimalError::Syntax)?;
    Rate::parse_per_mtok_rounded(&format!("{sign}{product}e{}", exp + scale - frac))
}

/// [`literal_rate_times`] with factor 1, counting in `notes` a rate rounded or refused (`what`
/// names it).
pub(crate) fn noted_rate(
    literal: &str,
    scale: i32,
    what: &str,
    notes: &mut super::notes::Notes,
) -> Option<Rate> {
    noted_rate_times(literal, scale, 1, what, notes)
}

/// [`literal_rate_times`], counting in `notes` a rate rounded or refused (`what` names it).
pub(crate) fn noted_rate_times(
    literal: &str,
    scale: i32,
    factor: u64,
    what: &str,
    notes: &mut super::notes::Notes,
) -> Option<Rate> {
    match literal_rate_times(literal, scale, factor) {
        Ok((r, rounded)) => {
            if rounded {
                notes.add("rates rounded half-even to 9 decimals", what);
            }
            Some(r)
        }
        Err(_) => {
            notes.add("rates refused (negative or out of range)", what);
            None
        }
    }
}
