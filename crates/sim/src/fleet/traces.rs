//! Readers for the real data sets the fleet simulator replays, and the samples shipped with it.
//!
//! Every reader turns one file format into plain values on one clock: **minutes since
//! 1970-01-01 00:00 of the data set's local standard time** ([`Minute`]; no summer time), and
//! powers in watts. What each data set needs (all from its `SOURCE.md`):
//!
//! | data set | reader | what it gives |
//! | --- | --- | --- |
//! | Trondheim EV sessions (`;`, decimal comma, wall clock with summer time) | [`read_ev_sessions`] | [`EvSession`]s and each user's [`Charger`] |
//! | UK homes, 1 minute (REFIT, UK-DALE; gzip CSV) | [`cut_cycles`] | washer and dishwasher [`ApplianceCycle`]s |
//! | SGSC smart meters (long format, kWh per half hour) | [`read_long`] | one [`Series`] of W per household |
//! | UCI house (kW, sub-meters in Wh per minute) | [`read_series`] | the house without its water heater, and the water heater |
//! | NAB EC2 CPU (%, 5 minutes, UTC) | [`read_series`] | one [`Series`] of CPU % per server |
//! | NREL PVDAQ irradiance (W/m², 15 minutes, UTC−7) | [`read_series`] | one [`Series`] of W/m² |
//!
//! **Policies, stated once.**
//! - *Clocks.* Timestamps are read as the data set's local clock (an ISO offset is ignored; a
//!   trailing `Z` is UTC). EV files are Norwegian wall clock: from the last Sunday of March,
//!   02:00, to the last Sunday of October, 03:00, one hour is taken off, so that every data set
//!   is on standard time; the duration column (true elapsed time) then gives the plug-out, as
//!   the data's `SOURCE.md` advises. SGSC, the UK homes and PVDAQ already keep standard time;
//!   the UCI house has exactly 1,440 rows every day, so its clock never moved either.
//! - *Missing values.* An empty cell, `NA`, `NaN`, `?` or `null`, an absent row, and an
//!   irradiance above 1,500 W/m² (a sensor error, per `SOURCE.md`) are gaps. A gap takes the
//!   value of the same time of day one day earlier, else one day later, up to a week each way
//!   (so a missing evening looks like an evening), else the nearest value. Each [`Series`]
//!   remembers the share of gaps per day; scenario builders never start a device on a stretch
//!   of days with more than 10 % gaps.
//! - *Grid.* A series' step is the median spacing of its rows; a row off the grid goes to the
//!   nearest step and rows sharing a step are averaged. Negative irradiance (sensors read
//!   slightly below zero at night) becomes 0; negative power or energy, and CPU outside
//!   0–100 %, are errors.
//! - *Appliance cycles.* See [`cut_cycles`]: a cycle runs from the first minute above 10 W to
//!   the last one before an off-run of 20 minutes (washer) or 40 minutes (dishwasher, whose
//!   drying pauses last 20–35 minutes); it must last 10 minutes to 4 hours and use at least
//!   0.1 kWh, and is dropped when the house's aggregate reads 0 W for 5 minutes or more near
//!   it (the source filled its gaps with zeros, which could have cut the cycle).
//!
//! Bad input never panics: every error names the file, and the line and column where there is
//! one. [`DataSource`] chooses between the small samples embedded in the binary (the default,
//! see `crates/sim/data/SOURCE.md`) and a directory laid out like `../shared/data`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// Minutes since 1970-01-01 00:00 on a data set's local standard-time clock.
pub type Minute = i64;

/// Minutes in a day.
pub const DAY: Minute = 1_440;

/// Why data could not be read or a scenario could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What the system said.
        source: io::Error,
    },
    /// A value that cannot be used, at a place in a file.
    #[error("{file}, line {line}, column {column}: {reason}")]
    Parse {
        /// The file.
        file: String,
        /// Its line (1 is the header).
        line: u64,
        /// The column's name (or `row` for the whole row).
        column: String,
        /// What is wrong and what was found.
        reason: String,
    },
    /// A column the reader needs is not in the header.
    #[error("{file}, line 1: no column {column:?}; the columns are: {found}")]
    MissingColumn {
        /// The file.
        file: String,
        /// The column needed.
        column: String,
        /// The header as found.
        found: String,
    },
    /// A file whose content as a whole is unusable (no rows, no cycles, too short).
    #[error("{file}: {reason}")]
    Content {
        /// The file (or data set).
        file: String,
        /// What is missing.
        reason: String,
    },
    /// An option or scenario value out of range; the message names it.
    #[error("invalid {name}: {reason}")]
    Parameter {
        /// The option or field.
        name: String,
        /// Why, with the value.
        reason: String,
    },
}

/// Shorthand for this module's results.
pub type Result<T> = std::result::Result<T, DataError>;

// ---------------------------------------------------------------------------------------------
// Clock

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Howard Hinnant's algorithm: exact for the proleptic Gregorian calendar.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn minute_of(dt: jiff::civil::DateTime) -> Minute {
    days_from_civil(
        i64::from(dt.year()),
        i64::from(dt.month()),
        i64::from(dt.day()),
    ) * DAY
        + i64::from(dt.hour()) * 60
        + i64::from(dt.minute())
}

/// Parses `YYYY-MM-DD[T ]HH:MM[:SS]` (an offset is ignored: the string's own clock counts),
/// `…Z` (UTC) or `DD.MM.YYYY HH:MM`; seconds are dropped.
pub fn parse_time(text: &str) -> Option<Minute> {
    let s = text.trim();
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return Some(minute_of(dt));
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(minute_of(ts.to_zoned(jiff::tz::TimeZone::UTC).datetime()));
    }
    jiff::civil::DateTime::strptime("%d.%m.%Y %H:%M", s)
        .ok()
        .map(minute_of)
}

/// `YYYY-MM-DD HH:MM`.
pub fn format_minute(t: Minute) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    let r = t.rem_euclid(DAY);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", r / 60, r % 60)
}

/// The calendar month (1–12) of a minute.
pub fn month_of(t: Minute) -> u8 {
    civil_from_days(t.div_euclid(DAY)).1 as u8
}

fn last_sunday(y: i64, m: i64) -> i64 {
    let last = days_from_civil(y, m, 31);
    // 1970-01-01 was a Thursday: (days + 4) mod 7 is 0 on Sundays.
    last - (last + 4).rem_euclid(7)
}

/// Whether a wall-clock minute falls in EU summer time (last Sunday of March 02:00 to last
/// Sunday of October 03:00; the repeated hour in October counts as summer time).
pub fn eu_summer_time(wall: Minute) -> bool {
    let (y, _, _) = civil_from_days(wall.div_euclid(DAY));
    let start = last_sunday(y, 3) * DAY + 120;
    let end = last_sunday(y, 10) * DAY + 180;
    (start..end).contains(&wall)
}

/// How a file's timestamps relate to standard time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Already standard time (or UTC).
    Standard,
    /// Wall clock with EU summer time (one hour is taken off in summer).
    EuWallClock,
}

