//! Compares ways for `auto` to combine its candidates, day ahead, on `timestamp,value` series
//! (the peer benchmark's `out/peers/series/NAME.csv`).
//!
//! `cargo run -p powerslot-forecast --example auto_combination -- dev FILE...` scores only the
//! past of each series: everything before the benchmark's first origin (8 origins spread over
//! the last quarter), with origins every 25 slots over the last 40 % of that past. `test` scores
//! the benchmark's own 8 origins. Every candidate is fitted once before the first origin and
//! updated online, as in `powerslot forecast backtest`; each strategy then combines the same
//! forecasts using only the errors already resolved at each origin.

mod common;

use std::collections::VecDeque;

use common::{Windows, mae, series_and_origins, walk};
use powerslot_forecast::ensemble::{combine, selection_weights};
use powerslot_forecast::model::{FitOptions, ModelSpec};
use rayon::prelude::*;
/// One candidate's name and, per origin, its point forecast and its error windows.
type Run = (String, Vec<(Vec<f64>, Windows)>);

struct Origin {
    actual: Vec<f64>,
    points: Vec<Vec<f64>>,
    errors: Vec<Windows>,
}

/// Weights by group of steps: each group chooses on its own steps' errors.
fn grouped(o: &Origin, groups: &[(usize, usize)], recent: Option<usize>) -> Vec<f64> {
    let mut out = Vec::new();
    for &(a, b) in groups {
        let errs: Vec<Windows> = o
            .errors
            .iter()
            .map(|e| {
                e[a..b]
                    .iter()
                    .map(|w| {
                        let skip = recent.map_or(0, |r| w.len().saturating_sub(r));
                        w.iter().skip(skip).copied().collect()
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[VecDeque<f64>]> = errs.iter().map(Vec::as_slice).collect();
        let w = selection_weights(&refs);
        let pts: Vec<&[f64]> = o.points.iter().map(|p| &p[a..b]).collect();
        let full: Vec<&[VecDeque<f64>]> = o.errors.iter().map(|e| &e[a..b]).collect();
        out.extend(combine(&pts, &full, &w).p50);
    }
    out
}

/// Bias-corrected recent MAE of one candidate.
fn corrected(e: &Windows) -> f64 {
    let (mut t, mut n) = (0.0, 0usize);
    for w in e {
        if w.is_empty() {
            continue;
        }
        let mut s: Vec<f64> = w.iter().copied().collect();
        s.sort_by(f64::total_cmp);
        let m = s[s.len() / 2];
        t += w.iter().map(|v| (v - m).abs()).sum::<f64>();
        n += w.len();
    }
    if n == 0 { f64::INFINITY } else { t / n as f64 }
}

fn inverse_top(o: &Origin, k: usize) -> Vec<f64> {
    let maes: Vec<f64> = o.errors.iter().map(corrected).collect();
    let mut idx: Vec<usize> = (0..maes.len()).filter(|&i| maes[i].is_finite()).collect();
    idx.sort_by(|&a, &b| maes[a].total_cmp(&maes[b]));
    let mut w = vec![0.0; maes.len()];
    let top = &idx[..k.min(idx.len())];
    let s: f64 = top.iter().map(|&i| 1.0 / maes[i]).sum();
    for &i in top {
        w[i] = 1.0 / maes[i] / s;
    }
    let pts: Vec<&[f64]> = o.points.iter().map(Vec::as_slice).collect();
    let errs: Vec<&[VecDeque<f64>]> = o.errors.iter().map(Vec::as_slice).collect();
    combine(&pts, &errs, &w).p50
}

/// The current selection with some candidates left out.
fn without(o: &Origin, names: &[&str], drop: &[&str]) -> Vec<f64> {
    let empty: Windows = Vec::new();
    let errs: Vec<&[VecDeque<f64>]> = o
        .errors
        .iter()
        .zip(names)
        .map(|(e, n)| {
            if drop.contains(n) {
                empty.as_slice()
            } else {
                e.as_slice()
            }
        })
        .collect();
    let w = selection_weights(&errs);
    let pts: Vec<&[f64]> = o.points.iter().map(Vec::as_slice).collect();
    let full: Vec<&[VecDeque<f64>]> = o.errors.iter().map(Vec::as_slice).collect();
    combine(&pts, &full, &w).p50
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dev = args[0] == "dev";
    let horizon = 24;
    let strategies = [
        "current",
        "steps 1-6/7-24",
        "steps 4x6",
        "steps 1/2-6/7-24",
        "recent 96",
        "recent 48",
        "4x6 recent 96",
        "inverse top3",
        "inverse top2",
        "without ets",
        "without persistence",
        "without lstm",
        "without ets, persistence",
        "without mstl",
        "without ets, persistence, lstm",
        "without ets, persistence, mstl",
    ];
    let mut ratios = vec![Vec::new(); strategies.len()];
    let mut weight_share = std::collections::BTreeMap::<String, (f64, usize)>::new();
    for file in &args[1..] {
        let (series, origins) = series_and_origins(file, horizon, dev);
        let fit = FitOptions::new(horizon, 24);
        let specs = ModelSpec::all_single();
        let runs: Vec<Run> = specs
            .par_iter()
            .filter_map(|spec| {
                let out = walk(spec, &series, &origins, &fit, horizon)?;
                Some((spec.name().to_string(), out))
            })
            .collect();
        let names: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
        let data: Vec<Origin> = origins
            .iter()
            .enumerate()
            .map(|(i, &o)| Origin {
                actual: series.values[o..o + horizon].to_vec(),
                points: runs.iter().map(|r| r.1[i].0.clone()).collect(),
                errors: runs.iter().map(|r| r.1[i].1.clone()).collect(),
            })
            .collect();
        let mut scores = vec![0.0; strategies.len()];
        for o in &data {
            let errs: Vec<&[VecDeque<f64>]> = o.errors.iter().map(Vec::as_slice).collect();
            let w = selection_weights(&errs);
            for (name, w) in names.iter().zip(&w) {
                let e = weight_share.entry(name.to_string()).or_default();
                e.0 += w;
                e.1 += 1;
            }
            let preds = [
                grouped(o, &[(0, 24)], None),
                grouped(o, &[(0, 6), (6, 24)], None),
                grouped(o, &[(0, 6), (6, 12), (12, 18), (18, 24)], None),
                grouped(o, &[(0, 1), (1, 6), (6, 24)], None),
                grouped(o, &[(0, 24)], Some(96)),
                grouped(o, &[(0, 24)], Some(48)),
                grouped(o, &[(0, 6), (6, 12), (12, 18), (18, 24)], Some(96)),
                inverse_top(o, 3),
                inverse_top(o, 2),
                without(o, &names, &["ets"]),
                without(o, &names, &["persistence"]),
                without(o, &names, &["lstm"]),
                without(o, &names, &["ets", "persistence"]),
                without(o, &names, &["mstl"]),
                without(o, &names, &["ets", "persistence", "lstm"]),
                without(o, &names, &["ets", "persistence", "mstl"]),
            ];
            for (s, p) in scores.iter_mut().zip(&preds) {
                *s += mae(p, &o.actual) / data.len() as f64;
            }
        }
        let base = scores[0];
        print!(
            "{:<40} {:>3} origins, current {:.4}:",
            file.rsplit('/').next().unwrap_or(file),
            data.len(),
            base
        );
        for (i, s) in scores.iter().enumerate().skip(1) {
            print!(" {:+.1}%", 100.0 * (s / base - 1.0));
            ratios[i].push(s / base);
        }
        println!();
    }
    println!("geometric mean of strategy / current:");
    for (name, r) in strategies.iter().zip(&ratios).skip(1) {
        let gm = (r.iter().map(|x: &f64| x.ln()).sum::<f64>() / r.len() as f64).exp();
        let worst = r.iter().copied().fold(0.0, f64::max);
        println!("  {name:<20} {gm:.3} (worst {worst:.3})");
    }
    println!("mean weight of each candidate (current selection):");
    for (name, (w, n)) in &weight_share {
        println!("  {name:<16} {:.3}", w / *n as f64);
    }
}
