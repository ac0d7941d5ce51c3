//! Reading a time series from CSV onto a day × slot grid.
//!
//! Policy for bad values, stated once: an empty cell or `NaN`/`NA`/`null` is a *gap* (missing
//! sample); a negative value (irradiance sensors read slightly below zero at night) is clamped to
//! 0 and counted; a value above the clip level ([`Clip`]) is clipped to it and counted; anything
//! else that is not a finite number is an error naming the file, line and column. A slot's value
//! is the mean of the samples that fall in it; a slot without samples is a gap. Timestamps must
//! increase strictly.
//!
//! No unit is assumed: by default ([`Clip::AUTO`]) the clip level is 1.5 × the trace's *level*,
//! the 90th percentile of its daily maxima. Clear days set that level; a sensor spike on fewer
//! than a tenth of the days cannot move it; and no real value reaches 1.5 × it — irradiance
//! above its clear-sky peak stays within a few tens of percent (cloud-edge enhancement, in
//! 15-minute means), and a PV system's power is capped by its inverter. The same rule clips the
//! documented sensor errors of a W/m² trace and nothing of a W or kW one.

use std::io::Read;
use std::path::Path;

use jiff::civil::{Date, DateTime};

use crate::error::{HarvestError, Result};
use crate::predict::SlotSeries;

/// What to read and how to slot it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOptions {
    /// Name of the timestamp column: ISO 8601 (the local clock of the string is used, its offset
    /// ignored), `...Z` (UTC) or Unix seconds.
    pub time_column: String,
    /// Name of the value column.
    pub value_column: String,
    /// Slot length in minutes; must divide 1440.
    pub slot_minutes: u32,
    /// Which values are clipped.
    pub clip: Clip,
}

/// Which values are too high to be real.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clip {
    /// Keep every value.
    None,
    /// Clip values above this level, in the trace's unit.
    Above(f64),
    /// Clip values above this multiple of the trace's level (the 90th percentile of the daily
    /// maxima of its samples).
    Relative(f64),
}

impl Clip {
    /// The default: 1.5 × the trace's level (module docs).
    pub const AUTO: Clip = Clip::Relative(1.5);

    fn validate(&self) -> Result<()> {
        match *self {
            Clip::Above(v) | Clip::Relative(v) if !(v.is_finite() && v > 0.0) => {
                Err(HarvestError::InvalidParameter {
                    name: "clip",
                    value: v,
                    reason: "must be a finite number > 0",
                })
            }
            _ => Ok(()),
        }
    }
}

/// What reading the trace found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceSummary {
    /// Data rows read.
    pub rows: usize,
    /// Rows whose value was a gap.
    pub missing: usize,
    /// Negative values clamped to 0.
    pub negatives_clamped: usize,
    /// Values clipped to the clip level.
    pub clipped: usize,
    /// The trace's level: the 90th percentile of the daily maxima of its samples, in its unit.
    pub level: f64,
    /// The level values were clipped to (`None`: no clipping).
    pub clip_level: Option<f64>,
    /// Why that level: the rule and its numbers.
    pub clip_rule: String,
    /// First day of the grid (`YYYY-MM-DD`).
    pub first_day: String,
    /// Days on the grid.
    pub days: usize,
    /// Slots per day.
    pub slots_per_day: usize,
    /// Slots without any sample.
    pub gap_slots: usize,
}

/// A trace on its slot grid.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The grid of slot means.
    pub series: SlotSeries,
    /// What reading found.
    pub summary: TraceSummary,
    /// The first day, for calendars (months) in reports.
    pub first_day: Date,
}

impl Trace {
    /// The calendar date of day `day` of the grid (0: the first day).
    pub fn date(&self, day: usize) -> Date {
        self.first_day
            .checked_add(jiff::Span::new().days(day as i64))
            .unwrap_or(self.first_day)
    }