impl Clock {
    fn to_standard(self, t: Minute) -> Minute {
        match self {
            Clock::Standard => t,
            Clock::EuWallClock if eu_summer_time(t) => t - 60,
            Clock::EuWallClock => t,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files and CSV

/// Opens a file, decompressing it when it starts with the gzip magic bytes (whatever its
/// extension: the UK files end in `.gzip`).
pub fn open(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(|source| DataError::Io {
        file: path.display().to_string(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let gz = reader
        .fill_buf()
        .map_err(|source| DataError::Io {
            file: path.display().to_string(),
            source,
        })?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Reads bytes held in memory (the embedded samples), decompressing gzip.
pub fn open_bytes(bytes: &'static [u8]) -> Box<dyn Read> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    }
}

/// A CSV file read row by row with columns found by name; every error names the place.
struct Table<R: Read> {
    file: String,
    rdr: csv::Reader<R>,
    header: csv::StringRecord,
    rec: csv::StringRecord,
    line: u64,
}

fn csv_error(file: &str, e: &csv::Error) -> DataError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the row is not UTF-8 text".to_string(),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
    };
    DataError::Parse {
        file: file.to_string(),
        line,
        column: "row".into(),
        reason,
    }
}

impl<R: Read> Table<R> {
    fn new(reader: R, file: &str, delimiter: u8) -> Result<Self> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(false)
            .from_reader(reader);
        let header = rdr.headers().map_err(|e| csv_error(file, &e))?.clone();
        Ok(Self {
            file: file.to_string(),
            rdr,
            header,
            rec: csv::StringRecord::new(),
            line: 1,
        })
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.header
            .iter()
            .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
    }

    fn column(&self, name: &str) -> Result<usize> {
        self.find(name).ok_or_else(|| DataError::MissingColumn {
            file: self.file.clone(),
            column: name.to_string(),
            found: self.header.iter().collect::<Vec<_>>().join(", "),
        })
    }

    fn next(&mut self) -> Result<bool> {
        match self.rdr.read_record(&mut self.rec) {
            Ok(more) => {
                self.line = self.rec.position().map_or(self.line + 1, |p| p.line());
                Ok(more)
            }
            Err(e) => Err(csv_error(&self.file, &e)),
        }
    }

    fn get(&self, i: usize) -> &str {
        self.rec.get(i).unwrap_or("").trim()
    }

    fn bad(&self, i: usize, reason: impl Into<String>) -> DataError {
        DataError::Parse {
            file: self.file.clone(),
            line: self.line,
            column: self.header.get(i).unwrap_or("?").trim().to_string(),
            reason: reason.into(),
        }
    }

    fn time(&self, i: usize) -> Result<Minute> {
        let raw = self.get(i);
        parse_time(raw).ok_or_else(|| {
            self.bad(
                i,
                format!(
                    "cannot read {raw:?} as a time (YYYY-MM-DD HH:MM[:SS] or DD.MM.YYYY HH:MM)"
                ),
            )
        })
    }

    /// A number, `None` for the missing markers; decimal commas are read when `comma`.
    fn number(&self, i: usize, comma: bool) -> Result<Option<f64>> {
        let raw = self.get(i);
        if raw.is_empty()
            || ["na", "nan", "?", "null"]
                .iter()
                .any(|m| raw.eq_ignore_ascii_case(m))
        {
            return Ok(None);
        }
        let parsed = if comma && !raw.contains('.') {
            raw.replace(',', ".").parse::<f64>()
        } else {
            raw.parse::<f64>()
        };
        match parsed {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            Ok(_) => Err(self.bad(i, format!("{raw:?} is not a finite number"))),
            Err(_) => Err(self.bad(i, format!("{raw:?} is not a number"))),
        }
    }
}

/// Whether the first line of a reader uses `;` (then numbers may have decimal commas).
fn semicolon_header<R: Read>(reader: &mut BufReader<R>, file: &str) -> Result<bool> {
    let head = reader.fill_buf().map_err(|source| DataError::Io {
        file: file.to_string(),
        source,
    })?;
    let first = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    Ok(first.contains(&b';'))
}

// ---------------------------------------------------------------------------------------------
// Regular series

/// A regular series on a data set's standard-time clock, gaps filled (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Where it came from (`file` or `file customer`).
    pub name: String,
    /// Time of the first value.
    pub start: Minute,
    /// Minutes between values.
    pub step_min: u32,
    /// One value per step (W, W/m² or CPU %, as the reader says), gaps filled.
    pub values: Vec<f32>,
    /// Values that were gaps and were filled.
    pub filled: usize,
    /// Midnight of the first day.
    day0: Minute,
    /// Share of gaps per day from `day0`, before filling.
    day_gaps: Vec<f32>,
}

impl Series {
    /// Builds a series from timed values (`None` is a gap) by the stated grid and gap rules.
    /// The error says what is wrong, for the caller to place.
    pub fn from_rows(
        name: impl Into<String>,
        mut rows: Vec<(Minute, Option<f64>)>,
    ) -> std::result::Result<Self, String> {
        /// More samples than this in one series is a wrong timestamp, not data.
        const MAX_SAMPLES: i64 = 20_000_000;
        rows.sort_by_key(|r| r.0);
        if !rows.iter().any(|r| r.1.is_some()) {
            return Err("no values at all".into());
        }
        let mut spacings: Vec<i64> = rows
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .filter(|&d| d > 0)
            .collect();
        if spacings.is_empty() {
            return Err("fewer than two distinct times".into());
        }
        let mid = spacings.len() / 2;
        let step = *spacings.select_nth_unstable(mid).1;
        if step > DAY {
            return Err(format!(
                "the rows are {step} minutes apart; at most a day is supported"
            ));
        }
        let start = rows[0].0;
        let last = rows[rows.len() - 1].0;
        let n = (last - start + step / 2) / step + 1;
        if n > MAX_SAMPLES {
            return Err(format!(
                "from {} to {} at {step}-minute steps is {n} values, more than {MAX_SAMPLES}",
                format_minute(start),
                format_minute(last)
            ));
        }
        let n = n as usize;
        let mut sum = vec![0.0f64; n];
        let mut count = vec![0u32; n];
        for &(t, v) in &rows {
            if let Some(v) = v {
                let i = ((t - start + step / 2) / step) as usize;
                sum[i] += v;
                count[i] += 1;
            }
        }
        let missing: Vec<bool> = count.iter().map(|&c| c == 0).collect();
        let mut values: Vec<f32> = sum
            .iter()
            .zip(&count)
            .map(|(&s, &c)| {
                if c > 0 {
                    (s / f64::from(c)) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let per_day = (DAY % step == 0).then(|| (DAY / step) as usize);
        let mut filled = 0;
        let nearest = nearest_known(&missing);
        for i in 0..n {
            if !missing[i] {
                continue;
            }
            filled += 1;
            let same_time = per_day.and_then(|spd| {
                (1..=7).find_map(|k| {
                    let back = i.checked_sub(k * spd).filter(|&j| !missing[j]);
                    let fwd = Some(i + k * spd).filter(|&j| j < n && !missing[j]);
                    back.or(fwd)
                })
            });
            if let Some(j) = same_time.or(nearest[i]) {
                values[i] = values[j];
            }
        }
        let day0 = start.div_euclid(DAY) * DAY;
        let days = ((start + n as i64 * step - day0 + DAY - 1) / DAY) as usize;
        let mut gaps = vec![(0u32, 0u32); days];
        for (i, &m) in missing.iter().enumerate() {
            let d = ((start + i as i64 * step - day0) / DAY) as usize;
            gaps[d].0 += u32::from(m);
            gaps[d].1 += 1;
        }
        Ok(Self {
            name: name.into(),
            start,
            step_min: step as u32,
            values,
            filled,
            day0,
            day_gaps: gaps
                .iter()
                .map(|&(m, c)| if c == 0 { 1.0 } else { m as f32 / c as f32 })
                .collect(),
        })
    }

    /// The minute after the last value.
    pub fn end(&self) -> Minute {
        self.start + self.values.len() as i64 * i64::from(self.step_min)
    }

    /// Whether `[from, to)` lies inside the series.
    pub fn covers(&self, from: Minute, to: Minute) -> bool {
        from >= self.start && to <= self.end() && from <= to
    }

    /// The largest share of gaps of any day touching `[from, to)` (1 outside the series).
    pub fn gap_share(&self, from: Minute, to: Minute) -> f64 {
        if !self.covers(from, to) {
            return 1.0;
        }
        let first = ((from - self.day0) / DAY) as usize;
        let last = ((to - 1 - self.day0).max(0) / DAY) as usize;
        self.day_gaps[first..=last.min(self.day_gaps.len() - 1)]
            .iter()
            .fold(0.0f64, |a, &g| a.max(f64::from(g)))
    }

    /// The mean over `[from, to)`, each value holding for its step (`None` outside).
    pub fn mean(&self, from: Minute, to: Minute) -> Option<f64> {
        if to <= from || !self.covers(from, to) {
            return None;
        }
        let step = i64::from(self.step_min);
        let mut i = ((from - self.start) / step) as usize;
        let mut t = from;
        let mut acc = 0.0;
        while t < to {
            let upto = (self.start + (i as i64 + 1) * step).min(to);
            acc += f64::from(self.values[i]) * (upto - t) as f64;
            t = upto;
            i += 1;
        }
        Some(acc / (to - from) as f64)
    }

    /// `slots` means of `slot_min` minutes from `from`: the mean of the finer values in each
    /// slot, or the coarser value held through it (`None` when the series does not cover it).
    pub fn resample(&self, from: Minute, slots: usize, slot_min: u32) -> Option<Vec<f64>> {
        let len = i64::from(slot_min);
        if !self.covers(from, from + slots as i64 * len) {
            return None;
        }
        (0..slots as i64)
            .map(|k| self.mean(from + k * len, from + (k + 1) * len))
            .collect()
    }

    /// The largest value.
    pub fn max(&self) -> f64 {
        f64::from(self.values.iter().copied().fold(0.0f32, f32::max))
    }

    /// Midnights of the days the series covers entirely.
    pub fn whole_days(&self) -> impl Iterator<Item = Minute> + '_ {
        let first = (self.start + DAY - 1).div_euclid(DAY) * DAY;
        (0..)
            .map(move |k| first + k * DAY)
            .take_while(move |&d| d + DAY <= self.end())
    }
}

/// For each index, the nearest index that is not missing (earlier wins a tie).
fn nearest_known(missing: &[bool]) -> Vec<Option<usize>> {
    let n = missing.len();
    let mut prev = vec![None; n];
    let mut last = None;
    for i in 0..n {
        if !missing[i] {
            last = Some(i);
        }
        prev[i] = last;
    }
    let mut out = vec![None; n];
    let mut next = None;
    for i in (0..n).rev() {
        if !missing[i] {
            next = Some(i);
        }
        out[i] = match (prev[i], next) {
            (Some(p), Some(q)) => Some(if i - p <= q - i { p } else { q }),
            (p, q) => p.or(q),
        };
    }
    out
}

/// What a value column holds, and so how it becomes the series' unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Power, W.
    Watt,
    /// Power, kW (becomes W).
    Kilowatt,
    /// Energy in each interval, Wh (becomes mean W over the interval).
    WattHourPerInterval,
    /// Energy in each interval, kWh (becomes mean W over the interval).
    KilowattHourPerInterval,
    /// CPU utilisation, 0–100 %.
    Percent,
    /// Irradiance, W/m²: negative becomes 0, above 1,500 is a sensor error (a gap).
    WattPerSquareMetre,
}

impl Unit {
    /// Parses `W`, `kW`, `Wh`, `kWh`, `%` or `W/m2`.
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s.trim() {
            "W" | "w" => Unit::Watt,
            "kW" | "kw" => Unit::Kilowatt,
            "Wh" | "wh" => Unit::WattHourPerInterval,
            "kWh" | "kwh" => Unit::KilowattHourPerInterval,
            "%" => Unit::Percent,
            "W/m2" | "W/m²" | "w/m2" => Unit::WattPerSquareMetre,
            _ => return None,
        })
    }

    /// A raw reading as kept before the grid is known (`Err` says why it is refused).
    fn check(self, v: f64) -> std::result::Result<Option<f64>, String> {
        match self {
            Unit::Percent if !(0.0..=100.0).contains(&v) => {
                Err(format!("CPU utilisation {v} is outside 0–100 %"))
            }
            Unit::WattPerSquareMetre if v < 0.0 => Ok(Some(0.0)),
            Unit::WattPerSquareMetre if v > MAX_IRRADIANCE => Ok(None),
            Unit::Percent | Unit::WattPerSquareMetre => Ok(Some(v)),
            _ if v < 0.0 => Err(format!("negative power or energy {v}")),
            _ => Ok(Some(v)),
        }
    }

    /// Factor from the checked reading to the series' unit at `step_min`-minute steps.
    fn factor(self, step_min: u32) -> f64 {
        match self {
            Unit::Watt | Unit::Percent | Unit::WattPerSquareMetre => 1.0,
            Unit::Kilowatt => 1_000.0,
            Unit::WattHourPerInterval => 60.0 / f64::from(step_min),
            Unit::KilowattHourPerInterval => 60_000.0 / f64::from(step_min),
        }
    }
}

/// Irradiance above this is a sensor error (`solar_pvdaq_nrel/SOURCE.md`), W/m².
pub const MAX_IRRADIANCE: f64 = 1_500.0;

fn scaled(mut s: Series, unit: Unit) -> Series {
    let f = unit.factor(s.step_min);
    if f != 1.0 {
        for v in &mut s.values {
            *v = (f64::from(*v) * f) as f32;
        }
    }
    s
}

/// Reads value columns of a CSV file on one time column, one [`Series`] per column (named
/// `file:column`), each converted by its [`Unit`].
pub fn read_series(
    reader: impl Read,
    file: &str,
    time_column: &str,
    columns: &[(&str, Unit)],
) -> Result<Vec<Series>> {
    let mut t = Table::new(reader, file, b',')?;
    let ti = t.column(time_column)?;
    let cols = columns
        .iter()
        .map(|(c, u)| Ok((t.column(c)?, *u)))
        .collect::<Result<Vec<_>>>()?;
    let mut rows: Vec<Vec<(Minute, Option<f64>)>> = vec![Vec::new(); cols.len()];
    while t.next()? {
        let time = t.time(ti)?;
        for (k, &(ci, unit)) in cols.iter().enumerate() {
            let v = match t.number(ci, false)? {
                Some(v) => unit.check(v).map_err(|r| t.bad(ci, r))?,
                None => None,
            };
            rows[k].push((time, v));
        }
    }
    cols.iter()
        .zip(rows)
        .map(|(&(ci, unit), r)| {
            let name = format!("{file}:{}", t.header.get(ci).unwrap_or("?").trim());
            Series::from_rows(name.clone(), r)
                .map(|s| scaled(s, unit))
                .map_err(|reason| DataError::Content { file: name, reason })
        })
        .collect()
}

/// Reads a long-format file (an id, a time and a value per row, as the SGSC smart meters):
/// one [`Series`] per id, named `file id`, in order of first appearance.
pub fn read_long(
    reader: impl Read,
    file: &str,
    id_column: &str,
    time_column: &str,
    value_column: &str,
    unit: Unit,
) -> Result<Vec<Series>> {
    let mut t = Table::new(reader, file, b',')?;
    let (ii, ti, vi) = (
        t.column(id_column)?,
        t.column(time_column)?,
        t.column(value_column)?,
    );
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, Vec<(Minute, Option<f64>)>> = BTreeMap::new();
    while t.next()? {
        let id = t.get(ii);
        if id.is_empty() {
            return Err(t.bad(ii, "empty id"));
        }
        let time = t.time(ti)?;
        let v = match t.number(vi, false)? {
            Some(v) => unit.check(v).map_err(|r| t.bad(vi, r))?,
            None => None,
        };
        if !by_id.contains_key(id) {
            order.push(id.to_string());
        }
        by_id.entry(id.to_string()).or_default().push((time, v));
    }
    if order.is_empty() {
        return Err(DataError::Content {
            file: file.into(),
            reason: "no rows".into(),
        });
    }
    order
        .into_iter()
        .map(|id| {
            let rows = by_id.remove(&id).unwrap_or_default();
            let name = format!("{file} {id}");
            Series::from_rows(name.clone(), rows)
                .map(|s| scaled(s, unit))
                .map_err(|reason| DataError::Content { file: name, reason })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// EV sessions

/// One charging session.
#[derive(Clone, Debug, PartialEq)]
pub struct EvSession {
    /// The user (one car), e.g. `Bl2-5`.
    pub user: String,
    /// The garage (empty when the file has no garage column).
    pub garage: String,
    /// Plug-in, standard time.
    pub plug_in: Minute,
    /// Plug-out, standard time (plug-in plus the true elapsed duration).
    pub plug_out: Minute,
    /// Energy charged, Wh.
    pub energy_wh: f64,
}

/// A charger's power range, inferred from its user's sessions by [`infer_charger`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Charger {
    /// Highest charging power, W (a standard level).
    pub max_w: f64,
    /// Lowest charging power, W (6 A per phase, the least IEC 61851 allows).
    pub min_w: f64,
    /// The highest mean power of the user's sessions of an hour or more, W (0 if none).
    pub observed_w: f64,
}

/// Standard home charger levels at 230 V: 16 A and 32 A on one phase, 16 A and 32 A on three,
/// with their 6 A minimum (W).
pub const CHARGER_LEVELS: [(f64, f64); 4] = [
    (3_680.0, 1_380.0),
    (7_360.0, 1_380.0),
    (11_040.0, 4_140.0),
    (22_080.0, 4_140.0),
];

/// A user's charger: the smallest standard level that is at least the highest mean power of
/// their sessions of an hour or more, less 10 % (for timestamps rounded to the minute and
/// meter error: the Trondheim users cluster at 3.6 and 7.3 kW, one reaches 7.8 kW). Users
/// without an hour-long session get 7.4 kW, the commonest level.
pub fn infer_charger<'a>(sessions: impl Iterator<Item = &'a EvSession>) -> Charger {
    let observed = sessions
        .filter(|s| s.plug_out - s.plug_in >= 60)
        .map(|s| s.energy_wh * 60.0 / (s.plug_out - s.plug_in) as f64)
        .fold(0.0f64, f64::max);
    let (max_w, min_w) = if observed == 0.0 {
        CHARGER_LEVELS[1]
    } else {
        *CHARGER_LEVELS
            .iter()
            .find(|(level, _)| level * 1.1 >= observed)
            .unwrap_or(&CHARGER_LEVELS[3])
    };
    Charger {
        max_w,
        min_w,
        observed_w: observed,
    }
}

/// The sessions of one file, sorted by user and plug-in, and each user's charger.
#[derive(Clone, Debug, PartialEq)]
pub struct EvLog {
    /// The file.
    pub file: String,
    /// The sessions.
    pub sessions: Vec<EvSession>,
    /// Sessions left out because they have neither a duration nor a plug-out.
    pub without_plug_out: usize,
    /// Each user's charger.
    pub chargers: BTreeMap<String, Charger>,
    /// Midnight after the last plug-in, open sessions included (the log says nothing about
    /// later days).
    pub end: Minute,
}

/// Reads EV sessions in the Trondheim layout: `User_ID`, `Start_plugin`, `El_kWh`, and
/// `Duration_hours` (preferred: true elapsed time) or `End_plugout`; `Garage_ID` if present.
/// `;`-separated files may use decimal commas. Times follow `clock`.
pub fn read_ev_sessions(reader: impl Read, file: &str, clock: Clock) -> Result<EvLog> {
    let mut br = BufReader::new(reader);
    let semi = semicolon_header(&mut br, file)?;
    let mut t = Table::new(br, file, if semi { b';' } else { b',' })?;
    let ui = t.column("User_ID")?;
    let pi = t.column("Start_plugin")?;
    let ei = t.column("El_kWh")?;
    let gi = t.find("Garage_ID");
    let (di, oi) = (t.find("Duration_hours"), t.find("End_plugout"));
    if di.is_none() && oi.is_none() {
        return Err(t.column("Duration_hours").unwrap_err());
    }
    let mut sessions = Vec::new();
    let mut without_plug_out = 0;
    let mut last_plug_in = Minute::MIN;
    while t.next()? {
        let user = t.get(ui).to_string();
        if user.is_empty() {
            return Err(t.bad(ui, "empty user id"));
        }
        let plug_in = clock.to_standard(t.time(pi)?);
        last_plug_in = last_plug_in.max(plug_in);
        let energy = t.number(ei, semi)?.ok_or_else(|| t.bad(ei, "no energy"))?;
        if energy < 0.0 {
            return Err(t.bad(ei, format!("negative energy {energy} kWh")));
        }
        let elapsed = match di.map(|i| t.number(i, semi)).transpose()?.flatten() {
            Some(h) if h < 0.0 => {
                return Err(t.bad(di.unwrap_or(0), format!("negative duration {h} h")));
            }
            Some(h) => Some((h * 60.0).round() as i64),
            None => match oi {
                Some(i) if !t.get(i).is_empty() && !t.get(i).eq_ignore_ascii_case("na") => {
                    let out = clock.to_standard(t.time(i)?);
                    if out < plug_in {
                        return Err(t.bad(i, "plug-out before plug-in"));
                    }
                    Some(out - plug_in)
                }
                _ => None,
            },
        };
        let Some(elapsed) = elapsed else {
            without_plug_out += 1;
            continue;
        };
        sessions.push(EvSession {
            user,
            garage: gi.map(|i| t.get(i).to_string()).unwrap_or_default(),
            plug_in,
            plug_out: plug_in + elapsed,
            energy_wh: energy * 1_000.0,
        });
    }
    if sessions.is_empty() {
        return Err(DataError::Content {
            file: file.into(),
            reason: "no session with a plug-out".into(),
        });
    }
    sessions.sort_by(|a, b| a.user.cmp(&b.user).then(a.plug_in.cmp(&b.plug_in)));
    let mut chargers = BTreeMap::new();
    for chunk in sessions.chunk_by(|a, b| a.user == b.user) {
        chargers.insert(chunk[0].user.clone(), infer_charger(chunk.iter()));
    }
    let end = last_plug_in.div_euclid(DAY) * DAY + DAY;
    Ok(EvLog {
        file: file.into(),
        sessions,
        without_plug_out,
        chargers,
        end,
    })
}

// ---------------------------------------------------------------------------------------------
// Appliance cycles

/// The deferrable appliances cut from the UK homes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Appliance {
    /// Washing machine.
    Washer,
    /// Dishwasher.
    Dishwasher,
}

impl Appliance {
    /// Both.
    pub const ALL: [Appliance; 2] = [Appliance::Washer, Appliance::Dishwasher];

    /// `washer` or `dishwasher`.
    pub fn name(self) -> &'static str {
        match self {
            Appliance::Washer => "washer",
            Appliance::Dishwasher => "dishwasher",
        }
    }

    /// Parses [`Appliance::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }

    /// Its column in the UK files.
    pub fn column(self) -> &'static str {
        match self {
            Appliance::Washer => "WashingMachine",
            Appliance::Dishwasher => "Dishwasher",
        }
    }

