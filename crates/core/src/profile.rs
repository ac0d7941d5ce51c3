//! Capacity that changes slot by slot.
//!
//! A [`CapacityProfile`] stores explicit values for the first slots and says what
//! happens after them: the last value holds forever ([`Tail::Hold`]) or the last
//! `period` values repeat ([`Tail::Repeat`], e.g. a daily solar curve; by default
//! the period is all the values). Planners read it through
//! [`CapacityProfile::at`] or expand it with [`CapacityProfile::dense`].

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProfileRepr", into = "ProfileRepr")]
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
        if let Some((slot, &value)) = values.iter().enumerate().find(|(_, v)| **v < 0) {
            return Err(ProfileError::Negative { slot, value });
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
    /// (capped at 2^22 slots) once both inputs are inside their tails.
    pub fn difference(budget: &Self, baseline: &Self) -> Self {
        let settle = budget.settle().max(baseline.settle());
        let period = lcm(budget.period, baseline.period).min(1 << 22);
        let values = (0..settle + period)
            .map(|s| (budget.at(s as Slot) - baseline.at(s as Slot)).max(0))
            .collect();
        let tail = if period == 1 {
            Tail::Hold
        } else {
            Tail::Repeat
        };
        Self {
            values,
            tail,
            period,
        }
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
    pub fn area(&self, len: Slot) -> i64 {
        (0..len).map(|s| self.at(s)).sum()
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

/// The serialised form: a bare number (constant), a list (values that hold), or
/// an object `{"values": [...], "after": "hold" | "repeat"}`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ProfileRepr {
    Constant(i64),
    List(Vec<i64>),
    Full {
        values: Vec<i64>,
        #[serde(default)]
        after: Tail,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        period: Option<usize>,
    },
}

impl TryFrom<ProfileRepr> for CapacityProfile {
    type Error = ProfileError;
    fn try_from(r: ProfileRepr) -> Result<Self, ProfileError> {
        match r {
            ProfileRepr::Constant(v) => Self::constant(v),
            ProfileRepr::List(values) => Self::new(values, Tail::Hold),
            ProfileRepr::Full {
                values,
                after,
                period: None,
            } => Self::new(values, after),
            ProfileRepr::Full {
                values,
                after,
                period: Some(p),
            } => Self::with_period(values, after, p),
        }
    }
}

impl From<CapacityProfile> for ProfileRepr {
    fn from(p: CapacityProfile) -> Self {
        if p.values.len() == 1 && p.tail == Tail::Hold {
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
        let cap = CapacityProfile::difference(&budget, &base);
        assert_eq!(cap.tail(), Tail::Repeat);
        for s in 0..40 {
            assert_eq!(cap.at(s), (budget.at(s) - base.at(s)).max(0), "slot {s}");
        }
        let hold = CapacityProfile::new(vec![7, 9], Tail::Hold).unwrap();
        let cap = CapacityProfile::difference(&budget, &hold);
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