    /// Days `from..to` of the trace (clamped to its length), with the calendar moved along.
    pub fn slice_days(&self, from: usize, to: usize) -> Trace {
        let series = self.series.slice_days(from, to);
        let first_day = self.date(from);
        let summary = TraceSummary {
            first_day: first_day.to_string(),
            days: series.days(),
            gap_slots: series.gaps(),
            ..self.summary.clone()
        };
        Trace {
            series,
            summary,
            first_day,
        }
    }
}

/// Reads `path`.
pub fn read_trace(path: &Path, options: &TraceOptions) -> Result<Trace> {
    let file = std::fs::File::open(path).map_err(|source| HarvestError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_trace_from(file, &path.display().to_string(), options)
}

fn parse_time(s: &str) -> Option<DateTime> {
    let s = s.trim();
    if let Ok(dt) = s.parse::<DateTime>() {
        return Some(dt);
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.to_zoned(jiff::tz::TimeZone::UTC).datetime());
    }
    let secs: f64 = s.parse().ok()?;
    if !secs.is_finite() {
        return None;
    }
    let ts = jiff::Timestamp::from_second(secs.floor() as i64).ok()?;
    Some(ts.to_zoned(jiff::tz::TimeZone::UTC).datetime())
}

/// The 90th percentile of the daily maxima of `samples` (0 without any).
fn sample_level(samples: &[(u64, DateTime, f64)]) -> f64 {
    let mut maxima: Vec<f64> = Vec::new();
    let mut day: Option<Date> = None;
    for &(_, t, v) in samples {
        if day == Some(t.date()) {
            let m = maxima.last_mut().expect("a day has a maximum once seen");
            *m = m.max(v);
        } else {
            day = Some(t.date());
            maxima.push(v);
        }
    }
    maxima.sort_by(f64::total_cmp);
    crate::predict::quantile(&maxima, 0.9)
}