    /// Minutes below the threshold that end a cycle.
    pub fn off_run_min(self) -> usize {
        match self {
            Appliance::Washer => 20,
            Appliance::Dishwasher => 40,
        }
    }
}

/// A cycle is on while the appliance draws more than this, W.
pub const CYCLE_THRESHOLD_W: f32 = 10.0;
/// Aggregate zero-runs at least this long are the source's filled gaps, minutes.
pub const ZERO_GAP_MIN: usize = 5;

/// One run of an appliance, power per minute.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplianceCycle {
    /// Washer or dishwasher.
    pub appliance: Appliance,
    /// The house (`REFIT_House2`).
    pub house: String,
    /// First minute above the threshold, standard time.
    pub start: Minute,
    /// Power per minute from the start, W.
    pub power_w: Vec<f32>,
}

impl ApplianceCycle {
    /// Energy, Wh.
    pub fn energy_wh(&self) -> f64 {
        self.power_w.iter().map(|&p| f64::from(p)).sum::<f64>() / 60.0
    }

    /// Power per slot of `slot_min` minutes from the start, the mean of each slot's minutes
    /// (the last slot counts its missing minutes as off, so energy is kept).
    pub fn resample(&self, slot_min: u32) -> Vec<f64> {
        self.power_w
            .chunks(slot_min as usize)
            .map(|c| c.iter().map(|&p| f64::from(p)).sum::<f64>() / f64::from(slot_min))
            .collect()
    }
}

