//! `powerslot forecast`: rolling-origin backtests and federated rounds over CSV series.

use std::path::{Path, PathBuf};

use anyhow::Context;
use powerslot_forecast::backtest::{BacktestOptions, BacktestReport, backtest};
use powerslot_forecast::federated::{self, DpConfig, FederatedOptions};
use powerslot_forecast::model::{FitOptions, ModelSpec};
use powerslot_forecast::series::{
    Derived, JoinReport, JoinSpec, ReadOptions, TimeSeries, derive_feature, format_time, join_csv,
    read_csv,
};

use crate::plot::{Chart, Series, Style};

/// Subcommands of `powerslot forecast`.
#[derive(clap::Subcommand)]
pub(crate) enum Forecast {
    /// Rolling-origin backtest of several models on one series: MAE, RMSE, MASE, P10–P90
    /// coverage, pinball loss, timings, and a plot of forecast against actual.
    Backtest(BacktestArgs),
    /// A federated round over several devices (columns of one file, or one file each):
    /// cold-start device alone vs federated vs centrally trained.
    Federated(FederatedArgs),
}

/// How to read the series (shared by both subcommands).
#[derive(clap::Args)]
pub(crate) struct Input {
    /// Column with the timestamps.
    #[arg(long, default_value = "timestamp")]
    time_column: String,
    /// Slot length in seconds (default: the median spacing of the timestamps).
    #[arg(long)]
    step: Option<i64>,
    /// Gaps up to this many slots are interpolated; longer ones are copied from a season earlier.
    #[arg(long, default_value_t = 12)]
    max_interpolate: usize,
    /// The value columns are cumulative meter readings (e.g. OPSD kWh): forecast their differences.
    #[arg(long)]
    cumulative: bool,
    /// Only the rows whose COLUMN holds VALUE: one series of a long-format file (e.g.
    /// `--select customer_id=10006414` for one household of the SGSC extract).
    #[arg(long, value_name = "COLUMN=VALUE", value_parser = parse_select)]
    select: Option<(String, String)>,
}

/// Parses `COLUMN=VALUE`.
pub(crate) fn parse_select(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((column, value)) if !column.trim().is_empty() && !value.trim().is_empty() => {
            Ok((column.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("expected COLUMN=VALUE, got `{text}`")),
    }
}

impl Input {
    /// The reading options in their accepted ranges.
    fn check(&self) -> anyhow::Result<()> {
        if let Some(step) = self.step {
            super::in_range("--step", step, 1, 1_000_000_000)?;
        }
        super::in_range("--max-interpolate", self.max_interpolate, 0, 10_000_000)?;
        Ok(())
    }

    fn options(&self, value: &str, features: &[String]) -> ReadOptions {
        let mut o = ReadOptions::new(self.time_column.clone(), value);
        o.feature_columns = features.to_vec();
        o.step_seconds = self.step;
        o.max_interpolate = self.max_interpolate;
        o.cumulative = self.cumulative;
        o.select = self.select.clone();
        o
    }
}

/// Arguments of `powerslot forecast backtest`.
#[derive(clap::Args)]
pub(crate) struct BacktestArgs {
    /// CSV file with a timestamp column and the series.
    file: PathBuf,
    #[command(flatten)]
    input: Input,
    /// Column to forecast.
    #[arg(long)]
    value_column: String,
    /// Exogenous feature columns (comma separated), used by ridge, quantile, boosted and lstm.
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    /// A column of another CSV as an exogenous feature: FILE[:COLUMN][=NAME] (repeatable;
    /// COLUMN defaults to --value-column, NAME to the file stem). Read with --time-column; a
    /// sample counts from the first slot at or after its timestamp, short gaps hold the last
    /// reading, and slots the file does not cover are cut from the series.
    #[arg(long, value_name = "FILE[:COLUMN][=NAME]")]
    join: Vec<String>,
    /// Causal transforms added for every --join column (comma separated): diff (change since
    /// the previous slot), lagK (K slots earlier), meanK (mean of the last K slots).
    #[arg(long, value_delimiter = ',', requires = "join")]
    join_derived: Vec<String>,
    /// Steps ahead.
    #[arg(long, default_value_t = 5)]
    horizon: usize,
    /// Models (comma separated): persistence, seasonal-naive, ewma, daily-median,
    /// weekly-median, ets, mstl, ridge, quantile, boosted, profile, lstm, auto. `auto` combines
    /// the others listed (all but boosted, whose refits cost seconds, when it is listed alone)
    /// with weights chosen by greedy selection on their recent errors.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "persistence,seasonal-naive,ewma,ets,mstl,ridge,quantile,profile,lstm,auto"
    )]
    models: Vec<String>,
    /// Season length in slots (default: one day).
    #[arg(long)]
    season: Option<usize>,
    /// Number of forecast origins.
    #[arg(long, default_value_t = 100)]
    origins: usize,
    /// Slots between origins (default: the origins spread over the last quarter, ≤ 20,000 slots).
    #[arg(long)]
    spacing: Option<usize>,
    /// Most recent slots before the first origin used to fit (default: all).
    #[arg(long)]
    max_train: Option<usize>,
    /// Recent errors per step behind the P10/P90 (fewer adapt faster when the series drifts).
    #[arg(long, default_value_t = 200)]
    calibration: usize,
    /// Seed for the randomised models.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Slots between refits of `boosted` (default: when the history has grown by a sixteenth).
    /// Fresher models forecast better and cost a refit each time.
    #[arg(long)]
    refit_every: Option<usize>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory for the forecast-against-actual plot (SVG and PNG).
    #[arg(long, default_value = "out/forecast")]
    out: PathBuf,
    /// Do not draw the plot.
    #[arg(long)]
    no_plot: bool,
    /// Also write the series the models see (after regularisation, selection and
    /// differencing) as a `timestamp,value` CSV, so another tool can forecast the very same
    /// values (the statsforecast peer script reads it).
    #[arg(long, value_name = "FILE")]
    write_series: Option<PathBuf>,
}