/// Reads CSV from `reader`; `name` is used in error messages.
pub fn read_trace_from<R: Read>(reader: R, name: &str, options: &TraceOptions) -> Result<Trace> {
    let bad = |line: u64, column: &str, reason: String| HarvestError::Trace {
        path: name.to_string(),
        line,
        column: column.to_string(),
        reason,
    };
    let m = options.slot_minutes;
    if m == 0 || 1440 % m != 0 {
        return Err(HarvestError::InvalidParameter {
            name: "slot-minutes",
            value: f64::from(m),
            reason: "must divide 1440 (minutes in a day)",
        });
    }
    options.clip.validate()?;
    let spd = (1440 / m) as usize;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| bad(1, "header", e.to_string()))?
        .clone();
    let find = |col: &str| {
        headers.iter().position(|h| h.trim() == col).ok_or_else(|| {
            bad(
                1,
                col,
                format!(
                    "no such column; the columns are: {}",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let (ti, vi) = (find(&options.time_column)?, find(&options.value_column)?);
    let mut summary = TraceSummary {
        rows: 0,
        missing: 0,
        negatives_clamped: 0,
        clipped: 0,
        level: 0.0,
        clip_level: None,
        clip_rule: String::new(),
        first_day: String::new(),
        days: 0,
        slots_per_day: spd,
        gap_slots: 0,
    };
    let mut last_time: Option<DateTime> = None;
    // Every sample with a value, negatives already set to 0; clipped once the level is known.
    let mut samples: Vec<(u64, DateTime, f64)> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| bad(line, "row", e.to_string()))?;
        summary.rows += 1;
        let t_raw = rec.get(ti).unwrap_or("");
        let t = parse_time(t_raw).ok_or_else(|| {
            bad(
                line,
                &options.time_column,
                format!("cannot read {t_raw:?} as a time (ISO 8601 or Unix seconds)"),
            )
        })?;
        if let Some(prev) = last_time
            && t <= prev
        {
            return Err(bad(
                line,
                &options.time_column,
                format!("time {t} does not come after {prev}"),
            ));
        }
        last_time = Some(t);
        let v_raw = rec.get(vi).unwrap_or("").trim();
        let value = if v_raw.is_empty()
            || ["nan", "na", "null"].contains(&v_raw.to_ascii_lowercase().as_str())
        {
            None
        } else {
            let v: f64 = v_raw.parse().map_err(|_| {
                bad(
                    line,
                    &options.value_column,
                    format!("{v_raw:?} is not a number"),
                )
            })?;
            if !v.is_finite() {
                return Err(bad(
                    line,
                    &options.value_column,
                    format!("{v_raw:?} is not finite"),
                ));
            }
            Some(v)
        };
        let Some(v) = value else {
            summary.missing += 1;
            continue;
        };
        if v < 0.0 {
            summary.negatives_clamped += 1;
        }
        samples.push((line, t, v.max(0.0)));
    }
    summary.level = sample_level(&samples);
    let (clip, rule) = match options.clip {
        Clip::None => (None, "no clipping (--clip none)".to_string()),
        Clip::Above(c) => (Some(c), format!("clipped above {c} as given")),
        Clip::Relative(f) => (
            Some(f * summary.level),
            format!(
                "clipped above {f} x the trace's level {:.4} (the 90th percentile of its daily maxima)",
                summary.level
            ),
        ),
    };
    summary.clip_level = clip;
    summary.clip_rule = rule;
    let mut first: Option<Date> = None;
    // (sum, count) per slot, grown as days appear.
    let mut acc: Vec<(f64, u32)> = Vec::new();
    for &(line, t, mut v) in &samples {
        if let Some(c) = clip
            && v > c
        {
            v = c;
            summary.clipped += 1;
        }
        let day0 = *first.get_or_insert(t.date());
        let day = day0
            .until(t.date())
            .map_err(|e| bad(line, &options.time_column, e.to_string()))?
            .get_days();
        let minute = i64::from(t.hour()) * 60 + i64::from(t.minute());
        let index = day as usize * spd + (minute / i64::from(m)) as usize;
        if acc.len() <= index {
            acc.resize((index / spd + 1) * spd, (0.0, 0));
        }
        acc[index].0 += v;
        acc[index].1 += 1;
    }
    let Some(first) = first else {
        return Err(HarvestError::TooLittleData {
            what: "trace (rows with a value)",
            needed: 1,
            got: 0,
        });
    };
    let values: Vec<Option<f64>> = acc
        .iter()
        .map(|&(s, n)| (n > 0).then(|| s / f64::from(n)))
        .collect();
    let series = SlotSeries::new(spd, values)?;
    summary.first_day = first.to_string();
    summary.days = series.days();
    summary.gap_slots = series.gaps();
    Ok(Trace {
        series,
        summary,
        first_day: first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TraceOptions {
        TraceOptions {
            time_column: "t".into(),
            value_column: "v".into(),
            slot_minutes: 720,
            clip: Clip::Above(100.0),
        }
    }

    /// Twenty days of hourly data peaking at `peak`, with `spikes` sensor errors of 50 × peak.
    fn days_csv(peak: f64, spikes: usize) -> String {
        let mut csv = String::from("t,v\n");
        for d in 1..=20 {
            for h in 0..24 {
                let sun = if (6..18).contains(&h) {
                    peak * (1.0 - ((f64::from(h) - 11.5) / 6.0).powi(2))
                } else {
                    0.0
                };
                let v = if d <= spikes && h == 12 {
                    50.0 * peak
                } else {
                    sun
                };
                csv += &format!("2020-01-{d:02}T{h:02}:00,{v}\n");
            }
        }
        csv
    }

    #[test]
    fn the_automatic_clip_is_relative_to_the_trace() {
        let auto = TraceOptions {
            slot_minutes: 60,
            clip: Clip::AUTO,
            ..opts()
        };
        for peak in [1.0, 1000.0, 1e6] {
            // One day in twenty with a spike: the level is the clear peak, the spike is clipped.
            let t = read_trace_from(days_csv(peak, 1).as_bytes(), "x.csv", &auto).unwrap();
            let top = peak * (1.0 - (0.5_f64 / 6.0).powi(2));
            assert!(
                (t.summary.level - top).abs() < 1e-9 * peak,
                "{:?}",
                t.summary
            );
            assert_eq!(t.summary.clipped, 1, "{:?}", t.summary);
            assert_eq!(t.summary.clip_level, Some(1.5 * t.summary.level));
            assert!(t.summary.clip_rule.contains("90th percentile"));
            // No spike: nothing clipped, in any unit.
            let t = read_trace_from(days_csv(peak, 0).as_bytes(), "x.csv", &auto).unwrap();
            assert_eq!(t.summary.clipped, 0);
        }
        let none = TraceOptions {
            clip: Clip::None,
            ..auto
        };
        let t = read_trace_from(days_csv(1.0, 1).as_bytes(), "x.csv", &none).unwrap();
        assert_eq!((t.summary.clipped, t.summary.clip_level), (0, None));
        for bad in [
            Clip::Above(f64::NAN),
            Clip::Above(-1.0),
            Clip::Relative(0.0),
            Clip::Relative(f64::INFINITY),
        ] {
            let options = TraceOptions {
                clip: bad,
                ..opts()
            };
            let e = read_trace_from("t,v\n".as_bytes(), "x.csv", &options).unwrap_err();
            assert!(e.to_string().contains("clip"), "{e}");
        }
    }

    #[test]
    fn slots_gaps_clip_and_negatives() {
        let csv = "t,v\n2020-01-01T00:00:00-07:00,1\n2020-01-01T06:00:00-07:00,3\n2020-01-01T12:00:00-07:00,\n\
                   2020-01-02T13:00:00-07:00,500\n2020-01-02T14:00:00-07:00,-2\n";
        let t = read_trace_from(csv.as_bytes(), "x.csv", &opts()).unwrap();
        assert_eq!(t.series.values(), &[Some(2.0), None, None, Some(50.0)]);
        assert_eq!(t.summary.missing, 1);
        assert_eq!(t.summary.clipped, 1);
        assert_eq!(t.summary.negatives_clamped, 1);
        assert_eq!(t.summary.first_day, "2020-01-01");
    }

    #[test]
    fn unix_seconds_and_utc() {
        let csv = "t,v\n0,1\n1970-01-01T12:00:00Z,2\n";
        let t = read_trace_from(csv.as_bytes(), "x.csv", &opts()).unwrap();
        assert_eq!(t.series.values(), &[Some(1.0), Some(2.0)]);
    }

    #[test]
    fn errors_name_the_place() {
        let e = read_trace_from("t,w\n".as_bytes(), "x.csv", &opts())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.csv, line 1, column v") && e.contains("t, w"),
            "{e}"
        );
        let e = read_trace_from("t,v\n2020-01-01T00:00,abc\n".as_bytes(), "x.csv", &opts())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2, column v"), "{e}");
        let e = read_trace_from("t,v\nyesterday,1\n".as_bytes(), "x.csv", &opts())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2, column t"), "{e}");
        let e = read_trace_from(
            "t,v\n2020-01-01T01:00,1\n2020-01-01T00:00,1\n".as_bytes(),
            "x.csv",
            &opts(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 3") && e.contains("does not come after"),
            "{e}"
        );
        let e = read_trace_from("t,v\n2020-01-01T01:00,inf\n".as_bytes(), "x.csv", &opts())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not finite"), "{e}");
        let e = read_trace_from("t,v\n2020-01-01T01:00,\n".as_bytes(), "x.csv", &opts())
            .unwrap_err()
            .to_string();
        assert!(e.contains("too little data"), "{e}");
        let bad_slots = TraceOptions {
            slot_minutes: 7,
            ..opts()
        };
        assert!(read_trace_from("t,v\n".as_bytes(), "x.csv", &bad_slots).is_err());
    }
}