/// The house name of a UK file (`REFIT_House2_2014-10.gzip` → `REFIT_House2`).
pub fn house_of(path: &Path) -> String {
    let stem = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("house")
        .split('.')
        .next()
        .unwrap_or("house");
    match stem.rsplit_once('_') {
        Some((house, month)) if month.len() == 7 && month.as_bytes()[4] == b'-' => house.into(),
        _ => stem.into(),
    }
}

/// Cuts washer and dishwasher cycles from a 1-minute file (`Time`, `WashingMachine` and/or
/// `Dishwasher` in W, `Aggregate` if present), by the rules of the module docs. Absent minutes
/// and the file's ends count as gaps, so a cycle is never cut short by a missing stretch.
pub fn cut_cycles(reader: impl Read, file: &str, house: &str) -> Result<Vec<ApplianceCycle>> {
    let mut t = Table::new(reader, file, b',')?;
    let ti = t.column("Time")?;
    let ai = t.find("Aggregate");
    let cols: Vec<(Appliance, usize)> = Appliance::ALL
        .into_iter()
        .filter_map(|a| t.find(a.column()).map(|i| (a, i)))
        .collect();
    if cols.is_empty() {
        return Err(t.column("WashingMachine").unwrap_err());
    }
    // Per minute from the first row: aggregate (None = absent), appliance powers.
    let mut first: Option<Minute> = None;
    let mut agg: Vec<Option<f32>> = Vec::new();
    let mut power: Vec<Vec<f32>> = vec![Vec::new(); cols.len()];
    while t.next()? {
        let time = t.time(ti)?;
        let start = *first.get_or_insert(time);
        let i = time - start;
        if i < agg.len() as i64 {
            return Err(t.bad(ti, "time does not come after the previous row"));
        }
        if i > 40 * DAY {
            return Err(t.bad(ti, "more than 40 days after the first row"));
        }
        let i = i as usize;
        agg.resize(i, None);
        let a = match ai {
            Some(ai) => t.number(ai, false)?.map(|v| v as f32),
            None => Some(f32::MAX), // no aggregate: never a filled gap
        };
        agg.push(a);
        for (k, &(_, ci)) in cols.iter().enumerate() {
            let v = t.number(ci, false)?.unwrap_or(0.0);
            if v < 0.0 {
                return Err(t.bad(ci, format!("negative power {v} W")));
            }
            power[k].resize(i, 0.0);
            power[k].push(v as f32);
        }
    }
    let Some(start) = first else {
        return Err(DataError::Content {
            file: file.into(),
            reason: "no rows".into(),
        });
    };
    let n = agg.len();
    // Minutes inside a filled gap: absent, or in an aggregate zero-run of ZERO_GAP_MIN or more.
    let mut gap = vec![false; n];
    let mut run = 0;
    for i in 0..=n {
        let zero = i < n && agg[i].is_none_or(|a| a == 0.0);
        if zero {
            run += 1;
        } else {
            if run >= ZERO_GAP_MIN || (run > 0 && agg[i - run..i].iter().any(Option::is_none)) {
                gap[i - run..i].iter_mut().for_each(|g| *g = true);
            }
            run = 0;
        }
    }
    let mut gap_prefix = vec![0u32; n + 1];
    for i in 0..n {
        gap_prefix[i + 1] = gap_prefix[i] + u32::from(gap[i]);
    }
    let mut out = Vec::new();
    for (k, &(appliance, _)) in cols.iter().enumerate() {
        let p = &power[k];
        let off = appliance.off_run_min();
        let mut i = 0;
        while i < p.len() {
            if p[i] <= CYCLE_THRESHOLD_W {
                i += 1;
                continue;
            }
            let s = i;
            let mut last = i;
            let mut j = i + 1;
            while j < p.len() && j - last <= off {
                if p[j] > CYCLE_THRESHOLD_W {
                    last = j;
                }
                j += 1;
            }
            i = last + off + 1;
            // The off-runs on both sides must be fully inside the file and free of gaps.
            if s < off || last + off >= n {
                continue;
            }
            if gap_prefix[last + off + 1] - gap_prefix[s - off] > 0 {
                continue;
            }
            let cycle = ApplianceCycle {
                appliance,
                house: house.into(),
                start: start + s as i64,
                power_w: p[s..=last].to_vec(),
            };
            let minutes = cycle.power_w.len();
            if (10..=240).contains(&minutes) && cycle.energy_wh() >= 100.0 {
                out.push(cycle);
            }
        }
    }
    out.sort_by_key(|c| (c.appliance, c.start));
    Ok(out)
}

