//! `powerslot forecast`: rolling-origin backtests and federated rounds over CSV series.

use std::path::{Path, PathBuf};

use anyhow::Context;
use powerslot_forecast::backtest::{BacktestOptions, BacktestReport, backtest};
use powerslot_forecast::federated::{self, DpConfig, FederatedOptions};
use powerslot_forecast::model::{FitOptions, ModelSpec};
use powerslot_forecast::series::{ReadOptions, TimeSeries, format_time, read_csv};

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
}

impl Input {
    fn options(&self, value: &str, features: &[String]) -> ReadOptions {
        let mut o = ReadOptions::new(self.time_column.clone(), value);
        o.feature_columns = features.to_vec();
        o.step_seconds = self.step;
        o.max_interpolate = self.max_interpolate;
        o.cumulative = self.cumulative;
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
    /// Exogenous feature columns (comma separated), used by ridge, quantile and lstm.
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    /// Steps ahead.
    #[arg(long, default_value_t = 5)]
    horizon: usize,
    /// Models (comma separated): persistence, seasonal-naive, ewma, ets, mstl, ridge, quantile,
    /// lstm, auto.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "persistence,seasonal-naive,ewma,ets,mstl,ridge,quantile,lstm,auto"
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
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory for the forecast-against-actual plot (SVG and PNG).
    #[arg(long, default_value = "out/forecast")]
    out: PathBuf,
    /// Do not draw the plot.
    #[arg(long)]
    no_plot: bool,
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
}

/// Runs the command.
pub(crate) fn run(cmd: Forecast) -> anyhow::Result<()> {
    match cmd {
        Forecast::Backtest(args) => run_backtest(args),
        Forecast::Federated(args) => run_federated(args),
    }
}

fn run_backtest(args: BacktestArgs) -> anyhow::Result<()> {
    let series = read_csv(
        &args.file,
        &args.input.options(&args.value_column, &args.features),
    )?;
    let season = args.season.or(series.slots_per_day()).unwrap_or(1);
    let specs = args
        .models
        .iter()
        .map(|m| ModelSpec::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
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
    let devices = read_devices(&args)?;
    let cold_device = match args.cold_device.parse::<usize>() {
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
    let options = FederatedOptions {
        horizon: args.horizon,
        rounds: args.rounds,
        local_epochs: args.local_epochs,
        cold_device,
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
    let report = federated::run(&devices, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
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
