//! Reading a CSV into a regular time series, with a stated policy for every irregularity.
//!
//! Policies (each counted in [`Regularisation`]):
//! - **Irregular sampling**: the slot length is the step given or, if none is given, the median
//!   positive spacing; the grid starts at the first timestamp, rounded down to a whole number of
//!   steps since midnight when the step divides a day (clock hours for hourly slots); each
//!   sample goes to the nearest slot (a sample half-way between two goes to the later one).
//! - **Duplicates** (several samples in one slot, e.g. the repeated hour when daylight saving
//!   ends on local clock times): their mean is the slot's value. Rows need not be sorted.
//! - **Gaps** (empty slots, empty cells, `NaN`, or the hour skipped when daylight saving
//!   starts): runs up to `max_interpolate` slots are linearly interpolated; longer runs take
//!   the value one season earlier when there is one (so a day-long outage does not become a
//!   straight line), otherwise they are interpolated too. Leading and trailing gaps are cut.
//! - **Mostly empty grids** are refused: when the rows would fill less than half of the slots
//!   between the first and the last timestamp (one row dated years off, or a wrong step), the
//!   error names the largest gap instead of a series that is mostly interpolation.
//! - Timestamps with `Z` or an offset are converted to UTC; timestamps without are taken as
//!   wall-clock time and time-of-day features use that clock.
//!
//! Columns of *other* files join a series as exogenous features with [`join_csv`] (e.g. the
//! CPU of neighbouring servers). Their samples go onto the series' grid, duplicates are
//! averaged and long gaps are filled from a season earlier as above, with two differences that
//! keep a backtest honest when the clocks differ (NAB servers report at :27 and :30): a sample
//! goes to the first slot *at or after* its timestamp, never to an earlier one, and short gaps
//! hold the last reading instead of interpolating towards the next one. So a feature at slot t
//! only uses readings taken by time t. Slots the other file does not cover are cut from the
//! series; no common slot at all is an error naming both time ranges. [`derive_feature`] adds
//! causal transforms of a feature (change, lag, trailing mean).

use std::path::{Path, PathBuf};

use powerslot_core::limits::excerpt;

use crate::error::{ForecastError, Result};

/// How to turn a file into a regular series.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Column with timestamps.
    pub time_column: String,
    /// Column with the target value.
    pub value_column: String,
    /// Exogenous feature columns (aligned to the same grid).
    pub feature_columns: Vec<String>,
    /// Slot length in seconds; `None` infers the median spacing.
    pub step_seconds: Option<i64>,
    /// Longest gap (in slots) filled by linear interpolation before seasonal filling is tried.
    pub max_interpolate: usize,
    /// Season length in slots used to fill long gaps (`None`: one day when the step divides it).
    pub season: Option<usize>,
    /// The column holds a cumulative meter reading: forecast its first differences.
    pub cumulative: bool,
    /// Only rows whose column (first) holds this text (second) — one series of a long-format
    /// file, such as one `customer_id` of a smart-meter extract.
    pub select: Option<(String, String)>,
}

impl ReadOptions {
    /// Options for `time_column` and `value_column` with the default policies.
    pub fn new(time_column: impl Into<String>, value_column: impl Into<String>) -> Self {
        Self {
            time_column: time_column.into(),
            value_column: value_column.into(),
            feature_columns: Vec::new(),
            step_seconds: None,
            max_interpolate: 12,
            season: None,
            cumulative: false,
            select: None,
        }
    }
}

/// What regularisation did to the raw rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Regularisation {
    /// Data rows read.
    pub rows: usize,
    /// Samples that were off the grid and snapped to the nearest slot.
    pub snapped: usize,
    /// Slots that received more than one sample (averaged).
    pub duplicate_slots: usize,
    /// Slots filled by linear interpolation.
    pub interpolated: usize,
    /// Slots filled from one season earlier.
    pub seasonal_filled: usize,
    /// Slots cut at the start or end because no value was known there.
    pub trimmed: usize,
}

/// A regular time series with optional exogenous features on the same grid.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    /// Name (usually the value column).
    pub name: String,
    /// Timestamp of slot 0, seconds since 1970 (UTC, or wall clock for local timestamps).
    pub start: i64,
    /// Slot length in seconds.
    pub step_seconds: i64,
    /// One value per slot, all finite.
    pub values: Vec<f64>,
    /// Exogenous features: name and one finite value per slot.
    pub features: Vec<(String, Vec<f64>)>,
    /// What regularisation did.
    pub regularisation: Regularisation,
}

impl TimeSeries {
    /// A series from values on a grid, without features. Errors on non-finite values.
    pub fn from_values(
        name: impl Into<String>,
        start: i64,
        step_seconds: i64,
        values: Vec<f64>,
    ) -> Result<Self> {
        let name = name.into();
        if step_seconds <= 0 {
            return Err(ForecastError::InvalidParameter {
                name: "step_seconds".into(),
                message: format!("must be positive, got {step_seconds}"),
            });
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ForecastError::NonFinite {
                what: name,
                index,
                value,
            });
        }
        Ok(Self {
            name,
            start,
            step_seconds,
            regularisation: Regularisation {
                rows: values.len(),
                ..Default::default()
            },
            values,
            features: Vec::new(),
        })
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no slots.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Timestamp (seconds) of slot `i`.
    pub fn time_of(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step_seconds
    }

