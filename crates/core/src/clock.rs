//! Clock time at the edges: where slot 0 sits on the calendar, and moments written
//! by people ("2026-06-01T07:00+02:00", or just "07:00") turned into seconds from it.
//!
//! Planners only see slots; a [`ClockStart`] on the [`TimeGrid`](crate::TimeGrid)
//! lets readers and reports turn slots back into clock times. Times are shown in the
//! UTC offset the start was written with (a fixed offset: a plan that crosses a
//! daylight-saving change keeps the offset it started with).

use std::fmt;

use jiff::civil::{DateTime, Time};
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};

/// Why a clock time could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The text is not a date and time in ISO 8601 form.
    #[error("'{text}' is not a date and time: write e.g. \"2026-06-01T07:00+02:00\" ({reason})")]
    Syntax {
        /// The text as written.
        text: String,
        /// What the parser said.
        reason: String,
    },
    /// The plan's start needs its UTC offset so that it names one instant.
    #[error(
        "'{text}' has no UTC offset: write it with one, e.g. \"{text}+02:00\" (or \"{text}Z\" for UTC)"
    )]
    NoOffset {
        /// The text as written.
        text: String,
    },
    /// A time zone name in brackets is not supported (offsets only).
    #[error("'{text}': time zone names are not supported, write the UTC offset only (e.g. +02:00)")]
    ZoneName {
        /// The text as written.
        text: String,
    },
    /// The text is neither a date and time nor a time of day.
    #[error(
        "'{text}' is not a clock time: write a date and time (\"2026-06-01T07:00+02:00\") or a time of day (\"07:00\")"
    )]
    NotAMoment {
        /// The text as written.
        text: String,
    },
    /// The instant lies outside the range of the calendar.
    #[error("'{text}' is out of range")]
    OutOfRange {
        /// The text as written.
        text: String,
    },
}

/// Where slot 0 starts on the calendar: an instant and the UTC offset in which
/// clock times are written. Serialised as ISO 8601 text, e.g. `"2026-06-01T07:00+02:00"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStart {
    /// Seconds since 1970-01-01T00:00Z.
    unix_seconds: i64,
    /// The offset of local time from UTC, in seconds.
    offset_seconds: i32,
}

impl ClockStart {
    /// Reads an ISO 8601 date and time with its UTC offset (`Z` for UTC):
    /// `2026-06-01T07:00+02:00`, `2026-06-01 07:00:30-05:00`, `2026-06-01T05:00Z`.
    pub fn parse(text: &str) -> Result<Self, ClockError> {
        let (dt, offset) = parse_datetime(text)?;
        let offset = offset.ok_or_else(|| ClockError::NoOffset {
            text: text.to_string(),
        })?;
        let ts = offset
            .to_timestamp(dt)
            .map_err(|_| ClockError::OutOfRange {
                text: text.to_string(),
            })?;
        Ok(Self {
            unix_seconds: ts.as_second(),
            offset_seconds: offset.seconds(),
        })
    }

    /// Seconds after local midnight at which the start falls (0 to 86,399).
    pub fn seconds_after_midnight(&self) -> i64 {
        let t = self.zoned(0).time();
        i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
    }

    /// The instant `seconds` after the start as ISO 8601 text in the start's offset,
    /// e.g. `2026-06-01T07:30+02:00` (seconds are shown only when not zero).
    pub fn iso(&self, seconds: i64) -> String {
        let z = self.zoned(seconds);
        let offset = z.strftime("%:z").to_string();
        // RFC 3339 writes UTC as "Z"; keep the offset the user wrote otherwise.
        let offset = if offset == "+00:00" {
            "Z".into()
        } else {
            offset
        };
        format!("{}T{}{offset}", z.strftime("%Y-%m-%d"), hm(&z))
    }

    /// The instant `seconds` after the start as `YYYY-MM-DD HH:MM` local time (for tables).
    pub fn local(&self, seconds: i64) -> String {
        let z = self.zoned(seconds);
        format!("{} {}", z.strftime("%Y-%m-%d"), hm(&z))
    }

    /// The offset as written in ISO 8601 (`+02:00`, `Z`).
    pub fn offset(&self) -> String {
        let iso = self.iso(0);
        let at = iso.rfind(['+', '-', 'Z']).unwrap_or(iso.len());
        iso[at..].to_string()
    }

    /// Seconds from the start to `moment`. A time of day means the first such time at
    /// or after the start (`strictly_after`: after it, so that a deadline equal to the
    /// start means the next day); a date and time without an offset is read in the
    /// start's offset.
    pub fn seconds_until(&self, moment: &Moment, strictly_after: bool) -> i64 {
        match moment.kind {
            MomentKind::At { dt, offset } => {
                let offset = offset.unwrap_or_else(|| self.tz_offset());
                // In range: both ends were checked when the moment was read.
                let ts = offset
                    .to_timestamp(dt)
                    .map_or(self.unix_seconds, |t| t.as_second());
                ts - self.unix_seconds
            }
            MomentKind::TimeOfDay(t) => {
                let of_day =
                    i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second());
                let mut ahead = (of_day - self.seconds_after_midnight()).rem_euclid(86_400);
                if ahead == 0 && strictly_after {
                    ahead = 86_400;
                }
                ahead
            }
        }
    }

    fn tz_offset(&self) -> Offset {
        // Built from an `Offset` in `parse`, so always valid.
        Offset::from_seconds(self.offset_seconds).unwrap_or(Offset::UTC)
    }

    fn zoned(&self, seconds: i64) -> Zoned {
        let ts = Timestamp::from_second(self.unix_seconds.saturating_add(seconds))
            .unwrap_or(Timestamp::MAX);
        ts.to_zoned(TimeZone::fixed(self.tz_offset()))
    }
}

