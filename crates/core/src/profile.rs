//! Capacity that changes slot by slot.
//!
//! A [`CapacityProfile`] stores explicit values for the first slots and says what
//! happens after them: the last value holds forever ([`Tail::Hold`]) or the last
//! `period` values repeat ([`Tail::Repeat`], e.g. a daily solar curve; by default
//! the period is all the values). Planners read it through
//! [`CapacityProfile::at`] or expand it with [`CapacityProfile::dense`].

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::limits::{MAX_AMOUNT, MAX_HORIZON, thousands};
use crate::units::Slot;

/// What the profile does after its explicit values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tail {
    /// The last value holds for every later slot.
    #[default]
    Hold,
    /// The last `period` values repeat (by default all of them).
    Repeat,
}

/// Capacity per slot for one resource. Never empty; values are never negative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "ProfileRepr")]
pub struct CapacityProfile {
    values: Vec<i64>,
    tail: Tail,
    /// Number of trailing values that repeat: 1 for `Hold`.
    period: usize,
}

/// Why a profile cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A profile needs at least one value.
    #[error("a capacity profile needs at least one value")]
    Empty,
    /// A repeat period must be between 1 and the number of values.
    #[error("repeat period {period} must be between 1 and the number of values ({len})")]
    BadPeriod {
        /// The period given.
        period: usize,
        /// The number of values.
        len: usize,
    },
    /// Capacities are amounts of a resource and cannot be negative.
    #[error("capacity {value} at slot {slot} is negative")]
    Negative {
        /// The offending slot.
        slot: usize,
        /// The offending value.
        value: i64,
    },
    /// A capacity is above [`MAX_AMOUNT`].
    #[error(
        "capacity {value} at slot {slot} is above the largest supported amount, {} (1 GW in milliwatts)",
        thousands(MAX_AMOUNT as u64)
    )]
    TooLarge {
        /// The offending slot.
        slot: usize,
        /// The offending value.
        value: i64,
    },
    /// More explicit values than the longest horizon ([`MAX_HORIZON`]).
    #[error(
        "a capacity profile has {} values, more than the longest supported horizon of {} slots",
        thousands(*.len as u64),
        thousands(u64::from(MAX_HORIZON))
    )]
    TooLong {
        /// The number of values.
        len: usize,
    },
}

impl CapacityProfile {
    /// A profile that is `value` in every slot.
    pub fn constant(value: i64) -> Result<Self, ProfileError> {
        Self::new(vec![value], Tail::Hold)
    }

    /// A profile from explicit values and a tail rule (`Repeat` repeats all values).
    pub fn new(values: Vec<i64>, tail: Tail) -> Result<Self, ProfileError> {
        let period = match tail {
            Tail::Hold => 1,
            Tail::Repeat => values.len(),
        };
        Self::with_period(values, tail, period)
    }

    /// A profile whose last `period` values repeat after the explicit ones
    /// (`period` is ignored for `Hold`).
    pub fn with_period(values: Vec<i64>, tail: Tail, period: usize) -> Result<Self, ProfileError> {
        if values.is_empty() {
            return Err(ProfileError::Empty);
        }
        if values.len() > MAX_HORIZON as usize {
            return Err(ProfileError::TooLong { len: values.len() });
        }
        if let Some((slot, &value)) = values.iter().enumerate().find(|(_, v)| **v < 0) {
            return Err(ProfileError::Negative { slot, value });
        }
        if let Some((slot, &value)) = values.iter().enumerate().find(|(_, v)| **v > MAX_AMOUNT) {
            return Err(ProfileError::TooLarge { slot, value });
        }
        let period = if tail == Tail::Hold { 1 } else { period };
        if period == 0 || period > values.len() {
            return Err(ProfileError::BadPeriod {
                period,
                len: values.len(),
            });
        }
        Ok(Self {
            values,
            tail,
            period,
        })
    }

    /// `budget − baseline` slot by slot, floored at zero: where non-controllable load
    /// already exceeds the budget, nothing is left for schedulable tasks. Exact in
    /// every slot: the result repeats with the least common multiple of both periods
    /// once both inputs are inside their tails; when that would need more than
    /// [`MAX_HORIZON`] explicit values, it is an error rather than an approximation.
    pub fn difference(budget: &Self, baseline: &Self) -> Result<Self, ProfileError> {
        let settle = budget.settle().max(baseline.settle());
        let period = lcm(budget.period, baseline.period);
        let len = settle.saturating_add(period);
        if len > MAX_HORIZON as usize {
            return Err(ProfileError::TooLong { len });
        }
        let values = (0..len)
            .map(|s| (budget.at(s as Slot) - baseline.at(s as Slot)).max(0))
            .collect();
        let tail = if period == 1 {
            Tail::Hold
        } else {
            Tail::Repeat
        };
        Ok(Self {
            values,
            tail,
            period,
        })
    }

