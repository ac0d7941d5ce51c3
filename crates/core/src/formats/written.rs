//! Quantities as people write them in native JSON: a power with its unit (`"2 kW"`),
//! a length of time with its unit (`"1 h 30 min"`) and power profiles made of them.
//!
//! Each type reads itself while the JSON is parsed, so a bad value is reported with
//! its line and column; a bare number gets a hint that the unit is missing (numbers in
//! milliwatts belong under the `*_mw` keys).

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::profile::{CapacityProfile, ProfileError, Tail};
use crate::units::{Milliwatts, parse_seconds, seconds_text};

/// A power written with its unit, `W` or `kW`: `"2 kW"`, `"800 W"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Power(pub Milliwatts);

/// A length of time written with its units, `s`, `min`, `h`: `"15 min"`, `"1 h 30 min"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Length {
    /// Whole seconds.
    pub seconds: u64,
}

/// A power per slot written with units: one power (the same in every slot), a list
/// of powers per slot whose last value then holds, or
/// `{"values": [...], "after": "hold" | "repeat", "period": N}` as for the `*_mw` profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerProfile {
    values: Vec<Power>,
    tail: Tail,
    period: Option<usize>,
}

impl PowerProfile {
    /// The profile in milliwatts.
    pub fn to_profile(&self) -> Result<CapacityProfile, ProfileError> {
        let mw = self.values.iter().map(|p| p.0.0).collect();
        match self.period {
            Some(p) => CapacityProfile::with_period(mw, self.tail, p),
            None => CapacityProfile::new(mw, self.tail),
        }
    }
}

/// The error for a power written as a bare number.
fn power_without_unit<E: de::Error>(v: impl fmt::Display) -> E {
    E::custom(format_args!(
        "the power {v} has no unit: write it as a string, e.g. \"{v} W\" or \"{v} kW\" (numbers in milliwatts go under the \"…_mw\" keys)"
    ))
}

/// The error for a length of time written as a bare number.
fn length_without_unit<E: de::Error>(v: impl fmt::Display) -> E {
    E::custom(format_args!(
        "the length of time {v} has no unit: write it as a string, e.g. \"{v} min\" or \"{v} s\""
    ))
}

/// Reads a power from a string; a number gets the hint that its unit is missing.
struct PowerVisitor;

impl Visitor<'_> for PowerVisitor {
    type Value = Power;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a power with its unit, e.g. \"2 kW\" or \"800 W\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Power, E> {
        Milliwatts::parse(v).map(Power).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Power, E> {
        Err(power_without_unit(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Power, E> {
        Err(power_without_unit(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Power, E> {
        Err(power_without_unit(v))
    }
}

impl<'de> Deserialize<'de> for Power {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PowerVisitor)
    }
}

impl Serialize for Power {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.short())
    }
}

impl<'de> Deserialize<'de> for Length {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LengthVisitor;
        impl Visitor<'_> for LengthVisitor {
            type Value = Length;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a length of time with its unit, e.g. \"15 min\" or \"1 h 30 min\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Length, E> {
                parse_seconds(v)
                    .map(|seconds| Length { seconds })
                    .map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Length, E> {
                Err(length_without_unit(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Length, E> {
                Err(length_without_unit(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Length, E> {
                Err(length_without_unit(v))
            }
        }
        d.deserialize_any(LengthVisitor)
    }
}

impl Serialize for Length {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&seconds_text(self.seconds))
    }
}

impl<'de> Deserialize<'de> for PowerProfile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ProfileVisitor;
        impl<'de> Visitor<'de> for ProfileVisitor {
            type Value = PowerProfile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a power (\"5 kW\"), a list of powers per slot, or {\"values\": [...], \"after\": \"hold\" | \"repeat\"}",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PowerProfile, E> {
                Ok(PowerProfile {
                    values: vec![PowerVisitor.visit_str(v)?],
                    tail: Tail::Hold,
                    period: None,
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PowerProfile, E> {
                Err(power_without_unit(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PowerProfile, E> {
                Err(power_without_unit(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PowerProfile, E> {
                Err(power_without_unit(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PowerProfile, A::Error> {
                let mut values = Vec::new();
                while let Some(p) = seq.next_element::<Power>()? {
                    values.push(p);
                }
                Ok(PowerProfile {
                    values,
                    tail: Tail::Hold,
                    period: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PowerProfile, A::Error> {
                let (mut values, mut tail, mut period) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "values" if values.is_none() => values = Some(map.next_value()?),
                        "after" if tail.is_none() => tail = Some(map.next_value()?),
                        "period" if period.is_none() => period = Some(map.next_value()?),
                        "values" | "after" | "period" => {
                            return Err(de::Error::duplicate_field("values, after or period"));
                        }
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["values", "after", "period"],
                            ));
                        }
                    }
                }
                Ok(PowerProfile {
                    values: values.ok_or_else(|| de::Error::missing_field("values"))?,
                    tail: tail.unwrap_or_default(),
                    period,
                })
            }
        }
        d.deserialize_any(ProfileVisitor)
    }
}

impl Serialize for PowerProfile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Full<'a> {
            values: &'a [Power],
            after: Tail,
            #[serde(skip_serializing_if = "Option::is_none")]
            period: Option<usize>,
        }
        match (self.values.as_slice(), self.tail) {
            ([one], Tail::Hold) => one.serialize(s),
            _ => Full {
                values: &self.values,
                after: self.tail,
                period: self.period,
            }
            .serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_in_every_form() {
        let p: PowerProfile = serde_json::from_str("\"5 kW\"").unwrap();
        assert_eq!(p.to_profile().unwrap().at(99), 5_000_000);
        let p: PowerProfile = serde_json::from_str("[\"3 kW\", \"500 W\"]").unwrap();
        let c = p.to_profile().unwrap();
        assert_eq!((c.at(0), c.at(99)), (3_000_000, 500_000));
        let p: PowerProfile =
            serde_json::from_str(r#"{"values": ["3 kW", "6 kW"], "after": "repeat"}"#).unwrap();
        let c = p.to_profile().unwrap();
        assert_eq!((c.at(2), c.at(3)), (3_000_000, 6_000_000));
        let again: PowerProfile =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn errors_say_what_is_missing_and_where() {
        let e = serde_json::from_str::<PowerProfile>("\n  5000").unwrap_err();
        assert!(e.to_string().contains("has no unit"), "{e}");
        assert_eq!(e.line(), 2);
        let e = serde_json::from_str::<PowerProfile>(r#"{"values": ["1 kW"], "aftr": "hold"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `aftr`"), "{e}");
        let e = serde_json::from_str::<PowerProfile>(r#"["1 kW", "2 kWh"]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'2 kWh' is not a power"), "{e}");
        let e = serde_json::from_str::<Length>("90")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"90 min\""), "{e}");
        let e = serde_json::from_str::<Power>("2.5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"2.5 kW\""), "{e}");
    }
}
