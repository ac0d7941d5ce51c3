//! Tuning run for the boosted-trees forecaster on the UCI household minute data: a dense
//! rolling-origin backtest (every 10th slot over the last 120,000) of persistence and several
//! boosted configurations, printing the MAE five minutes ahead.
//!
//! ```sh
//! cargo run --release -p powerslot-forecast --example boost_tuning -- [CSV]
//! ```

use powerslot_forecast::backtest::{BacktestOptions, backtest};
use powerslot_forecast::boost::{BoostConfig, BoostedConfig};
use powerslot_forecast::model::{FitOptions, ModelSpec};
use powerslot_forecast::series::{ReadOptions, read_csv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        "../shared/data/household_uci_1min/uci_household_power_2007H1_1min.csv".into()
    });
    let mut read = ReadOptions::new("timestamp", "global_active_power");
    read.feature_columns = [
        "sub_metering_1",
        "sub_metering_2",
        "sub_metering_3",
        "global_reactive_power",
    ]
    .map(String::from)
    .to_vec();
    let series = read_csv(path.as_ref(), &read)?;
    let mut options = BacktestOptions::new(FitOptions::new(5, 1440));
    options.origins = 12_000;
    options.spacing = Some(10);
    let variant = |trees, learning_rate, min_leaf, refit_every| {
        ModelSpec::Boosted(BoostedConfig {
            ensemble: BoostConfig {
                trees,
                learning_rate,
                min_leaf,
                ..BoostConfig::default()
            },
            refit_every,
            ..BoostedConfig::default()
        })
    };
    let grid = [
        (
            "default (300 trees, rate 0.05, leaf 100, refit every history/16)",
            variant(300, 0.05, 100, None),
        ),
        (
            "300 trees, rate 0.05, leaf 100, refit every 3 days",
            variant(300, 0.05, 100, Some(4320)),
        ),
    ];
    let base = backtest(&series, &[ModelSpec::Persistence], &options, &|| {})?;
    let persistence = base.models[0].mae_by_step[4];
    println!("persistence: {persistence:.4} kW five minutes ahead");
    for (label, spec) in grid {
        let started = std::time::Instant::now();
        let r = backtest(&series, &[spec], &options, &|| {})?;
        let mae = r.models[0].mae_by_step[4];
        println!(
            "{label}: {mae:.4} kW ({:+.1} %), {:.0} s",
            100.0 * (mae / persistence - 1.0),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