    /// Slots per day, if the step divides a day.
    pub fn slots_per_day(&self) -> Option<usize> {
        (86_400 % self.step_seconds == 0).then(|| (86_400 / self.step_seconds) as usize)
    }

    /// Slots `from..to` as a new series (features included).
    pub fn slice(&self, from: usize, to: usize) -> TimeSeries {
        TimeSeries {
            name: self.name.clone(),
            start: self.time_of(from),
            step_seconds: self.step_seconds,
            values: self.values[from..to].to_vec(),
            features: self
                .features
                .iter()
                .map(|(n, v)| (n.clone(), v[from..to].to_vec()))
                .collect(),
            regularisation: self.regularisation.clone(),
        }
    }
}

/// Formats a timestamp (seconds) as `YYYY-MM-DDTHH:MM:SS`.
pub fn format_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).datetime().to_string())
        .unwrap_or_else(|_| seconds.to_string())
}

/// Parses a timestamp into seconds: UTC for `Z`/offset forms, wall clock otherwise.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(ts.as_second());
    }
    let dt = text.parse::<jiff::civil::DateTime>().ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// Parses a numeric cell: empty, `NaN` and `?` are missing; anything else must be a finite
/// number.
fn parse_cell(text: &str) -> std::result::Result<Option<f64>, ()> {
    let t = text.trim();
    if t.is_empty() || t == "?" || t.eq_ignore_ascii_case("nan") || t.eq_ignore_ascii_case("na") {
        return Ok(None);
    }
    // `1e400` and `inf` parse but are no measurement: an error, not a gap to fill.
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(()),
    }
}

/// Slots a short series may have beyond twice its rows before it counts as mostly filled in.
const MIN_SLACK_SLOTS: u64 = 1000;

/// One raw row: timestamp (seconds), value, features (`None` = missing).
type RawRow = (i64, Option<f64>, Vec<Option<f64>>);

/// Reads `path` into a regular series following `options`.
pub fn read_csv(path: &Path, options: &ReadOptions) -> Result<TimeSeries> {
    let file = std::fs::File::open(path).map_err(|source| ForecastError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_csv_from(file, path, options)
}

/// Reads CSV text from any reader; `path` is only used in messages.
pub fn read_csv_from(
    reader: impl std::io::Read,
    path: &Path,
    options: &ReadOptions,
) -> Result<TimeSeries> {
    let rows = read_rows(
        reader,
        path,
        &options.time_column,
        &options.value_column,
        &options.feature_columns,
        options.select.as_ref(),
    )?;
    regularise(
        rows,
        &options.value_column,
        options,
        &path.display().to_string(),
    )
}

/// The raw rows of `time_column`, `value_column` and `feature_columns` (of the rows whose
/// `select` column holds its text, when given); errors name the file, line and column, and a
/// column without any number is an error.
fn read_rows(
    reader: impl std::io::Read,
    path: &Path,
    time_column: &str,
    value_column: &str,
    feature_columns: &[String],
    select: Option<&(String, String)>,
) -> Result<Vec<RawRow>> {
    let pb = || path.to_path_buf();
    let csv_err = |e: csv::Error| ForecastError::Csv {
        path: pb(),
        line: e.position().map(|p| p.line()).unwrap_or(0),
        message: e.to_string(),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let header = rdr.headers().map_err(csv_err)?.clone();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| ForecastError::UnknownColumn {
                path: pb(),
                column: name.to_string(),
                available: header.iter().collect::<Vec<_>>().join(", "),
            })
    };
    let time_idx = find(time_column)?;
    let value_idx = find(value_column)?;
    let feat_idx: Vec<usize> = feature_columns
        .iter()
        .map(|c| find(c))
        .collect::<Result<_>>()?;
    let select = select
        .map(|(column, text)| Ok((find(column)?, column, text.trim())))
        .transpose()?;
    // Distinct texts of the select column seen while no row matched (for the error message).
    let mut seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();

    // (time, value, features) per row, kept raw until the grid is known.
    let mut rows: Vec<RawRow> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_err(e)),
        }
        if let Some((i, _, text)) = select {
            let cell = record[i].trim();
            if cell != text {
                if rows.is_empty() && !seen.contains(cell) {
                    seen.insert(cell.to_string());
                }
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cell = |i: usize, col: &str| -> Result<Option<f64>> {
            parse_cell(&record[i]).map_err(|()| ForecastError::NotANumber {
                path: pb(),
                line,
                column: col.to_string(),
                value: excerpt(&record[i], 40),
            })
        };
        let t = parse_time(&record[time_idx]).ok_or_else(|| ForecastError::BadTimestamp {
            path: pb(),
            line,
            column: time_column.to_string(),
            value: excerpt(&record[time_idx], 40),
        })?;
        let v = cell(value_idx, value_column)?;
        let f = feat_idx
            .iter()
            .zip(feature_columns)
            .map(|(&i, c)| cell(i, c))
            .collect::<Result<Vec<_>>>()?;
        rows.push((t, v, f));
    }
    if let (Some((_, column, text)), true) = (select, rows.is_empty()) {
        return Err(ForecastError::NothingSelected {
            path: pb(),
            column: column.clone(),
            value: text.to_string(),
            distinct: seen.len(),
            examples: seen.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
        });
    }
    if rows.is_empty() {
        return Err(ForecastError::Empty { path: pb() });
    }
    let what = path.display().to_string();
    let check_any = |col: &str, get: &dyn Fn(&RawRow) -> Option<f64>| {
        if rows.iter().all(|r| get(r).is_none()) {
            Err(ForecastError::AllMissing {
                what: what.clone(),
                column: col.to_string(),
            })
        } else {
            Ok(())
        }
    };
    check_any(value_column, &|r| r.1)?;
    for (k, c) in feature_columns.iter().enumerate() {
        check_any(c, &|r| r.2[k])?;
    }
    Ok(rows)
}

