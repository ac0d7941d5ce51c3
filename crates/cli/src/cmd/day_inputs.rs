//! Forecast inputs of `powerslot day`: the day's PV from `powerslot-harvest`'s solar forecaster
//! on a trace, and its base load from `powerslot-forecast` on a meter history, in place of the
//! instance's `pv_w` and `base_load_w`.
//!
//! **When the forecast is made** (its origin): `--as-of` if given, else the instance's `start`
//! if the history covers it, else the end of the history — then the day planned is the next
//! one at the instance's clock time, as for a user whose meter data runs up to now. Only data
//! before the origin is seen. Where the history goes on past the origin (a backtest), the
//! forecast's error against what happened is reported beside it.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use powerslot_forecast::ForecastError;
use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::series::{ReadOptions, TimeSeries, format_time, parse_time, read_csv};
use powerslot_harvest::predict::default_for;
use powerslot_harvest::trace::{Clip, TraceOptions, read_trace};
use powerslot_home::Day;

const DAY_S: i64 = 86_400;

/// Most slots of base-load history fitted (eight weeks of 15-minute slots): older data adds
/// fit time and little skill for a day-ahead forecast.
const MAX_HISTORY_SLOTS: usize = 8 * 7 * 96;

/// Most days between the end of a history and the day it forecasts.
const MAX_LEAD_DAYS: i64 = 7;

/// Where the day's PV comes from.
#[derive(Clone, Debug)]
pub(crate) struct PvSource {
    /// Solar trace (CSV): irradiance or a PV system's power, any unit.
    pub file: PathBuf,
    pub time_column: String,
    pub value_column: String,
    /// The array's output at the trace's level (the 90th percentile of its daily maxima), W.
    pub peak_w: Option<f64>,
}

/// Where the day's base load comes from.
#[derive(Clone, Debug)]
pub(crate) struct LoadSource {
    /// Meter history (CSV).
    pub file: PathBuf,
    pub time_column: String,
    pub value_column: String,
    /// `COLUMN=VALUE`: one series of a long-format file.
    pub select: Option<(String, String)>,
    /// The column is a cumulative meter reading.
    pub cumulative: bool,
    /// W per unit of the column.
    pub scale: f64,
    /// `powerslot forecast` model name.
    pub model: String,
}

/// What one forecast input did.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct InputReport {
    /// `pv_w` or `base_load_w`.
    pub field: &'static str,
    pub file: String,
    /// Wall-clock time of the first step forecast.
    pub day_starts: String,
    /// Why that time (the rule of the module docs).
    pub origin_rule: String,
    /// The model that forecast it.
    pub model: String,
    /// Slots of history seen.
    pub history_slots: usize,
    /// Mean over the day, W.
    pub mean_w: f64,
    /// Mean absolute error against what the history recorded over the day, W (backtests).
    pub mae_w: Option<f64>,
    /// Mean of what the history recorded over the day, W.
    pub actual_mean_w: Option<f64>,
}

impl InputReport {
    pub(crate) fn line(&self) -> String {
        let check = match (self.mae_w, self.actual_mean_w) {
            (Some(mae), Some(actual)) => {
                format!("; against what happened: MAE {mae:.0} W (actual mean {actual:.0} W)")
            }
            _ => String::new(),
        };
        format!(
            "{} forecast by {} from {} slots of {} for the day from {} ({}): mean {:.0} W{check}",
            self.field,
            self.model,
            self.history_slots,
            self.file,
            self.day_starts,
            self.origin_rule,
            self.mean_w
        )
    }
}

/// The instance's `start` as wall-clock seconds (`None` when it has none).
pub(crate) fn instance_start(path: &Path) -> Result<Option<i64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    match doc.get("start").and_then(|s| s.as_str()) {
        None => Ok(None),
        Some(s) => parse_time(s)
            .map(Some)
            .ok_or_else(|| anyhow!("{}: field start: {s:?} is not a time", path.display())),
    }
}

/// The value column: the one named, or else the only column of the header besides the time
/// column.
pub(crate) fn value_column(
    file: &Path,
    time_column: &str,
    named: Option<&str>,
    option: &str,
) -> Result<String> {
    if let Some(c) = named {
        return Ok(c.to_string());
    }
    let mut header = String::new();
    {
        use std::io::BufRead;
        let f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
        // A header longer than this is no CSV header a person wrote.
        std::io::BufReader::new(f)
            .take(64 * 1024)
            .read_line(&mut header)
            .with_context(|| format!("reading {}", file.display()))?;
    }
    let others: Vec<&str> = header
        .trim_end()
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .filter(|c| *c != time_column)
        .collect();
    match others.as_slice() {
        [one] => Ok(one.to_string()),
        _ => bail!(
            "{}: say which column to read with {option} (columns besides {time_column}: {})",
            file.display(),
            others.join(", ")
        ),
    }
}