    /// Capacity in `slot`.
    #[inline]
    pub fn at(&self, slot: Slot) -> i64 {
        let s = slot as usize;
        match self.values.get(s) {
            Some(v) => *v,
            None => {
                let len = self.values.len();
                self.values[len - self.period + (s - len) % self.period]
            }
        }
    }

    /// The first slot in `from..to` whose capacity is below `level`, if any. Costs at
    /// most the explicit values plus one period, however far apart the slots are:
    /// past the explicit values every phase of the tail shows within one period.
    pub fn first_below(&self, from: Slot, to: Slot, level: i128) -> Option<Slot> {
        let (len, to) = (self.values.len(), to as usize);
        let mut s = from as usize;
        while s < to && s < len {
            if i128::from(self.values[s]) < level {
                return Some(s as Slot);
            }
            s += 1;
        }
        let end = to.min(s.saturating_add(self.period));
        (s..end)
            .find(|&x| i128::from(self.at(x as Slot)) < level)
            .map(|x| x as Slot)
    }

    /// The first `len` slots as a vector.
    pub fn dense(&self, len: usize) -> Vec<i64> {
        (0..len).map(|s| self.at(s as Slot)).collect()
    }

    /// The explicit values.
    pub fn values(&self) -> &[i64] {
        &self.values
    }

    /// The tail rule.
    pub fn tail(&self) -> Tail {
        self.tail
    }

    /// The largest capacity reached in any slot.
    pub fn max(&self) -> i64 {
        *self.values.iter().max().expect("profile is never empty")
    }

    /// The smallest capacity of any slot.
    pub fn min(&self) -> i64 {
        *self.values.iter().min().expect("profile is never empty")
    }

    /// Whether the capacity is the same in every slot.
    pub fn is_constant(&self) -> bool {
        self.min() == self.max()
    }

    /// Number of leading slots that are not part of the repeating tail: from
    /// `settle()` on, slot `s` has the capacity of slot `s + period()`.
    pub fn settle(&self) -> usize {
        self.values.len() - self.period
    }

    /// Length of the repeating tail (1 for `Hold`).
    pub fn period(&self) -> usize {
        self.period
    }

    /// Total capacity over slots `0..len` (the resource's "area").
    pub fn area(&self, len: Slot) -> i128 {
        (0..len).map(|s| i128::from(self.at(s))).sum()
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: usize, b: usize) -> usize {
    (a / gcd(a, b)).saturating_mul(b)
}

/// The serialised form: a bare number (constant), a list (values that hold), or
/// an object `{"values": [...], "after": "hold" | "repeat", "period": N}`.
#[derive(Serialize)]
#[serde(untagged)]
enum ProfileRepr {
    Constant(i64),
    Full {
        values: Vec<i64>,
        after: Tail,
        #[serde(skip_serializing_if = "Option::is_none")]
        period: Option<usize>,
    },
}

/// The accepted forms, for messages.
const PROFILE_FORMS: &str = "a capacity profile: a whole number of milliwatts (the same in every slot), \
     a list of per-slot values (the last one then holds), or \
     {\"values\": [...], \"after\": \"hold\" | \"repeat\", \"period\": N}";

/// Reads the three forms by hand, so a wrong one is named with the accepted forms
/// instead of serde's "did not match any variant of untagged enum".
impl<'de> Deserialize<'de> for CapacityProfile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProfileVisitor)
    }
}

struct ProfileVisitor;

fn build<E: de::Error>(r: Result<CapacityProfile, ProfileError>) -> Result<CapacityProfile, E> {
    r.map_err(E::custom)
}