/// A column of another CSV file to join onto a series as an exogenous feature:
/// `FILE[:COLUMN][=NAME]` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSpec {
    /// The other file (read with the series' time column).
    pub path: PathBuf,
    /// The column to take; `None`: the series' own value column name (files of one layout,
    /// such as the NAB servers' `timestamp,value`).
    pub column: Option<String>,
    /// The feature's name; `None`: the file stem, followed by `:COLUMN` when a column is named.
    pub name: Option<String>,
}

impl JoinSpec {
    /// Parses `FILE[:COLUMN][=NAME]`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |message: String| ForecastError::InvalidParameter {
            name: "join".into(),
            message,
        };
        let (rest, name) = match text.rsplit_once('=') {
            Some((rest, name)) if !name.contains('/') => {
                if name.trim().is_empty() {
                    return Err(bad(format!("`{text}`: the name after `=` is empty")));
                }
                (rest, Some(name.trim().to_string()))
            }
            _ => (text, None),
        };
        // A `:` followed by a path separator belongs to the path (e.g. `C:\data`), not a column.
        let (file, column) = match rest.rsplit_once(':') {
            Some((file, column)) if !column.contains(['/', '\\']) => {
                if column.trim().is_empty() {
                    return Err(bad(format!("`{text}`: the column after `:` is empty")));
                }
                (file, Some(column.trim().to_string()))
            }
            _ => (rest, None),
        };
        if file.trim().is_empty() {
            return Err(bad(format!(
                "`{text}`: expected FILE[:COLUMN][=NAME] with a file"
            )));
        }
        Ok(Self {
            path: PathBuf::from(file.trim()),
            column,
            name,
        })
    }

    /// The column read when the series' value column is `value_column`.
    pub fn column_or<'a>(&'a self, value_column: &'a str) -> &'a str {
        self.column.as_deref().unwrap_or(value_column)
    }

    /// The feature name (see [`JoinSpec::name`]).
    pub fn feature_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string());
        match &self.column {
            Some(c) => format!("{stem}:{c}"),
            None => stem,
        }
    }
}

/// What joining one column did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct JoinReport {
    /// Feature name.
    pub name: String,
    /// Data rows read from the other file.
    pub rows: usize,
    /// Rows with a value whose slot lies outside the series (before its start or after its end).
    pub outside: usize,
    /// Samples between two slots, moved to the next slot.
    pub snapped: usize,
    /// Slots that received more than one sample (averaged).
    pub duplicate_slots: usize,
    /// Slots that held the previous reading (short gaps).
    pub held: usize,
    /// Slots filled from one season earlier (long gaps).
    pub seasonal_filled: usize,
    /// Slots of the series cut at its start because the other file starts later.
    pub trimmed_start: usize,
    /// Slots of the series cut at its end because the other file ends earlier.
    pub trimmed_end: usize,
}

/// Reads `spec` and joins its column onto `series` (see the module notes for the policy).
/// `options` are the series' read options: time column, gap lengths and season.
pub fn join_csv(
    series: &TimeSeries,
    spec: &JoinSpec,
    options: &ReadOptions,
) -> Result<(TimeSeries, JoinReport)> {
    let file = std::fs::File::open(&spec.path).map_err(|source| ForecastError::Io {
        path: spec.path.clone(),
        source,
    })?;
    join_csv_from(series, file, spec, options)
}