/// Arguments of `powerslot forecast federated`.
#[derive(clap::Args)]
pub(crate) struct FederatedArgs {
    /// One CSV with a column per device, or several CSVs (one device each).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    input: Input,
    /// Value column(s): several with one file (each a device), or one shared by all files.
    #[arg(long, value_delimiter = ',', required = true)]
    value_column: Vec<String>,
    /// Steps ahead.
    #[arg(long, default_value_t = 6)]
    horizon: usize,
    /// Federated rounds.
    #[arg(long, default_value_t = 8)]
    rounds: usize,
    /// Local epochs per round.
    #[arg(long, default_value_t = 1)]
    local_epochs: usize,
    /// The cold-start device: its name (column or file stem) or index.
    #[arg(long, default_value = "0")]
    cold_device: String,
    /// Repeat the study with each device in turn as the cold one and print a table and how
    /// often federating beats training alone (instead of --cold-device).
    #[arg(long, conflicts_with = "cold_device")]
    sweep_cold: bool,
    /// Slots of history the cold-start device has (default: two days).
    #[arg(long, default_value_t = 0)]
    cold_history: usize,
    /// Probability that a device drops out in a round (secure aggregation recovers).
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Differential privacy: Gaussian noise multiplier (turns DP on).
    #[arg(long)]
    dp_noise: Option<f64>,
    /// Differential privacy: clipping norm of each update.
    #[arg(long, default_value_t = 1.0)]
    dp_clip: f64,
    /// Differential privacy: the delta of the reported (epsilon, delta).
    #[arg(long, default_value_t = 1e-5)]
    dp_delta: f64,
    /// Seed for masks, noise, initialisation and batch order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Unit of the series for axis labels (e.g. "CPU %", "kWh per hour").
    #[arg(long, default_value = "series units")]
    unit: String,
    /// Directory for the figures (SVG and PNG).
    #[arg(long, default_value = "out/forecast")]
    out: PathBuf,
    /// Do not draw the figures.
    #[arg(long)]
    no_plot: bool,
}

/// Runs the command.
pub(crate) fn run(cmd: Forecast) -> anyhow::Result<()> {
    match cmd {
        Forecast::Backtest(args) => run_backtest(args),
        Forecast::Federated(args) => run_federated(args),
    }
}

