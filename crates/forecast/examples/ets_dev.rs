//! Scores `ets` on the peer benchmark's series: walked online through the origins (as the
//! backtest does) and, with `FRESH=1`, also fitted afresh on everything before each origin (as
//! the peer script fits statsforecast's AutoETS), to tell estimation from staleness.
//!
//! `cargo run -p powerslot-forecast --example ets_dev -- dev|test FILE...` (`MODEL=mstl` scores
//! `mstl` the same way, `SCORE=point` the point forecast instead of the P50).
//!
//! `dev` scores on the past of the benchmark only (origins every 25 slots over the last 40 %
//! of the slots before its first origin, see `common`); `test` on the benchmark's 8 origins.

#[allow(dead_code)] // `walk` and its windows are the other examples'
mod common;

use common::{mae, series_and_origins};
use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::quantiles::QuantileForecast;
use rayon::prelude::*;

/// What is scored: the point forecast (`point`) or the P50.
fn scored(q: &QuantileForecast, point: bool) -> &[f64] {
    if point { &q.point } else { &q.p50 }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dev = args.first().is_some_and(|a| a == "dev");
    let fresh = std::env::var("FRESH").is_ok_and(|v| v == "1");
    // `SCORE=point` scores the point forecast (what the peer script scores for statsforecast)
    // instead of the P50.
    let point = std::env::var("SCORE").is_ok_and(|v| v == "point");
    let horizon = 24;
    let fit = FitOptions::new(horizon, 24);
    let spec = if std::env::var("MODEL").is_ok_and(|m| m == "mstl") {
        ModelSpec::Mstl
    } else {
        ModelSpec::Ets
    };
    let rows: Vec<(String, f64, Option<f64>)> = args[1..]
        .par_iter()
        .map(|file| {
            let (series, origins) = series_and_origins(file, horizon, dev);
            let actual = |o: usize| &series.values[o..o + horizon];
            // The P50 (the point plus the median of its recent errors), as the backtest scores.
            let mut m = FittedModel::fit(&spec, &series.slice(0, origins[0]), &fit).expect("fits");
            let mut pos = origins[0];
            let mut walked = 0.0;
            for &o in &origins {
                for i in pos..o {
                    m.update(series.values[i], &[]);
                }
                pos = o;
                let q = m.predict(horizon);
                if std::env::var("ORIGINS").is_ok() {
                    eprintln!(
                        "{o} mae {:.4} point {:.4} p50[0..3] {:?} actual {:?}",
                        mae(&q.p50, actual(o)),
                        mae(&q.point, actual(o)),
                        &q.p50[..3],
                        &actual(o)[..3]
                    );
                }
                walked += mae(scored(&q, point), actual(o)) / origins.len() as f64;
            }
            let afresh = fresh.then(|| {
                origins
                    .iter()
                    .map(|&o| {
                        let m = FittedModel::fit(&spec, &series.slice(0, o), &fit).expect("fits");
                        mae(scored(&m.predict(horizon), point), actual(o))
                    })
                    .sum::<f64>()
                    / origins.len() as f64
            });
            let name = std::path::Path::new(file)
                .file_stem()
                .map_or(file.clone(), |s| s.to_string_lossy().into_owned());
            (name, walked, afresh)
        })
        .collect();
    let mut log_sum = 0.0;
    for (name, walked, afresh) in &rows {
        log_sum += walked.ln();
        match afresh {
            Some(f) => println!("{name:20} online {walked:.4}  afresh {f:.4}"),
            None => println!("{name:20} online {walked:.4}"),
        }
    }
    println!(
        "geometric mean of online MAE {:.5}",
        (log_sum / rows.len() as f64).exp()
    );
}