/// Like [`join_csv`], reading the other file's text from `reader`.
pub fn join_csv_from(
    series: &TimeSeries,
    reader: impl std::io::Read,
    spec: &JoinSpec,
    options: &ReadOptions,
) -> Result<(TimeSeries, JoinReport)> {
    let path = spec.path.as_path();
    let column = spec.column_or(&options.value_column);
    let name = spec.feature_name();
    if series.features.iter().any(|(n, _)| *n == name) {
        return Err(ForecastError::InvalidParameter {
            name: "join".into(),
            message: format!(
                "{}: series `{}` already has a feature named `{name}`; give another with `=NAME`",
                path.display(),
                series.name
            ),
        });
    }
    if series.is_empty() {
        return Err(ForecastError::TooShort {
            what: series.name.clone(),
            have: 0,
            need: 1,
            why: "a column is joined onto the series' slots".into(),
        });
    }
    let rows = read_rows(reader, path, &options.time_column, column, &[], None)?;
    let step = series.step_seconds;
    let n = series.len();
    let mut report = JoinReport {
        name: name.clone(),
        rows: rows.len(),
        ..Default::default()
    };
    let (mut sum, mut count) = (vec![0.0; n], vec![0u32; n]);
    let (mut seen_from, mut seen_to) = (i64::MAX, i64::MIN);
    for &(t, v, _) in &rows {
        let Some(v) = v else { continue };
        seen_from = seen_from.min(t);
        seen_to = seen_to.max(t);
        // The first slot at or after the sample: a reading is never used before it was taken.
        let offset = t - series.start;
        let slot = offset.div_euclid(step) + i64::from(offset.rem_euclid(step) != 0);
        let Some(slot) = usize::try_from(slot).ok().filter(|&s| s < n) else {
            report.outside += 1;
            continue;
        };
        if offset.rem_euclid(step) != 0 {
            report.snapped += 1;
        }
        sum[slot] += v;
        count[slot] += 1;
    }
    report.duplicate_slots = count.iter().filter(|&&c| c > 1).count();
    let known: Vec<Option<f64>> = sum
        .iter()
        .zip(&count)
        .map(|(&s, &c)| (c > 0).then(|| s / f64::from(c)))
        .collect();
    let (Some(first), Some(last)) = (
        known.iter().position(Option::is_some),
        known.iter().rposition(Option::is_some),
    ) else {
        return Err(ForecastError::InvalidParameter {
            name: "join".into(),
            message: format!(
                "{}: column `{column}` has readings from {} to {}, series `{}` runs from {} to {}:                  no common slot",
                path.display(),
                format_time(seen_from),
                format_time(seen_to),
                series.name,
                format_time(series.start),
                format_time(series.time_of(n - 1)),
            ),
        });
    };
    report.trimmed_start = first;
    report.trimmed_end = n - 1 - last;
    let season = options
        .season
        .or_else(|| series.slots_per_day())
        .filter(|&m| m >= 1);
    let (values, held, seasonal) = fill(
        &known[first..=last],
        options.max_interpolate,
        season,
        ShortGaps::Hold,
    );
    report.held = held;
    report.seasonal_filled = seasonal;
    let mut joined = series.slice(first, last + 1);
    joined.regularisation.trimmed += first + (n - 1 - last);
    joined.features.push((name, values));
    Ok((joined, report))
}

/// A causal transform of a feature, added as a new feature column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// Change since the previous slot (0 at the first slot).
    Diff,
    /// The value `k` slots earlier (the first value before that).
    Lag(usize),
    /// Mean of the last `k` slots, the current one included (fewer at the start).
    Mean(usize),
}

impl Derived {
    /// Parses `diff`, `lagK` or `meanK` (K ≥ 1).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        let number = |rest: &str| rest.parse::<usize>().ok().filter(|&k| k >= 1);
        let parsed = if t == "diff" {
            Some(Derived::Diff)
        } else if let Some(k) = t.strip_prefix("lag").and_then(number) {
            Some(Derived::Lag(k))
        } else {
            t.strip_prefix("mean").and_then(number).map(Derived::Mean)
        };
        parsed.ok_or_else(|| ForecastError::InvalidParameter {
            name: "derived feature".into(),
            message: format!("unknown `{text}` (known: diff, lagK, meanK with K ≥ 1)"),
        })
    }

    /// Suffix of the new feature's name (`diff`, `lag3`, `mean12`).
    pub fn label(&self) -> String {
        match self {
            Derived::Diff => "diff".into(),
            Derived::Lag(k) => format!("lag{k}"),
            Derived::Mean(k) => format!("mean{k}"),
        }
    }
}

/// Adds `kind` of the feature `feature` as a new feature `FEATURE.LABEL`; each slot only uses
/// that slot and earlier ones, so no future value leaks into a forecast.
pub fn derive_feature(series: &mut TimeSeries, feature: &str, kind: Derived) -> Result<()> {
    let Some((_, x)) = series.features.iter().find(|(n, _)| n == feature) else {
        let names: Vec<&str> = series.features.iter().map(|(n, _)| n.as_str()).collect();
        return Err(ForecastError::InvalidParameter {
            name: "derived feature".into(),
            message: format!(
                "series `{}` has no feature `{feature}` (features: {})",
                series.name,
                names.join(", ")
            ),
        });
    };
    let values: Vec<f64> = match kind {
        Derived::Diff => (0..x.len())
            .map(|i| if i == 0 { 0.0 } else { x[i] - x[i - 1] })
            .collect(),
        Derived::Lag(k) => (0..x.len()).map(|i| x[i.saturating_sub(k)]).collect(),
        Derived::Mean(k) => {
            let mut running = 0.0;
            (0..x.len())
                .map(|i| {
                    running += x[i];
                    if i >= k {
                        running -= x[i - k];
                    }
                    running / (i + 1).min(k) as f64
                })
                .collect()
        }
    };
    series
        .features
        .push((format!("{feature}.{}", kind.label()), values));
    Ok(())
}