fn run_backtest(args: BacktestArgs) -> anyhow::Result<()> {
    use super::in_range;
    args.input.check()?;
    in_range("--horizon", args.horizon, 1, 100_000)?;
    in_range("--origins", args.origins, 1, 1_000_000)?;
    if let Some(s) = args.spacing {
        in_range("--spacing", s, 1, 1_000_000_000)?;
    }
    if let Some(m) = args.max_train {
        in_range("--max-train", m, 1, usize::MAX)?;
    }
    in_range("--calibration", args.calibration, 0, 10_000_000)?;
    if let Some(r) = args.refit_every {
        in_range("--refit-every", r, 1, usize::MAX)?;
    }
    let read = args.input.options(&args.value_column, &args.features);
    let series = read_csv(&args.file, &read)?;
    let (series, joins) = join_features(series, &args.join, &args.join_derived, &read)?;
    if let Some(path) = &args.write_series {
        write_series(&series, path)
            .with_context(|| format!("--write-series {}", path.display()))?;
    }
    // A season must fit twice in the series: one to learn from, one to compare with.
    let season = match args.season {
        Some(m) => in_range("--season", m, 1, (series.len() / 2).max(1))?,
        None => series.slots_per_day().unwrap_or(1),
    };
    let specs = args
        .models
        .iter()
        .map(|m| {
            let mut spec = ModelSpec::parse(m)?;
            if let ModelSpec::Boosted(config) = &mut spec {
                config.refit_every = args.refit_every.or(config.refit_every);
            }
            Ok(spec)
        })
        .collect::<Result<Vec<_>, powerslot_forecast::ForecastError>>()?;
    let mut fit = FitOptions::new(args.horizon, season);
    fit.calibration = args.calibration;
    fit.seed = args.seed;
    let mut options = BacktestOptions::new(fit);
    options.origins = args.origins;
    options.spacing = args.spacing;
    options.max_train = args.max_train;

    let singles = specs
        .iter()
        .filter(|s| !matches!(s, ModelSpec::Auto(_)))
        .count()
        .max(1);
    let bar = crate::progress::bar((singles * args.origins) as u64, "backtest");
    let report = backtest(&series, &specs, &options, &|| bar.inc(1))?;
    bar.finish_and_clear();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_joins(&series, &joins);
        print_backtest(&series, &report);
    }
    if !args.no_plot {
        let stem = format!("backtest_{}", sanitize(&series.name));
        let files = plot_backtest(&series, &report, &args.out, &stem)?;
        if !args.json {
            for f in files {
                println!("plot: {}", f.display());
            }
        }
    }
    Ok(())
}

/// Writes `series` as `timestamp,value` lines (UTC, as the backtest prints its origins).
fn write_series(series: &TimeSeries, path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "timestamp,value")?;
    for (i, v) in series.values.iter().enumerate() {
        writeln!(out, "{},{v}", format_time(series.time_of(i)))?;
    }
    out.flush()?;
    Ok(())
}

/// Joins every `--join` column onto `series`, then adds the `--join-derived` transforms of each.
fn join_features(
    mut series: TimeSeries,
    joins: &[String],
    derived: &[String],
    read: &ReadOptions,
) -> anyhow::Result<(TimeSeries, Vec<JoinReport>)> {
    let derived = derived
        .iter()
        .map(|d| Derived::parse(d))
        .collect::<Result<Vec<_>, _>>()
        .context("--join-derived")?;
    let mut reports = Vec::with_capacity(joins.len());
    for text in joins {
        let spec = JoinSpec::parse(text).with_context(|| format!("--join {text}"))?;
        let (joined, report) =
            join_csv(&series, &spec, read).with_context(|| format!("--join {text}"))?;
        series = joined;
        for &d in &derived {
            derive_feature(&mut series, &report.name, d)?;
        }
        reports.push(report);
    }
    Ok((series, reports))
}

fn print_joins(series: &TimeSeries, joins: &[JoinReport]) {
    if !series.features.is_empty() {
        let names: Vec<&str> = series.features.iter().map(|(n, _)| n.as_str()).collect();
        println!("features: {}", names.join(", "));
    }
    for j in joins {
        println!(
            "joined `{}`: {} rows ({} outside the series, {} moved to the next slot, {} duplicate \
             slots averaged, {} slots held the last reading, {} filled from a season earlier); \
             cut {} slots at the start and {} at the end",
            j.name,
            j.rows,
            j.outside,
            j.snapped,
            j.duplicate_slots,
            j.held,
            j.seasonal_filled,
            j.trimmed_start,
            j.trimmed_end
        );
    }
}