impl<'de> Visitor<'de> for ProfileVisitor {
    type Value = CapacityProfile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PROFILE_FORMS)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        build(CapacityProfile::constant(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        build(CapacityProfile::constant(Amount::from_u64(v)?.0))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        build(CapacityProfile::constant(Amount::from_f64(v)?.0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        build(CapacityProfile::new(read_values(seq)?, Tail::Hold))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut values, mut after, mut period) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "values" => values = Some(map.next_value::<Values>()?.0),
                "after" => after = Some(map.next_value::<Tail>()?),
                "period" => period = Some(map.next_value::<usize>()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{}` in a capacity profile (accepted: values, after, period)",
                        crate::limits::excerpt(other, 40)
                    )));
                }
            }
        }
        let values = values.ok_or_else(|| {
            de::Error::custom(
                "a capacity profile object needs `values`: [...] (one value per slot)",
            )
        })?;
        let after = after.unwrap_or_default();
        build(match period {
            None => CapacityProfile::new(values, after),
            Some(p) => CapacityProfile::with_period(values, after, p),
        })
    }
}

/// The elements of a list of capacities; stops at the longest horizon instead of
/// growing without bound.
fn read_values<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<i64>, A::Error> {
    let mut values = Vec::new();
    while let Some(Amount(v)) = seq.next_element()? {
        if values.len() >= MAX_HORIZON as usize {
            return Err(de::Error::custom(ProfileError::TooLong {
                len: values.len() + 1,
            }));
        }
        values.push(v);
    }
    Ok(values)
}

/// One capacity value: a whole number, read with a message that says so.
struct Amount(i64);

impl Amount {
    fn from_u64<E: de::Error>(v: u64) -> Result<Self, E> {
        i64::try_from(v).map(Amount).map_err(|_| {
            E::custom(format!(
                "capacity {v} is above the largest supported amount, {} (1 GW in milliwatts)",
                thousands(MAX_AMOUNT as u64)
            ))
        })
    }

    fn from_f64<E: de::Error>(v: f64) -> Result<Self, E> {
        // Whole numbers written with an exponent or a fraction of zero (2e6, 5.0) are fine.
        if v.is_finite() && v.fract() == 0.0 && v.abs() <= 9.0e15 {
            Ok(Amount(v as i64))
        } else {
            Err(E::custom(format!(
                "capacity {v} is not a whole number of milliwatts between 0 and {}",
                thousands(MAX_AMOUNT as u64)
            )))
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of milliwatts")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
                Ok(Amount(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
                Amount::from_u64(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Amount, E> {
                Amount::from_f64(v)
            }
        }
        d.deserialize_any(V)
    }
}

/// The `values` list of the object form.
struct Values(Vec<i64>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of per-slot values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Values, A::Error> {
                read_values(seq).map(Values)
            }
        }
        d.deserialize_seq(V)
    }
}

impl From<CapacityProfile> for ProfileRepr {
    fn from(p: CapacityProfile) -> Self {
        if p.values.len() == 1 {
            ProfileRepr::Constant(p.values[0])
        } else {
            let period = (p.tail == Tail::Repeat && p.period != p.values.len()).then_some(p.period);
            ProfileRepr::Full {
                values: p.values,
                after: p.tail,
                period,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_and_repeat() {
        let h = CapacityProfile::new(vec![1, 2, 3], Tail::Hold).unwrap();
        assert_eq!((h.at(0), h.at(2), h.at(100)), (1, 3, 3));
        let r = CapacityProfile::new(vec![1, 2, 3], Tail::Repeat).unwrap();
        assert_eq!((r.at(3), r.at(4), r.at(302)), (1, 2, 3));
    }

    #[test]
    fn rejects_bad_values() {
        assert_eq!(
            CapacityProfile::new(vec![], Tail::Hold),
            Err(ProfileError::Empty)
        );
        assert_eq!(
            CapacityProfile::new(vec![3, -1], Tail::Hold),
            Err(ProfileError::Negative { slot: 1, value: -1 })
        );
    }

    #[test]
    fn difference_floors_at_zero_and_keeps_period() {
        let budget = CapacityProfile::new(vec![10, 20, 30, 40], Tail::Repeat).unwrap();
        let base = CapacityProfile::new(vec![15, 5], Tail::Repeat).unwrap();
        let cap = CapacityProfile::difference(&budget, &base).unwrap();
        assert_eq!(cap.tail(), Tail::Repeat);
        for s in 0..40 {
            assert_eq!(cap.at(s), (budget.at(s) - base.at(s)).max(0), "slot {s}");
        }
        let hold = CapacityProfile::new(vec![7, 9], Tail::Hold).unwrap();
        let cap = CapacityProfile::difference(&budget, &hold).unwrap();
        for s in 0..40 {
            assert_eq!(cap.at(s), (budget.at(s) - hold.at(s)).max(0), "slot {s}");
        }
    }

    #[test]
    fn serde_forms() {
        let c: CapacityProfile = serde_json::from_str("5").unwrap();
        assert_eq!(c.at(99), 5);
        let l: CapacityProfile = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(l.at(99), 2);
        let f: CapacityProfile =
            serde_json::from_str(r#"{"values":[1,2],"after":"repeat"}"#).unwrap();
        assert_eq!(f.at(99), 2);
        assert_eq!(f.at(98), 1);
        assert!(serde_json::from_str::<CapacityProfile>("[-1]").is_err());
        let back = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<CapacityProfile>(&back).unwrap(), f);
    }
}