fn regularise(
    mut rows: Vec<RawRow>,
    name: &str,
    options: &ReadOptions,
    what: &str,
) -> Result<TimeSeries> {
    let mut report = Regularisation {
        rows: rows.len(),
        ..Default::default()
    };
    rows.sort_by_key(|r| r.0);
    let step = match options.step_seconds {
        Some(s) if s > 0 => s,
        Some(s) => {
            return Err(ForecastError::InvalidParameter {
                name: "step".into(),
                message: format!("must be positive, got {s}"),
            });
        }
        None => {
            let mut diffs: Vec<i64> = rows
                .windows(2)
                .map(|w| w[1].0 - w[0].0)
                .filter(|&d| d > 0)
                .collect();
            if diffs.is_empty() {
                return Err(ForecastError::TooShort {
                    what: what.to_string(),
                    have: rows.len(),
                    need: 2,
                    why: "the slot length is inferred from distinct timestamps".into(),
                });
            }
            diffs.sort_unstable();
            diffs[diffs.len() / 2]
        }
    };
    // Slots are whole steps of the clock when the step divides a day (hourly slots start on
    // the hour even when the data start at half past), so the series lines up with every
    // other tool that bins by the clock (pandas' `resample`) and with other files.
    let first_time = rows[0].0;
    let t0 = if 86_400 % step == 0 {
        first_time - first_time.rem_euclid(step)
    } else {
        first_time
    };
    let span = rows.last().map_or(0, |r| r.0) - t0;
    let slots = u64::try_from(span.saturating_add(step / 2) / step).unwrap_or(u64::MAX) + 1;
    // More than half of the grid without a sample is no series but a typo (one row dated
    // years off) or a wrong --step; refusing also keeps memory proportional to the rows.
    if slots > 2 * rows.len() as u64 + MIN_SLACK_SLOTS {
        let (a, b) = rows
            .windows(2)
            .map(|w| (w[0].0, w[1].0))
            .max_by_key(|(a, b)| b - a)
            .unwrap_or((first_time, first_time));
        return Err(ForecastError::InvalidParameter {
            name: "series".into(),
            message: format!(
                "{what}: {} rows span {} slots of {step} s from {} to {}, so more than half of the \
                 series would be filled in; the largest gap runs from {} to {} (a mistyped date? \
                 or give --step)",
                rows.len(),
                slots,
                format_time(first_time),
                format_time(t0.saturating_add(span)),
                format_time(a),
                format_time(b)
            ),
        });
    }
    let slots = slots as usize;
    let nf = options.feature_columns.len();
    let mut sum = vec![0.0; slots];
    let mut count = vec![0u32; slots];
    let mut fsum = vec![vec![0.0; slots]; nf];
    let mut fcount = vec![vec![0u32; slots]; nf];
    let mut samples = vec![0u32; slots];
    for (t, v, f) in &rows {
        let offset = t - t0;
        let slot = ((offset + step / 2) / step) as usize;
        if offset % step != 0 {
            report.snapped += 1;
        }
        samples[slot] += 1;
        if let Some(v) = v {
            sum[slot] += v;
            count[slot] += 1;
        }
        for k in 0..nf {
            if let Some(x) = f[k] {
                fsum[k][slot] += x;
                fcount[k][slot] += 1;
            }
        }
    }
    report.duplicate_slots = samples.iter().filter(|&&c| c > 1).count();
    let mean = |s: &[f64], c: &[u32]| -> Vec<Option<f64>> {
        s.iter()
            .zip(c)
            .map(|(&s, &c)| (c > 0).then(|| s / f64::from(c)))
            .collect()
    };
    let raw = mean(&sum, &count);
    let first = raw.iter().position(Option::is_some).unwrap_or(0);
    let last = raw.iter().rposition(Option::is_some).unwrap_or(0);
    report.trimmed = slots - (last + 1 - first);
    let season = options
        .season
        .or_else(|| (86_400 % step == 0).then(|| (86_400 / step) as usize));
    let (mut values, interp, seasonal) = fill(
        &raw[first..=last],
        options.max_interpolate,
        season,
        ShortGaps::Interpolate,
    );
    report.interpolated = interp;
    report.seasonal_filled = seasonal;
    let mut features = Vec::with_capacity(nf);
    for k in 0..nf {
        let col = mean(&fsum[k], &fcount[k]);
        let window = &col[first..=last];
        // A feature may be missing at the edges of the target's span: carry the nearest value.
        let (filled, _, _) = fill_with_edges(window, options.max_interpolate, season);
        features.push((options.feature_columns[k].clone(), filled));
    }
    let mut start = t0 + first as i64 * step;
    if options.cumulative {
        if values.len() < 2 {
            return Err(ForecastError::TooShort {
                what: what.to_string(),
                have: values.len(),
                need: 2,
                why: "a cumulative column is differenced".into(),
            });
        }
        // A meter reset shows as a negative step: treat that slot as unknown and refill it.
        let diffs: Vec<Option<f64>> = values
            .windows(2)
            .map(|w| Some(w[1] - w[0]).filter(|d| *d >= 0.0))
            .collect();
        let (d, i2, s2) = fill_with_edges(&diffs, options.max_interpolate, season);
        report.interpolated += i2;
        report.seasonal_filled += s2;
        values = d;
        for (_, f) in &mut features {
            f.remove(0);
        }
        start += step;
    }
    Ok(TimeSeries {
        name: name.to_string(),
        start,
        step_seconds: step,
        values,
        features,
        regularisation: report,
    })
}