fn print_backtest(series: &TimeSeries, r: &BacktestReport) {
    let g = &series.regularisation;
    println!(
        "{}: {} slots of {} s from {} ({} rows; {} snapped, {} duplicate slots averaged, {} interpolated, {} filled from a season earlier, {} trimmed)",
        series.name,
        series.len(),
        series.step_seconds,
        format_time(series.start),
        g.rows,
        g.snapped,
        g.duplicate_slots,
        g.interpolated,
        g.seasonal_filled,
        g.trimmed
    );
    println!(
        "backtest: {} origins every {} slots from {} (trained on {} slots), horizon {}, season {}; MASE scale {:.4} \
         (seasonal naive on the held-out points; in-sample {:.4})",
        r.origins,
        r.spacing,
        format_time(series.time_of(r.origin_slots[0])),
        r.train_slots,
        r.horizon,
        r.season,
        r.mase_scale,
        r.mase_scale_in_sample
    );
    println!(
        "{:<15} {:>10} {:>10} {:>7} {:>9} {:>10} {:>10} {:>10}   MAE by step",
        "model", "MAE", "RMSE", "MASE", "P10-P90", "pinball", "fit ms", "predict ms"
    );
    for m in &r.models {
        let steps: Vec<String> = m.mae_by_step.iter().map(|v| format!("{v:.4}")).collect();
        println!(
            "{:<15} {:>10.4} {:>10.4} {:>7.3} {:>8.1}% {:>10.4} {:>10.1} {:>10.3}   {}",
            m.name,
            m.mae,
            m.rmse,
            m.mase,
            m.coverage_p10_p90 * 100.0,
            m.pinball,
            m.fit_ms,
            m.predict_ms,
            steps.join(" ")
        );
        if !m.chosen.is_empty() {
            let c: Vec<String> = m.chosen.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!("{:<15} chose: {}", "", c.join(", "));
        }
    }
    for (name, why) in &r.skipped {
        println!("skipped {name}: {why}");
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Actual values over the last origins against the P50 and P10/P90 of `auto` (or the best model).
fn plot_backtest(
    series: &TimeSeries,
    r: &BacktestReport,
    dir: &Path,
    stem: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let trace = r
        .traces
        .iter()
        .find(|t| t.name == "auto")
        .or_else(|| {
            let best = r.models.iter().min_by(|a, b| a.mae.total_cmp(&b.mae))?;
            r.traces.iter().find(|t| t.name == best.name)
        })
        .context("no model to plot")?;
    let shown = r.origin_slots.len().min(12);
    let first = r.origin_slots.len() - shown;
    let lo = r.origin_slots[first].saturating_sub(r.horizon.max(r.spacing / 2));
    let hi = (r.origin_slots[r.origin_slots.len() - 1] + r.horizon).min(series.len());
    let hours = |i: usize| (i - lo) as f64 * series.step_seconds as f64 / 3600.0;
    let actual: Vec<(f64, f64)> = (lo..hi).map(|i| (hours(i), series.values[i])).collect();
    let (mut p50, mut p10, mut p90) = (Vec::new(), Vec::new(), Vec::new());
    for (o, f) in r.origin_slots[first..]
        .iter()
        .zip(&trace.forecasts[first..])
    {
        for k in 0..f.p50.len() {
            let x = hours(o + k);
            p50.push((x, f.p50[k]));
            p10.push((x, f.p10[k]));
            p90.push((x, f.p90[k]));
        }
    }
    let title = format!(
        "{}: {} forecasts, {} steps ahead, from {}",
        series.name,
        trace.name,
        r.horizon,
        format_time(series.time_of(lo))
    );
    let chart = Chart::new(title, "hours", series.name.clone())
        .with(Series::new("actual", actual, Style::Line))
        .with(Series::new(
            format!("{} P50", trace.name),
            p50,
            Style::Points,
        ))
        .with(Series::new("P10", p10, Style::Points))
        .with(Series::new("P90", p90, Style::Points));
    chart.save(dir, stem)
}

fn run_federated(args: FederatedArgs) -> anyhow::Result<()> {
    use super::{in_range, positive};
    args.input.check()?;
    in_range("--horizon", args.horizon, 1, 10_000)?;
    in_range("--rounds", args.rounds, 1, 10_000)?;
    in_range("--local-epochs", args.local_epochs, 1, 1_000)?;
    if !(0.0..1.0).contains(&args.dropout) {
        anyhow::bail!(
            "--dropout must be at least 0 and below 1, got {}",
            args.dropout
        );
    }
    if let Some(noise) = args.dp_noise {
        positive("--dp-noise", noise, 1e6)?;
    }
    positive("--dp-clip", args.dp_clip, 1e6)?;
    if !(args.dp_delta > 0.0 && args.dp_delta < 1.0) {
        anyhow::bail!(
            "--dp-delta must be above 0 and below 1, got {}",
            args.dp_delta
        );
    }
    let devices = read_devices(&args)?;
    let mut options = FederatedOptions {
        horizon: args.horizon,
        rounds: args.rounds,
        local_epochs: args.local_epochs,
        cold_history: args.cold_history,
        dropout: args.dropout,
        dp: args.dp_noise.map(|noise_multiplier| DpConfig {
            clip: args.dp_clip,
            noise_multiplier,
            delta: args.dp_delta,
        }),
        seed: args.seed,
        ..FederatedOptions::default()
    };
    if args.sweep_cold {
        let sweep = federated::sweep(&devices, &options)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&sweep)?);
        } else {
            println!("{sweep}");
        }
        if !args.no_plot {
            let files = plot_sweep(&sweep, &args.out)?;
            if !args.json {
                files.iter().for_each(|f| println!("plot: {}", f.display()));
            }
        }
        return Ok(());
    }
    options.cold_device = match args.cold_device.parse::<usize>() {
        Ok(i) if i < devices.len() => i,
        Ok(i) => anyhow::bail!(
            "--cold-device {i}: there are only {} devices",
            devices.len()
        ),
        Err(_) => devices
            .iter()
            .position(|d| d.name == args.cold_device)
            .with_context(|| {
                let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
                format!(
                    "--cold-device `{}` is not one of: {}",
                    args.cold_device,
                    names.join(", ")
                )
            })?,
    };
    let report = federated::run(&devices, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    if !args.no_plot {
        let files = plot_federated(&report, &args.unit, &args.out)?;
        if !args.json {
            files.iter().for_each(|f| println!("plot: {}", f.display()));
        }
    }
    Ok(())
}