/// Parses `--as-of`.
pub(crate) fn parse_as_of(text: &str) -> Result<i64> {
    parse_time(text).ok_or_else(|| {
        anyhow!("option --as-of: {text:?} is not a time (e.g. 2021-06-21T00:00 or 2021-06-21)")
    })
}

/// Picks the origin: the requested time if the history (`first..end`, seconds) covers it
/// (at least `min_history` seconds before it), else the first time after `end` at the day's
/// clock time. An explicit `--as-of` outside the history is an error.
fn origin(
    explicit: Option<i64>,
    instance: Option<i64>,
    day: &Day,
    first: i64,
    end: i64,
    min_history: i64,
) -> Result<(i64, String)> {
    let covered = |t: i64| t >= first + min_history && t < end;
    if let Some(t) = explicit {
        if covered(t) {
            return Ok((t, "--as-of".into()));
        }
        bail!(
            "option --as-of: {} is not inside the history ({} to {}, and the forecast needs {} \
             days of it first)",
            format_time(t),
            format_time(first),
            format_time(end),
            min_history / DAY_S
        );
    }
    if let Some(t) = instance.filter(|t| covered(*t)) {
        return Ok((t, "the instance's start".into()));
    }
    let clock = i64::from(day.start_minute) * 60;
    let mut t = end.div_euclid(DAY_S) * DAY_S + clock;
    if t < end {
        t += DAY_S;
    }
    let why = if instance.is_some() {
        "the history does not cover the instance's start: the day after the history"
    } else {
        "the day after the history"
    };
    Ok((t, why.into()))
}

/// Mean of a slice (0 when empty).
fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Forecasts the day's PV with the harvesting node's default solar forecaster.
pub(crate) fn pv_forecast(
    source: &PvSource,
    day: &Day,
    explicit: Option<i64>,
    instance: Option<i64>,
) -> Result<(Vec<f64>, InputReport)> {
    let options = TraceOptions {
        time_column: source.time_column.clone(),
        value_column: source.value_column.clone(),
        slot_minutes: day.step_minutes,
        clip: Clip::AUTO,
    };
    let trace = read_trace(&source.file, &options).context("option --pv-from")?;
    let per_day = trace.series.slots_per_day();
    let first = parse_time(&format!("{}T00:00", trace.summary.first_day))
        .ok_or_else(|| anyhow!("trace starts on an unreadable day"))?;
    let end = first + trace.series.days() as i64 * DAY_S;
    // The solar forecaster scores its candidates on the past: two days at the least.
    let (t0, rule) = origin(explicit, instance, day, first, end, 2 * DAY_S)?;
    if t0 - end > MAX_LEAD_DAYS * DAY_S {
        bail!("option --pv-from: the trace ends more than {MAX_LEAD_DAYS} days before the day");
    }
    let peak_w = match source.peak_w {
        Some(w) if w.is_finite() && w > 0.0 => w,
        Some(w) => bail!("option --pv-peak-w: {w} is not a positive power in W"),
        None => {
            let w = day.pv_w.iter().copied().fold(0.0, f64::max);
            if w <= 0.0 {
                bail!(
                    "option --pv-from needs --pv-peak-w (the array's output in W at the \
                     trace's level): the instance's pv_w has no peak to take it from"
                );
            }
            w
        }
    };
    let level = trace.summary.level;
    if !(level.is_finite() && level > 0.0) {
        bail!(
            "option --pv-from: {} has no daylight to scale (level {level})",
            source.file.display()
        );
    }
    let scale = peak_w / level;
    let step = i64::from(day.step_minutes) * 60;
    let d = usize::try_from((t0 - first).div_euclid(DAY_S)).unwrap_or(0);
    let s0 = usize::try_from((t0 - first).rem_euclid(DAY_S) / step).unwrap_or(0);
    let seen = d.min(trace.series.days());
    let mut forecaster =
        default_for(&trace.series.slice_days(0, seen)).context("option --pv-from")?;
    // Slots between the end of what was seen and the day's first step: the morning of the
    // origin's day when it is inside the trace (observed), else the days after the trace.
    let lead = if d < trace.series.days() {
        for v in &trace.series.day(d)[..s0] {
            forecaster.update(*v);
        }
        0
    } else {
        (d - seen) * per_day + s0
    };
    let forecast = forecaster.forecast(lead + day.n_steps);
    let pv: Vec<f64> = forecast[lead..]
        .iter()
        .map(|v| v.max(0.0) * scale)
        .collect();
    // What the trace recorded over the day, where it did.
    let start_slot = d * per_day + s0;
    let values = trace.series.values();
    let pairs: Vec<(f64, f64)> = (0..day.n_steps)
        .filter_map(|k| {
            let v = (*values.get(start_slot + k)?)?;
            Some((pv[k], v * scale))
        })
        .collect();
    let full = pairs.len() == day.n_steps;
    let report = InputReport {
        field: "pv_w",
        file: source.file.display().to_string(),
        day_starts: format_time(t0),
        origin_rule: rule,
        model: format!("solar forecaster ({})", forecaster.chosen_day_ahead()),
        history_slots: seen * per_day + if lead == 0 { s0 } else { 0 },
        mean_w: mean(&pv),
        mae_w: full.then(|| mean(&pairs.iter().map(|(f, a)| (f - a).abs()).collect::<Vec<_>>())),
        actual_mean_w: full.then(|| mean(&pairs.iter().map(|p| p.1).collect::<Vec<_>>())),
    };
    Ok((pv, report))
}