/// Reads cycles written by [`write_cycles`]: `appliance,house,start,power_w` with the powers
/// of one cycle as whole watts separated by spaces.
pub fn read_cycles(reader: impl Read, file: &str) -> Result<Vec<ApplianceCycle>> {
    let mut t = Table::new(reader, file, b',')?;
    let (ai, hi, si, pi) = (
        t.column("appliance")?,
        t.column("house")?,
        t.column("start")?,
        t.column("power_w")?,
    );
    let mut out = Vec::new();
    while t.next()? {
        let appliance = Appliance::parse(t.get(ai))
            .ok_or_else(|| t.bad(ai, format!("{:?} is not washer or dishwasher", t.get(ai))))?;
        let power_w = t
            .get(pi)
            .split_ascii_whitespace()
            .map(|w| match w.parse::<f32>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(t.bad(pi, format!("{w:?} is not a power in W"))),
            })
            .collect::<Result<Vec<f32>>>()?;
        if power_w.is_empty() {
            return Err(t.bad(pi, "no powers"));
        }
        out.push(ApplianceCycle {
            appliance,
            house: t.get(hi).to_string(),
            start: t.time(si)?,
            power_w,
        });
    }
    Ok(out)
}

/// Writes cycles in the format [`read_cycles`] reads (powers rounded to whole watts).
pub fn write_cycles(mut w: impl Write, cycles: &[ApplianceCycle]) -> io::Result<()> {
    writeln!(w, "appliance,house,start,power_w")?;
    for c in cycles {
        let powers: Vec<String> = c
            .power_w
            .iter()
            .map(|p| format!("{}", p.round() as i64))
            .collect();
        writeln!(
            w,
            "{},{},{},{}",
            c.appliance.name(),
            c.house,
            format_minute(c.start),
            powers.join(" ")
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Data sources

/// The data a scenario draws from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Library {
    /// EV session logs.
    pub ev: Vec<EvLog>,
    /// Washer and dishwasher cycles.
    pub cycles: Vec<ApplianceCycle>,
    /// Household load (W), each without the devices the fleet models separately.
    pub households: Vec<Series>,
    /// Electric water heaters (W).
    pub water_heaters: Vec<Series>,
    /// Servers' CPU utilisation (%).
    pub servers: Vec<Series>,
    /// Plane-of-array irradiance (W/m²).
    pub irradiance: Vec<Series>,
    /// What was read, with the data sets' attribution lines.
    pub provenance: Vec<String>,
}

/// The kinds of data a scenario may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// [`Library::ev`].
    EvSessions,
    /// [`Library::cycles`].
    Cycles,
    /// [`Library::households`].
    Households,
    /// [`Library::water_heaters`].
    WaterHeaters,
    /// [`Library::servers`].
    Servers,
    /// [`Library::irradiance`].
    Irradiance,
}

impl Pool {
    /// Every pool.
    pub const ALL: [Pool; 6] = [
        Pool::EvSessions,
        Pool::Cycles,
        Pool::Households,
        Pool::WaterHeaters,
        Pool::Servers,
        Pool::Irradiance,
    ];
}

impl Library {
    /// A library holding only `pool` of this one (the rest empty, no provenance).
    pub fn only(&self, pool: Pool) -> Library {
        let mut lib = Library::default();
        match pool {
            Pool::EvSessions => lib.ev = self.ev.clone(),
            Pool::Cycles => lib.cycles = self.cycles.clone(),
            Pool::Households => lib.households = self.households.clone(),
            Pool::WaterHeaters => lib.water_heaters = self.water_heaters.clone(),
            Pool::Servers => lib.servers = self.servers.clone(),
            Pool::Irradiance => lib.irradiance = self.irradiance.clone(),
        }
        lib
    }
}

/// Attribution of the Trondheim EV sessions (from their `SOURCE.md`).
pub const ATTRIBUTION_EV: &str = "Residential EV charging data: Sørensen, Lindberg, Sartori & Andresen (2021), Residential electric vehicle charging datasets from apartment buildings, Mendeley Data, doi:10.17632/jbks2rcwyj, licensed CC BY 4.0.";
/// Attribution of the UK appliance data.
pub const ATTRIBUTION_UK: &str = "Contains data derived from REFIT (Murray et al. 2017, CC BY 4.0), UK-DALE (Kelly & Knottenbelt 2015, CC BY 4.0) and IDEAL (Pullinger et al. 2021, CC BY 4.0), as resampled to 1 minute by the DeviceScope project (Petralia et al., EDF R&D, Apache-2.0).";
/// Attribution of the SGSC smart meters.
pub const ATTRIBUTION_SGSC: &str = "Contains Smart-Grid Smart-City Customer Trial Data (Electricity Use Interval Reading), Commonwealth of Australia / Ausgrid, data.gov.au, licensed under CC BY 3.0 AU; 50-customer sample drawn by S. Gupta et al. (github.com/Sayani07/paper-gravitas).";
/// Attribution of the UCI house.
pub const ATTRIBUTION_UCI: &str = "Hébrail, G. & Bérard, A. (2012). Individual Household Electric Power Consumption [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C58K54 (CC BY 4.0).";
/// Attribution of the NAB CPU traces.
pub const ATTRIBUTION_NAB: &str = "Numenta Anomaly Benchmark (MIT): Lavin & Ahmad (2015), Evaluating Real-time Anomaly Detection Algorithms — the Numenta Anomaly Benchmark, IEEE ICMLA.";
/// Attribution of the PVDAQ irradiance.
pub const ATTRIBUTION_PVDAQ: &str = "NREL PVDAQ system 15 (Golden, CO), public US-government open data via the DOE Open Energy Data Initiative, as packaged by pvanalytics (MIT).";

/// The samples embedded in the binary: (file name, bytes). See `crates/sim/data/SOURCE.md`.
pub const SAMPLES: [(&str, &[u8]); 9] = [
    (
        "ev_sessions_trondheim_2019-10.csv",
        include_bytes!("../../data/ev_sessions_trondheim_2019-10.csv"),
    ),
    (
        "appliance_cycles_uk_autumn.csv",
        include_bytes!("../../data/appliance_cycles_uk_autumn.csv"),
    ),
    (
        "sgsc_households_2013-04.csv.gz",
        include_bytes!("../../data/sgsc_households_2013-04.csv.gz"),
    ),
    (
        "uci_household_2007-03.csv.gz",
        include_bytes!("../../data/uci_household_2007-03.csv.gz"),
    ),
    (
        "pvdaq_system15_2021-10.csv",
        include_bytes!("../../data/pvdaq_system15_2021-10.csv"),
    ),
    (
        "nab_cpu_5f5533.csv",
        include_bytes!("../../data/nab_cpu_5f5533.csv"),
    ),
    (
        "nab_cpu_77c1ca.csv",
        include_bytes!("../../data/nab_cpu_77c1ca.csv"),
    ),
    (
        "nab_cpu_ac20cd.csv",
        include_bytes!("../../data/nab_cpu_ac20cd.csv"),
    ),
    (
        "nab_cpu_fe7f93.csv",
        include_bytes!("../../data/nab_cpu_fe7f93.csv"),
    ),
];

/// Where the traces come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DataSource {
    /// The small samples embedded in the binary (one autumn; see `crates/sim/data/SOURCE.md`).
    #[default]
    Samples,
    /// A directory laid out like `../shared/data` (every day of every data set).
    Dir(PathBuf),
}