/// How gaps of at most `max_interpolate` slots are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShortGaps {
    /// Linearly between the known values on either side (the series' own policy).
    Interpolate,
    /// Keep the last known value: causal, so a joined feature never sees a later reading.
    Hold,
}

/// Fills missing slots of a column whose first slot is known: short gaps as `short` says,
/// longer ones with the value one season earlier when there is one (else as short ones).
/// Returns the values and how many were filled by the short-gap rule and seasonally.
fn fill(
    raw: &[Option<f64>],
    max_interpolate: usize,
    season: Option<usize>,
    short: ShortGaps,
) -> (Vec<f64>, usize, usize) {
    let mut out: Vec<f64> = Vec::with_capacity(raw.len());
    let (mut interpolated, mut seasonal) = (0, 0);
    let mut i = 0;
    while i < raw.len() {
        if let Some(v) = raw[i] {
            out.push(v);
            i += 1;
            continue;
        }
        let gap_start = i;
        while i < raw.len() && raw[i].is_none() {
            i += 1;
        }
        let len = i - gap_start;
        let before = out.last().copied().unwrap_or(0.0);
        let after = match short {
            ShortGaps::Interpolate => raw.get(i).copied().flatten().unwrap_or(before),
            ShortGaps::Hold => before,
        };
        let use_season = len > max_interpolate && season.is_some_and(|m| gap_start >= m);
        for j in 0..len {
            if use_season {
                let m = season.unwrap_or(1);
                let v = out[gap_start + j - m];
                out.push(v);
                seasonal += 1;
            } else {
                let frac = (j + 1) as f64 / (len + 1) as f64;
                out.push(before + (after - before) * frac);
                interpolated += 1;
            }
        }
    }
    (out, interpolated, seasonal)
}