/// Palette indices, so a way of training has the same colour in every federated figure.
const ACTUAL: usize = 7;
const ALONE: usize = 1;
const FEDERATED: usize = 0;
const TUNED: usize = 4;
const CENTRAL: usize = 2;
const PERSISTENCE: usize = 3;

/// Way of training, its MAE in a score, and its colour.
type Mode = (&'static str, fn(&federated::DeviceScore) -> f64, usize);

const MODES: [Mode; 5] = [
    ("alone", |d| d.local_mae, ALONE),
    ("federated", |d| d.federated_mae, FEDERATED),
    ("fed+tuned", |d| d.finetuned_mae, TUNED),
    ("central", |d| d.central_mae, CENTRAL),
    ("persistence", |d| d.persistence_mae, PERSISTENCE),
];

/// Grouped bars as one `Area` series per mode: bar `i` spans `[i - 0.4 + m·w, … + 0.9·w]` for
/// mode `m` of `modes`, so the modes of one device sit side by side.
fn bars(values: &[f64], m: usize, modes: usize) -> Vec<(f64, f64)> {
    let w = 0.8 / modes as f64;
    values
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| {
            let left = i as f64 - 0.4 + m as f64 * w;
            [(left, v), (left + 0.9 * w, 0.0)]
        })
        .collect()
}

/// A y range around the data with `headroom` (a share of the spread) above it for the
/// legend, which sits in the upper right corner; from zero when `from_zero`.
fn y_range(chart: &Chart, headroom: f64, from_zero: bool) -> Option<(f64, f64)> {
    let ys = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite());
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if lo > hi {
        return None;
    }
    let spread = (hi - lo).max(1e-9);
    let lo = if from_zero { 0.0 } else { lo - 0.05 * spread };
    Some((lo, hi + headroom * (hi - lo).max(spread)))
}