/// Forecasts the day's base load with one of `powerslot forecast`'s models.
pub(crate) fn base_load_forecast(
    source: &LoadSource,
    day: &Day,
    explicit: Option<i64>,
    instance: Option<i64>,
) -> Result<(Vec<f64>, InputReport)> {
    if !(source.scale.is_finite() && source.scale > 0.0) {
        bail!(
            "option --base-load-scale: {} is not a positive number of W per unit",
            source.scale
        );
    }
    let mut spec = ModelSpec::parse(&source.model).context("option --base-load-model")?;
    let step = i64::from(day.step_minutes) * 60;
    let mut options = ReadOptions::new(&source.time_column, &source.value_column);
    options.step_seconds = Some(step);
    options.cumulative = source.cumulative;
    options.select = source.select.clone();
    let series = read_csv(&source.file, &options).context("option --base-load-from")?;
    let per_day = usize::try_from(DAY_S / step).unwrap_or(1);
    let end = series.start + series.len() as i64 * step;
    // Day-ahead models need two seasons to fit.
    let (t0, rule) = origin(explicit, instance, day, series.start, end, 2 * DAY_S)?;
    if t0 - end > MAX_LEAD_DAYS * DAY_S {
        bail!(
            "option --base-load-from: the history ends more than {MAX_LEAD_DAYS} days before the day"
        );
    }
    // Slots seen: up to the origin (rounded down to the grid).
    let seen = usize::try_from((t0 - series.start).div_euclid(step))
        .unwrap_or(0)
        .min(series.len());
    let from = seen.saturating_sub(MAX_HISTORY_SLOTS);
    let history: TimeSeries = series.slice(from, seen);
    let lead =
        usize::try_from((t0 - (series.start + seen as i64 * step)).div_euclid(step)).unwrap_or(0);
    let horizon = lead + day.n_steps;
    // `auto` fits a dozen models, the network among them: seconds, not milliseconds.
    eprintln!(
        "forecasting the base load: fitting {} on {} slots...",
        source.model,
        history.len()
    );
    // `auto` leaves out the candidates the history is too short for (the weekly median needs
    // a week and a half), as long as one is left.
    let mut left_out: Vec<&'static str> = Vec::new();
    let model = loop {
        let e = match FittedModel::fit(&spec, &history, &FitOptions::new(horizon, per_day)) {
            Ok(m) => break m,
            Err(e) => e,
        };
        let short = match (&e, &mut spec) {
            (ForecastError::TooShort { what, .. }, ModelSpec::Auto(c)) if c.len() > 1 => c
                .iter()
                .position(|m| what.ends_with(&format!("model `{}`", m.name())))
                .map(|i| c.remove(i).name()),
            _ => None,
        };
        match short {
            Some(name) => left_out.push(name),
            None => {
                return Err(e)
                    .with_context(|| format!("option --base-load-from: fitting {}", source.model));
            }
        }
    };
    let model_name = if left_out.is_empty() {
        model.name().to_string()
    } else {
        format!(
            "{} (without {}: too little history)",
            model.name(),
            left_out.join(", ")
        )
    };
    let forecast = model.predict(horizon).p50;
    let load: Vec<f64> = forecast[lead..]
        .iter()
        .map(|v| (v * source.scale).max(0.0))
        .collect();
    let actual: Option<Vec<f64>> = (seen + lead + day.n_steps <= series.len()).then(|| {
        series.values[seen + lead..seen + lead + day.n_steps]
            .iter()
            .map(|v| v * source.scale)
            .collect()
    });
    let report = InputReport {
        field: "base_load_w",
        file: source.file.display().to_string(),
        day_starts: format_time(t0),
        origin_rule: rule,
        model: model_name,
        history_slots: history.len(),
        mean_w: mean(&load),
        mae_w: actual.as_ref().map(|a| {
            mean(
                &a.iter()
                    .zip(&load)
                    .map(|(a, f)| (a - f).abs())
                    .collect::<Vec<_>>(),
            )
        }),
        actual_mean_w: actual.as_ref().map(|a| mean(a)),
    };
    Ok((load, report))
}