/// Like [`fill`] but also carries the nearest known value into leading and trailing gaps.
fn fill_with_edges(
    raw: &[Option<f64>],
    max_interpolate: usize,
    season: Option<usize>,
) -> (Vec<f64>, usize, usize) {
    let first = raw.iter().position(Option::is_some);
    let last = raw.iter().rposition(Option::is_some);
    let (Some(first), Some(last)) = (first, last) else {
        return (vec![0.0; raw.len()], 0, 0);
    };
    let (mid, i, s) = fill(
        &raw[first..=last],
        max_interpolate,
        season,
        ShortGaps::Interpolate,
    );
    let mut out = vec![mid[0]; first];
    let tail = raw.len() - last - 1;
    let end = *mid.last().unwrap_or(&0.0);
    out.extend(mid);
    out.extend(std::iter::repeat_n(end, tail));
    (out, i + first + tail, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_reads_one_customer_of_a_long_file() {
        let text = "customer_id,reading_datetime,kwh\n\
                    7,2013-01-01 00:00:00,1.0\n\
                    7,2013-01-01 00:30:00,2.0\n\
                    9,2013-01-01 00:00:00,50.0\n\
                    9,2013-01-01 00:30:00,60.0\n\
                    9,2013-01-01 01:00:00,70.0\n\
                    7,2013-01-01 01:00:00,3.0\n";
        let mut o = ReadOptions::new("reading_datetime", "kwh");
        o.select = Some(("customer_id".into(), "9".into()));
        let s = read_csv_from(text.as_bytes(), Path::new("long.csv"), &o).unwrap();
        assert_eq!(s.values, vec![50.0, 60.0, 70.0]);
        assert_eq!(s.step_seconds, 1800);
        o.select = Some(("customer_id".into(), "8".into()));
        let e = read_csv_from(text.as_bytes(), Path::new("long.csv"), &o).unwrap_err();
        let message = e.to_string();
        assert!(
            message.contains("no row has `customer_id` = `8`") && message.contains("2 distinct"),
            "{message}"
        );
        o.select = Some(("household".into(), "9".into()));
        let e = read_csv_from(text.as_bytes(), Path::new("long.csv"), &o).unwrap_err();
        assert!(matches!(e, ForecastError::UnknownColumn { .. }), "{e}");
    }

    fn read(text: &str, opts: &ReadOptions) -> Result<TimeSeries> {
        read_csv_from(text.as_bytes(), Path::new("t.csv"), opts)
    }

    #[test]
    fn gaps_duplicates_and_irregular_samples_follow_the_policy() {
        let text = "time,v\n2020-01-01T00:00,1\n2020-01-01T00:01,2\n2020-01-01T00:01,4\n\
                    2020-01-01T00:03:10,6\n2020-01-01T00:04,\n2020-01-01T00:05,10\n";
        let s = read(text, &ReadOptions::new("time", "v")).unwrap();
        assert_eq!(s.step_seconds, 60);
        assert_eq!(s.values, vec![1.0, 3.0, 4.5, 6.0, 8.0, 10.0]);
        assert_eq!(s.regularisation.duplicate_slots, 1);
        assert_eq!(s.regularisation.snapped, 1);
        assert_eq!(s.regularisation.interpolated, 2);
    }

    #[test]
    fn long_gaps_are_filled_from_the_previous_season() {
        let mut text = String::from("t,v\n");
        for i in 0..10 {
            if (6..9).contains(&i) {
                continue;
            }
            text.push_str(&format!("2020-01-01T00:{i:02},{}\n", i % 3));
        }
        let mut o = ReadOptions::new("t", "v");
        o.max_interpolate = 1;
        o.season = Some(3);
        let s = read(&text, &o).unwrap();
        assert_eq!(
            s.values,
            vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0]
        );
        assert_eq!(s.regularisation.seasonal_filled, 3);
    }

    #[test]
    fn hourly_slots_are_clock_hours_when_the_data_start_at_half_past() {
        // Half-hourly readings from 10:30: the 11:00 slot holds the two nearest readings,
        // 10:30 and 11:00 (half-way goes to the later slot), and the series starts at 11:00.
        let text = "t,v\n2020-01-01T10:30:00,1\n2020-01-01T11:00:00,3\n2020-01-01T11:30:00,5\n\
                    2020-01-01T12:00:00,7\n2020-01-01T12:30:00,9\n";
        let mut o = ReadOptions::new("t", "v");
        o.step_seconds = Some(3600);
        let s = read(text, &o).unwrap();
        assert_eq!(format_time(s.start), "2020-01-01T11:00:00");
        assert_eq!(s.values, vec![2.0, 6.0, 9.0]);
        // A step that does not divide a day keeps the first timestamp as the grid's start.
        o.step_seconds = Some(7 * 60);
        let s = read(text, &o).unwrap();
        assert_eq!(format_time(s.start), "2020-01-01T10:30:00");
    }

    #[test]
    fn cumulative_columns_are_differenced() {
        let text = "t,v\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z,3\n2020-01-01T02:00:00Z,6\n";
        let mut o = ReadOptions::new("t", "v");
        o.cumulative = true;
        let s = read(text, &o).unwrap();
        assert_eq!(s.values, vec![2.0, 3.0]);
        assert_eq!(s.step_seconds, 3600);
    }

    /// Six 5-minute slots from 2014-02-14 14:30, values 0..6.
    fn grid() -> TimeSeries {
        let text = "timestamp,value\n2014-02-14 14:30:00,0\n2014-02-14 14:35:00,1\n\
                    2014-02-14 14:40:00,2\n2014-02-14 14:45:00,3\n2014-02-14 14:50:00,4\n\
                    2014-02-14 14:55:00,5\n";
        read(text, &ReadOptions::new("timestamp", "value")).unwrap()
    }

    fn join(text: &str, spec: &str) -> Result<(TimeSeries, JoinReport)> {
        let spec = JoinSpec::parse(spec).unwrap();
        join_csv_from(
            &grid(),
            text.as_bytes(),
            &spec,
            &ReadOptions::new("timestamp", "value"),
        )
    }

    #[test]
    fn joined_samples_go_to_the_next_slot_and_the_overlap_is_kept() {
        // A neighbour reporting at :x2/:x7 (two minutes after the grid), starting one slot
        // later, with the 14:47 reading missing: 14:37 lands on 14:40, and so on.
        let other = "timestamp,value\n2014-02-14 14:37:00,10\n2014-02-14 14:42:00,20\n\
                     2014-02-14 14:47:00,\n2014-02-14 14:52:00,40\n2014-02-14 15:07:00,99\n";
        let (s, r) = join(other, "dir/ec2_b.csv").unwrap();
        // Slot 14:40 ← 14:37, 14:45 ← 14:42, 14:50 ← 14:47 (missing: holds 20), 14:55 ← 14:52.
        assert_eq!(format_time(s.start), "2014-02-14T14:40:00");
        assert_eq!(s.values, vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.features[0].0, "ec2_b");
        assert_eq!(s.features[0].1, vec![10.0, 20.0, 20.0, 40.0]);
        assert_eq!(r.trimmed_start, 2);
        assert_eq!(r.trimmed_end, 0);
        assert_eq!(r.held, 1);
        assert_eq!(r.outside, 1, "15:07 is after the series");
        assert_eq!(r.snapped, 3);
        assert_eq!(s.regularisation.trimmed, 2);
    }

    #[test]
    fn joined_duplicates_are_averaged_and_names_can_be_given() {
        let other = "t,cpu\n2014-02-14 14:30:00,1\n2014-02-14 14:33:00,3\n2014-02-14 14:35:00,5\n\
                     2014-02-14 14:55:00,7\n";
        let spec = JoinSpec::parse("b.csv:cpu=neighbour").unwrap();
        let mut o = ReadOptions::new("t", "value");
        o.max_interpolate = 1;
        let series = grid();
        let (s, r) = join_csv_from(&series, other.as_bytes(), &spec, &o).unwrap();
        // 14:33 and 14:35 share slot 14:35; the three-slot gap after it is longer than
        // max_interpolate but there is no earlier season, so it holds.
        assert_eq!(s.features[0].0, "neighbour");
        assert_eq!(s.features[0].1, vec![1.0, 4.0, 4.0, 4.0, 4.0, 7.0]);
        assert_eq!((r.duplicate_slots, r.held, r.seasonal_filled), (1, 3, 0));
        let e = join_csv_from(&s, other.as_bytes(), &spec, &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("already has a feature named `neighbour`"), "{e}");
    }

    #[test]
    fn joining_without_overlap_names_file_and_time_ranges() {
        let other = "timestamp,value\n2014-04-02 14:25:00,1\n2014-04-02 14:30:00,2\n";
        let e = join(other, "data/ec2_c.csv").unwrap_err().to_string();
        assert!(e.contains("data/ec2_c.csv"), "{e}");
        assert!(
            e.contains("2014-04-02T14:25:00") && e.contains("2014-04-02T14:30:00"),
            "{e}"
        );
        assert!(
            e.contains("2014-02-14T14:30:00") && e.contains("2014-02-14T14:55:00"),
            "{e}"
        );
        assert!(e.contains("no common slot"), "{e}");
    }

    #[test]
    fn joining_an_unknown_column_lists_the_columns() {
        let other = "timestamp,cpu,net\n2014-02-14 14:30:00,1,2\n";
        let e = join(other, "b.csv").unwrap_err().to_string();
        assert!(
            e.contains("b.csv") && e.contains("no column named `value`"),
            "{e}"
        );
        assert!(e.contains("timestamp, cpu, net"), "{e}");
        let e = join(other, "b.csv:disk").unwrap_err().to_string();
        assert!(e.contains("no column named `disk`"), "{e}");
        // One reading covers one slot: the five after it are cut from the series.
        let (s, r) = join(other, "b.csv:net").unwrap();
        assert_eq!(s.features[0], ("b:net".to_string(), vec![2.0]));
        assert_eq!((s.values.clone(), r.trimmed_end), (vec![0.0], 5));
    }

    #[test]
    fn join_specs_parse() {
        let p = |t: &str| JoinSpec::parse(t).unwrap();
        assert_eq!(p("a/b.csv").path, PathBuf::from("a/b.csv"));
        assert_eq!(p("a/b.csv").column, None);
        assert_eq!(p("a/b.csv:cpu").column.as_deref(), Some("cpu"));
        assert_eq!(p("a/b.csv:cpu=x").name.as_deref(), Some("x"));
        assert_eq!(p("a/b.csv=x").column, None);
        assert_eq!(p("a/b.csv=x").feature_name(), "x");
        assert!(JoinSpec::parse(":cpu").is_err());
        assert!(JoinSpec::parse("b.csv:").is_err());
        assert!(JoinSpec::parse("b.csv=").is_err());
    }

    #[test]
    fn derived_features_only_look_back() {
        let mut s = TimeSeries::from_values("y", 0, 60, vec![0.0; 4]).unwrap();
        s.features.push(("x".into(), vec![1.0, 3.0, 6.0, 10.0]));
        for d in ["diff", "lag2", "mean2"] {
            derive_feature(&mut s, "x", Derived::parse(d).unwrap()).unwrap();
        }
        assert_eq!(s.features[1], ("x.diff".into(), vec![0.0, 2.0, 3.0, 4.0]));
        assert_eq!(s.features[2], ("x.lag2".into(), vec![1.0, 1.0, 1.0, 3.0]));
        assert_eq!(s.features[3], ("x.mean2".into(), vec![1.0, 2.0, 4.5, 8.0]));
        assert!(Derived::parse("mean0").is_err());
        assert!(derive_feature(&mut s, "z", Derived::Diff).is_err());
    }

    #[test]
    fn bad_input_is_named() {
        let o = ReadOptions::new("t", "v");
        let e = read("t,v\n", &o).unwrap_err().to_string();
        assert!(e.contains("no data rows"), "{e}");
        let e = read("t,w\n2020-01-01T00:00,1\n", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column named `v`"), "{e}");
        let e = read("t,v\n2020-01-01T00:00,1\n2020-01-01T00:01,abc\n", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("`abc`"), "{e}");
        let e = read("t,v\n2020-01-01T00:00,NaN\n2020-01-01T00:01,\n", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no numeric value"), "{e}");
        let e = read("t,v\nyesterday,1\n", &o).unwrap_err().to_string();
        assert!(e.contains("not a timestamp"), "{e}");
    }
}