/// "30 min" or "6 h": how far ahead `horizon` slots of `step_seconds` reach.
fn ahead(horizon: usize, step_seconds: i64) -> String {
    let seconds = horizon as i64 * step_seconds;
    if seconds % 3600 == 0 {
        format!("{} h", seconds / 3600)
    } else {
        format!("{} min", seconds as f64 / 60.0)
    }
}

/// Figures of one federated study: the cold device's held-out forecasts against the actual
/// values, the test MAE per device and way of training, and the learning curve per round.
fn plot_federated(
    r: &federated::FederatedReport,
    unit: &str,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let cold = r.cold().context("the cold device has no score")?;
    let t = &r.cold_trace;
    let h = r.horizon;
    let ahead = ahead(h, t.step_seconds);
    // The first 96 forecasts of the test part (8 h at 5 min, 4 days hourly): a fixed stretch,
    // not one picked to flatter a model, short enough to tell the lines apart.
    let windows = t.forecasts.first().map_or(0, |(_, p)| p.len());
    let shown = windows.min(96);
    let hours = |i: usize| i as f64 * t.step_seconds as f64 / 3600.0;
    // Forecast j covers actual[j+1..=j+h]; its last step lands on actual[j+h].
    let actual: Vec<(f64, f64)> = (h..shown + h)
        .filter_map(|i| Some((hours(i), *t.actual.get(i)?)))
        .collect();
    let mut chart = Chart::new(
        format!(
            "{}, cold start ({} slots): forecasts {ahead} ahead from {}",
            t.name,
            cold.train_slots,
            format_time(t.start + (h as i64) * t.step_seconds)
        ),
        "hours into the held-out test period",
        unit,
    )
    .with(Series::new("actual", actual, Style::Line).color(ACTUAL));
    for (mode, label, mae, color) in [
        ("local", "alone", cold.local_mae, ALONE),
        ("federated", "federated", cold.federated_mae, FEDERATED),
        ("central", "central", cold.central_mae, CENTRAL),
    ] {
        let Some((_, paths)) = t.forecasts.iter().find(|(m, _)| m == mode) else {
            continue;
        };
        let points = paths[..shown]
            .iter()
            .enumerate()
            .map(|(j, p)| (hours(j + h), p[h - 1]))
            .collect();
        chart = chart.with(
            Series::new(
                format!("{label} (test MAE {mae:.3} over all steps)"),
                points,
                Style::Line,
            )
            .color(color),
        );
    }
    chart.y_range = y_range(&chart, 0.45, false);
    let mut files = chart.save(dir, &format!("federated_{}_forecasts", sanitize(&t.name)))?;

    let cold_index = r
        .devices
        .iter()
        .position(|d| d.name == r.cold_device)
        .unwrap_or(0);
    let modes = &MODES[..4];
    let mut chart = Chart::new(
        format!("Test MAE {ahead} ahead per device (device {cold_index} is the cold start)"),
        "device (index in the printed table)",
        "MAE ÷ persistence MAE (1 = repeat last value)",
    );
    for (m, (name, g, color)) in modes.iter().enumerate() {
        let values: Vec<f64> = r
            .devices
            .iter()
            .map(|d| g(d) / d.persistence_mae.max(1e-12))
            .collect();
        chart = chart
            .with(Series::new(*name, bars(&values, m, modes.len()), Style::Area).color(*color));
    }
    let n = r.devices.len() as f64;
    chart = chart.with(
        Series::new(
            "persistence",
            vec![(-0.5, 1.0), (n - 0.5, 1.0)],
            Style::Dashed,
        )
        .color(PERSISTENCE),
    );
    chart.x_range = Some((-0.5, n - 0.5));
    chart.y_range = y_range(&chart, 0.35, true);
    files.extend(chart.save(dir, "federated_mae_by_device")?);

    // Learning curve: the global model after each round, against the final alone and central.
    let rel = |v: f64, d: &federated::DeviceScore| v / d.persistence_mae.max(1e-12);
    let cold_curve: Vec<(f64, f64)> = r
        .rounds
        .iter()
        .filter_map(|round| {
            Some((
                round.round as f64,
                rel(*round.test_mae.get(cold_index)?, cold),
            ))
        })
        .collect();
    let mean_curve: Vec<(f64, f64)> = r
        .rounds
        .iter()
        .map(|round| {
            let sum: f64 = round
                .test_mae
                .iter()
                .zip(&r.devices)
                .map(|(&m, d)| rel(m, d))
                .sum();
            (round.round as f64, sum / n.max(1.0))
        })
        .collect();
    let last = r.rounds.len().max(1) as f64;
    let level = |v: f64| vec![(1.0, v), (last, v)];
    let mut chart = Chart::new(
        format!(
            "Federated learning curve, {ahead} ahead (cold start: {})",
            r.cold_device
        ),
        "federated round",
        "test MAE ÷ persistence MAE",
    )
    .with(
        Series::new(
            "cold device: federated, after each round",
            cold_curve,
            Style::Line,
        )
        .color(FEDERATED),
    )
    .with(
        Series::new(
            "cold device: alone",
            level(rel(cold.local_mae, cold)),
            Style::Dashed,
        )
        .color(ALONE),
    )
    .with(
        Series::new(
            "cold device: central",
            level(rel(cold.central_mae, cold)),
            Style::Dashed,
        )
        .color(CENTRAL),
    )
    .with(Series::new("mean over all devices: federated", mean_curve, Style::Line).color(ACTUAL))
    .with(Series::new("persistence", level(1.0), Style::Dashed).color(PERSISTENCE));
    chart.x_range = Some((1.0, last.max(2.0)));
    chart.y_range = y_range(&chart, 0.6, false);
    files.extend(chart.save(dir, "federated_learning_curve")?);
    Ok(files)
}