/// One input: a file on disk or an embedded sample.
enum Input {
    Path(PathBuf),
    Sample(&'static str, &'static [u8]),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Sample(n, _) => format!("crates/sim/data/{n} (shipped sample)"),
        }
    }

    fn open(&self) -> Result<Box<dyn Read>> {
        match self {
            Input::Path(p) => open(p),
            Input::Sample(_, b) => Ok(open_bytes(b)),
        }
    }
}

impl DataSource {
    fn sample(name: &'static str) -> Input {
        let (n, b) = SAMPLES
            .iter()
            .find(|(n, _)| *n == name)
            .copied()
            .unwrap_or(("missing-sample", &[]));
        Input::Sample(n, b)
    }

    fn samples_with(prefix: &str) -> Vec<Input> {
        SAMPLES
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|&(n, b)| Input::Sample(n, b))
            .collect()
    }

    /// Files of `dir/sub` whose names start with `prefix`, sorted.
    fn listed(dir: &Path, sub: &str, prefix: &str) -> Result<Vec<Input>> {
        let d = dir.join(sub);
        let entries = std::fs::read_dir(&d).map_err(|source| DataError::Io {
            file: d.display().to_string(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && !n.ends_with(".md"))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(DataError::Content {
                file: d.display().to_string(),
                reason: format!("no file starting with {prefix:?}"),
            });
        }
        Ok(files.into_iter().map(Input::Path).collect())
    }

    /// Loads the pools a scenario needs.
    pub fn load(&self, pools: &[Pool]) -> Result<Library> {
        let mut lib = Library::default();
        let want = |p: Pool| pools.contains(&p);
        if want(Pool::EvSessions) {
            let input = match self {
                DataSource::Samples => Self::sample("ev_sessions_trondheim_2019-10.csv"),
                DataSource::Dir(d) => {
                    Input::Path(d.join("ev_sessions_trondheim/ev_sessions_trondheim.csv"))
                }
            };
            let log = read_ev_sessions(input.open()?, &input.name(), Clock::EuWallClock)?;
            lib.provenance.push(format!(
                "EV sessions: {} ({} sessions of {} users). {ATTRIBUTION_EV}",
                input.name(),
                log.sessions.len(),
                log.chargers.len()
            ));
            lib.ev.push(log);
        }
        if want(Pool::Cycles) {
            let inputs = match self {
                DataSource::Samples => vec![Self::sample("appliance_cycles_uk_autumn.csv")],
                DataSource::Dir(d) => Self::listed(d, "household_appliances_1min_uk", "")?,
            };
            for input in &inputs {
                let mut cycles = match input {
                    Input::Sample(..) => read_cycles(input.open()?, &input.name())?,
                    Input::Path(p) => cut_cycles(input.open()?, &input.name(), &house_of(p))?,
                };
                lib.cycles.append(&mut cycles);
            }
            lib.provenance.push(format!(
                "Appliance cycles: {} ({} washer, {} dishwasher cycles). {ATTRIBUTION_UK}",
                names(&inputs),
                lib.cycles
                    .iter()
                    .filter(|c| c.appliance == Appliance::Washer)
                    .count(),
                lib.cycles
                    .iter()
                    .filter(|c| c.appliance == Appliance::Dishwasher)
                    .count()
            ));
        }
        if want(Pool::Households) {
            let input = match self {
                DataSource::Samples => Self::sample("sgsc_households_2013-04.csv.gz"),
                DataSource::Dir(d) => Input::Path(
                    d.join("smartmeter_sgsc_households_30min/sgsc_40_households_30min.csv"),
                ),
            };
            let mut homes = read_long(
                input.open()?,
                &input.name(),
                "customer_id",
                "reading_datetime",
                "general_supply_kwh",
                Unit::KilowattHourPerInterval,
            )?;
            lib.provenance.push(format!(
                "Household load: {} ({} households). {ATTRIBUTION_SGSC}",
                input.name(),
                homes.len()
            ));
            lib.households.append(&mut homes);
        }
        if want(Pool::Households) || want(Pool::WaterHeaters) {
            let (rest, heater) = self.uci()?;
            if want(Pool::Households) {
                lib.households.push(rest);
            }
            if want(Pool::WaterHeaters) {
                lib.water_heaters.push(heater);
            }
            lib.provenance.push(format!(
                "UCI house (without its water heater) and its water heater (sub-meter 3): {}. {ATTRIBUTION_UCI}",
                self.uci_input().name()
            ));
        }
        if want(Pool::Servers) {
            let inputs = match self {
                DataSource::Samples => Self::samples_with("nab_cpu_"),
                DataSource::Dir(d) => Self::listed(d, "machines_nab_ec2_cpu", "ec2_cpu_")?,
            };
            for input in &inputs {
                let mut s = read_series(
                    input.open()?,
                    &input.name(),
                    "timestamp",
                    &[("value", Unit::Percent)],
                )?;
                lib.servers.append(&mut s);
            }
            lib.provenance
                .push(format!("Server CPU: {}. {ATTRIBUTION_NAB}", names(&inputs)));
        }
        if want(Pool::Irradiance) {
            let input = match self {
                DataSource::Samples => Self::sample("pvdaq_system15_2021-10.csv"),
                DataSource::Dir(d) => {
                    Input::Path(d.join("solar_pvdaq_nrel/pvdaq_system15_poa_irradiance_15min.csv"))
                }
            };
            let mut s = read_series(
                input.open()?,
                &input.name(),
                "timestamp",
                &[("poa_irradiance_w_m2", Unit::WattPerSquareMetre)],
            )?;
            lib.provenance
                .push(format!("Irradiance: {}. {ATTRIBUTION_PVDAQ}", input.name()));
            lib.irradiance.append(&mut s);
        }
        Ok(lib)
    }

    fn uci_input(&self) -> Input {
        match self {
            DataSource::Samples => Self::sample("uci_household_2007-03.csv.gz"),
            DataSource::Dir(d) => {
                Input::Path(d.join("household_uci_1min/uci_household_power_2007H1_1min.csv"))
            }
        }
    }

    /// The UCI house without sub-meter 3, and sub-meter 3 (its water heater), both in W.
    fn uci(&self) -> Result<(Series, Series)> {
        let input = self.uci_input();
        let name = input.name();
        let mut s = read_series(
            input.open()?,
            &name,
            "timestamp",
            &[
                ("global_active_power", Unit::Kilowatt),
                ("sub_metering_3", Unit::WattHourPerInterval),
            ],
        )?;
        let heater = s.pop();
        let house = s.pop();
        let (Some(mut house), Some(heater)) = (house, heater) else {
            return Err(DataError::Content {
                file: name,
                reason: "no rows".into(),
            });
        };
        // Same rows, so the same grid: what the house draws besides its water heater.
        for (h, w) in house.values.iter_mut().zip(&heater.values) {
            *h = (*h - w).max(0.0);
        }
        house.name = format!("{name} without sub-meter 3");
        Ok((house, heater))
    }
}