/// `HH:MM`, or `HH:MM:SS` when the seconds are not zero.
fn hm(z: &Zoned) -> String {
    if z.second() == 0 {
        z.strftime("%H:%M").to_string()
    } else {
        z.strftime("%H:%M:%S").to_string()
    }
}

/// A date and time, and its offset if one was written.
fn parse_datetime(text: &str) -> Result<(DateTime, Option<Offset>), ClockError> {
    let pieces = Pieces::parse(text.trim()).map_err(|e| ClockError::Syntax {
        text: text.to_string(),
        reason: e.to_string(),
    })?;
    if pieces.time_zone_annotation().is_some() {
        return Err(ClockError::ZoneName {
            text: text.to_string(),
        });
    }
    let Some(time) = pieces.time() else {
        return Err(ClockError::Syntax {
            text: text.to_string(),
            reason: "it has a date but no time of day".into(),
        });
    };
    let offset = pieces.offset().map(|o| match o {
        PiecesOffset::Zulu => Offset::UTC,
        other => other.to_numeric_offset(),
    });
    Ok((pieces.date().to_datetime(time), offset))
}

impl fmt::Display for ClockStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iso(0))
    }
}

impl Serialize for ClockStart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockStart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A moment as a person writes it in a device window: a date and time
/// (`2026-06-01T07:00+02:00`; without an offset, the plan start's offset applies) or a
/// time of day (`07:00`, the next such time from the plan's start). Serialised as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moment {
    text: String,
    kind: MomentKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MomentKind {
    At {
        dt: DateTime,
        offset: Option<Offset>,
    },
    TimeOfDay(Time),
}

impl Moment {
    /// Reads a date and time or a time of day.
    pub fn parse(text: &str) -> Result<Self, ClockError> {
        let trimmed = text.trim();
        // A date first: jiff would also read the time out of a whole date and time.
        let kind = if trimmed.len() >= 10 && trimmed.as_bytes()[4] == b'-' {
            let (dt, offset) = parse_datetime(trimmed)?;
            // Whatever offset the plan has (±26 h at most), the instant must exist.
            let widest = Offset::from_seconds(93_599).unwrap_or(Offset::MAX);
            if widest.to_timestamp(dt).is_err() || (-widest).to_timestamp(dt).is_err() {
                return Err(ClockError::OutOfRange {
                    text: text.to_string(),
                });
            }
            MomentKind::At { dt, offset }
        } else if let Ok(t) = trimmed.parse::<Time>() {
            MomentKind::TimeOfDay(t)
        } else {
            return Err(ClockError::NotAMoment {
                text: text.to_string(),
            });
        };
        Ok(Self {
            text: text.to_string(),
            kind,
        })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Moment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Moment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_reads_and_prints_in_its_offset() {
        let s = ClockStart::parse("2026-06-01T07:00+02:00").unwrap();
        assert_eq!(s.seconds_after_midnight(), 7 * 3600);
        assert_eq!(s.iso(0), "2026-06-01T07:00+02:00");
        assert_eq!(s.iso(18 * 3600), "2026-06-02T01:00+02:00");
        assert_eq!(s.local(90 * 60), "2026-06-01 08:30");
        assert_eq!(s.offset(), "+02:00");
        let utc = ClockStart::parse("2026-06-01 05:00Z").unwrap();
        assert_eq!(utc.iso(30), "2026-06-01T05:00:30Z");
        assert_eq!(utc.offset(), "Z");
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            "\"2026-06-01T07:00+02:00\""
        );
    }

    #[test]
    fn start_needs_an_offset_and_a_time() {
        let e = ClockStart::parse("2026-06-01T07:00").unwrap_err();
        assert!(matches!(e, ClockError::NoOffset { .. }), "{e}");
        assert!(e.to_string().contains("+02:00"), "{e}");
        let e = ClockStart::parse("2026-06-01").unwrap_err().to_string();
        assert!(e.contains("no time of day"), "{e}");
        let e = ClockStart::parse("tomorrow").unwrap_err().to_string();
        assert!(e.contains("'tomorrow' is not a date and time"), "{e}");
        let e = ClockStart::parse("2026-06-01T07:00+02:00[Europe/Paris]").unwrap_err();
        assert!(matches!(e, ClockError::ZoneName { .. }), "{e}");
    }

    #[test]
    fn moments_resolve_against_the_start() {
        let s = ClockStart::parse("2026-06-01T18:00+02:00").unwrap();
        let at = |t: &str, after: bool| s.seconds_until(&Moment::parse(t).unwrap(), after);
        // A time of day is the next such time: 07:00 is tomorrow morning.
        assert_eq!(at("07:00", false), 13 * 3600);
        assert_eq!(at("18:00", false), 0);
        assert_eq!(at("18:00", true), 24 * 3600);
        // Full timestamps, in any offset or in the start's.
        assert_eq!(at("2026-06-02T07:00+02:00", true), 13 * 3600);
        assert_eq!(at("2026-06-02T05:00Z", true), 13 * 3600);
        assert_eq!(at("2026-06-02T07:00", true), 13 * 3600);
        assert_eq!(at("2026-06-01T17:00+02:00", false), -3600);
        let e = Moment::parse("7 o'clock").unwrap_err().to_string();
        assert!(e.contains("not a clock time"), "{e}");
        assert!(Moment::parse("25:00").is_err());
        assert!(Moment::parse("2026-13-01T07:00").is_err());
    }
}