/// The sweep's cold-start MAE per device and way of training, relative to persistence.
fn plot_sweep(s: &federated::SweepReport, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cold = s.cold_scores();
    let step = s.runs.first().map_or(60, |r| r.cold_trace.step_seconds);
    let modes = &MODES[..4];
    let mut chart = Chart::new(
        format!(
            "Each device in turn as the cold start: test MAE {} ahead (federated beats alone on {} of {})",
            ahead(s.horizon, step),
            s.cold_wins(|d| d.federated_mae),
            cold.len()
        ),
        "cold device (index in the printed table)",
        "MAE ÷ persistence MAE (1 = repeat last value)",
    );
    for (m, (name, g, color)) in modes.iter().enumerate() {
        let values: Vec<f64> = cold
            .iter()
            .map(|d| g(d) / d.persistence_mae.max(1e-12))
            .collect();
        chart = chart
            .with(Series::new(*name, bars(&values, m, modes.len()), Style::Area).color(*color));
    }
    let n = cold.len() as f64;
    chart = chart.with(
        Series::new(
            "persistence",
            vec![(-0.5, 1.0), (n - 0.5, 1.0)],
            Style::Dashed,
        )
        .color(PERSISTENCE),
    );
    chart.x_range = Some((-0.5, n - 0.5));
    chart.y_range = y_range(&chart, 0.35, true);
    chart.save(dir, "federated_sweep")
}

fn read_devices(args: &FederatedArgs) -> anyhow::Result<Vec<TimeSeries>> {
    match (args.files.as_slice(), args.value_column.as_slice()) {
        ([file], columns) => {
            let cut = shared_prefix(columns);
            columns
                .iter()
                .map(|c| {
                    let mut s = read_csv(file, &args.input.options(c, &[]))?;
                    s.name = c[cut..].to_string();
                    Ok(s)
                })
                .collect()
        }
        (files, [column]) => files
            .iter()
            .map(|f| {
                let mut s = read_csv(f, &args.input.options(column, &[]))?;
                s.name = f
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok(s)
            })
            .collect(),
        _ => anyhow::bail!(
            "give either one file with several --value-column, or several files with one"
        ),
    }
}

/// Length of the prefix all `columns` share up to a `_` (OPSD's `DE_KN_residential4_` says
/// nothing about the device), or 0 for a single column.
fn shared_prefix(columns: &[String]) -> usize {
    let [first, rest @ ..] = columns else {
        return 0;
    };
    if rest.is_empty() {
        return 0;
    }
    let common = rest.iter().fold(first.len(), |n, c| {
        first
            .bytes()
            .zip(c.bytes())
            .take(n)
            .take_while(|(a, b)| a == b)
            .count()
    });
    first[..common].rfind('_').map_or(0, |i| i + 1)
}