/// The inputs' names, or their folder and number when there are many.
fn names(inputs: &[Input]) -> String {
    match inputs {
        [Input::Path(first), _, _, _, ..] => format!(
            "{} ({} files)",
            first.parent().unwrap_or(Path::new(".")).display(),
            inputs.len()
        ),
        _ => inputs
            .iter()
            .map(Input::name)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_and_knows_summer_time() {
        for days in [-1000, 0, 17_897, 18_000, 20_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(parse_time("1970-01-02 00:01:59"), Some(DAY + 1));
        assert_eq!(
            parse_time("21.12.2018 10:20"),
            parse_time("2018-12-21T10:20")
        );
        assert_eq!(
            parse_time("2019-02-01T01:15:00-07:00"),
            parse_time("2019-02-01 01:15")
        );
        assert_eq!(
            format_minute(parse_time("2019-10-27 02:30").unwrap()),
            "2019-10-27 02:30"
        );
        // 2019: summer time from 31 March 02:00 to 27 October 03:00.
        let t = |s| parse_time(s).unwrap();
        assert!(!eu_summer_time(t("2019-03-31 01:59")));
        assert!(eu_summer_time(t("2019-03-31 03:00")));
        assert!(eu_summer_time(t("2019-10-27 02:59")));
        assert!(!eu_summer_time(t("2019-10-27 03:00")));
        assert_eq!(month_of(t("2019-10-27 03:00")), 10);
    }

    #[test]
    fn gaps_take_the_same_time_a_day_earlier() {
        // Hourly values over three days; day 2 misses 05:00 and day 1 misses 23:00.
        let mut rows = Vec::new();
        for d in 0..3 {
            for h in 0..24 {
                let v = f64::from(d * 100 + h);
                let missing = (d == 1 && h == 5) || (d == 0 && h == 23);
                rows.push((d as i64 * DAY + h as i64 * 60, (!missing).then_some(v)));
            }
        }
        let s = Series::from_rows("x", rows).unwrap();
        assert_eq!(s.step_min, 60);
        assert_eq!(s.values[24 + 5], 5.0); // from the day before
        assert_eq!(s.values[23], 123.0); // no day before: the day after
        assert_eq!(s.filled, 2);
        assert!((s.gap_share(0, DAY) - 1.0 / 24.0).abs() < 1e-6);
        assert_eq!(s.gap_share(2 * DAY, 3 * DAY), 0.0);
        assert_eq!(s.gap_share(0, 4 * DAY), 1.0);
    }

    #[test]
    fn resampling_means_finer_and_holds_coarser() {
        let rows = (0..8).map(|i| (i * 30, Some(i as f64 * 10.0))).collect();
        let s = Series::from_rows("x", rows).unwrap();
        assert_eq!(s.resample(0, 2, 60), Some(vec![5.0, 25.0]));
        assert_eq!(s.resample(15, 2, 15), Some(vec![0.0, 10.0]));
        assert_eq!(
            s.resample(30, 1, 45),
            Some(vec![(10.0 * 30.0 + 20.0 * 15.0) / 45.0])
        );
        assert_eq!(s.resample(200, 2, 30), None);
    }

    #[test]
    fn units_convert_and_refuse() {
        assert_eq!(Unit::KilowattHourPerInterval.factor(30), 2_000.0);
        assert_eq!(Unit::WattHourPerInterval.factor(1), 60.0);
        assert_eq!(Unit::WattPerSquareMetre.check(-3.0), Ok(Some(0.0)));
        assert_eq!(Unit::WattPerSquareMetre.check(1_600.0), Ok(None));
        assert!(Unit::Percent.check(130.0).is_err());
        assert!(Unit::Watt.check(-1.0).is_err());
    }

    #[test]
    fn chargers_snap_to_standard_levels() {
        let s = |kwh: f64, minutes: i64| EvSession {
            user: "u".into(),
            garage: String::new(),
            plug_in: 0,
            plug_out: minutes,
            energy_wh: kwh * 1000.0,
        };
        let c = infer_charger([s(3.6, 60), s(1.0, 600)].iter());
        assert_eq!((c.max_w, c.min_w), (3_680.0, 1_380.0));
        let c = infer_charger([s(7.8, 60)].iter());
        assert_eq!(c.max_w, 7_360.0);
        let c = infer_charger([s(9.0, 60)].iter());
        assert_eq!((c.max_w, c.min_w), (11_040.0, 4_140.0));
        // A short burst says nothing: the common level.
        let c = infer_charger([s(1.0, 5)].iter());
        assert_eq!(c.max_w, 7_360.0);
    }

    #[test]
    fn house_names_drop_the_month() {
        assert_eq!(
            house_of(Path::new("a/REFIT_House2_2014-10.gzip")),
            "REFIT_House2"
        );
        assert_eq!(house_of(Path::new("mine.csv")), "mine");
    }
}
