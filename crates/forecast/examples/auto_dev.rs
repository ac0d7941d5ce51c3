//! Scores ways for `auto` to turn its candidates into one day-ahead P50, on the *past* of the
//! peer benchmark's series only (`dev`), or on the benchmark's own origins (`test`).
//!
//! `cargo run -p powerslot-forecast --example auto_dev -- dev|test CACHE_DIR FILE...`
//!
//! The candidates' forecasts and error windows at every origin are computed once per file and
//! kept in CACHE_DIR (they cost a fit of every candidate), so rules can be compared quickly.
//! `dev` origins are every 25 slots over the last 40 % of the slots before the benchmark's
//! first origin (as in the `auto_combination` example); `test` is the benchmark's 8 origins.
//! Every rule sees only what is known at its origin: the error windows (whose last entry is
//! the slot just before the origin) and the values before the origin.
//!
//! `EXTRA=mstl,dm3,wm2,...` adds candidates (`dmN`/`wmN`: the median of the same slot over N
//! days/weeks), `DROP=NAME,...` leaves some of `auto`'s out, `CAL=N` sets the error window,
//! `CANDIDATES=1` prints each candidate's MAE (and against `auto`'s) and its mean weight. With
//! `EXTRA=mstl`, "without both" is `auto` before issue 16's second round (`mstl` among its
//! candidates, no extra medians, no scale); the other rules that take every candidate then
//! include `mstl`.
//!
//! `PEERS=DIR` (with `test`) reads statsforecast's results on the same origins from
//! `DIR/NAME.json` (`peer_benchmark.sh` keeps them in `WORK/peers`) and prints, per house and
//! over all, `auto` and the best single candidate *in hindsight* against the better of AutoETS
//! and MSTL: how far a choice among these candidates could go at best.

mod common;

use std::collections::VecDeque;
use std::io::Write;

use common::{Windows, mae, series_and_origins, walk};
use powerslot_forecast::ensemble::{choose_scale, combine, combine_scaled, selection_weights};
use powerslot_forecast::model::{FitOptions, ModelSpec};
use rayon::prelude::*;

struct Origin {
    slot: usize,
    /// The candidates' labels, in the order of `points` and `errors`.
    labels: Vec<String>,
    actual: Vec<f64>,
    points: Vec<Vec<f64>>,
    errors: Vec<Windows>,
}

fn refs(o: &Origin) -> (Vec<&[f64]>, Vec<&[VecDeque<f64>]>) {
    (
        o.points.iter().map(Vec::as_slice).collect(),
        o.errors.iter().map(Vec::as_slice).collect(),
    )
}

/// `auto`'s rule on the candidates `keep` allows, with or without the scale, on the last
/// `recent` errors of every window (all with `None`).
fn rule(
    o: &Origin,
    values: &[f64],
    keep: impl Fn(usize) -> bool,
    scaled: bool,
    recent: Option<usize>,
) -> Vec<f64> {
    let errs: Vec<Windows> = o
        .errors
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if !keep(i) {
                return Vec::new();
            }
            e.iter()
                .map(|w| {
                    let skip = recent.map_or(0, |r| w.len().saturating_sub(r));
                    w.iter().skip(skip).copied().collect()
                })
                .collect()
        })
        .collect();
    let e: Vec<&[VecDeque<f64>]> = errs.iter().map(Vec::as_slice).collect();
    let p: Vec<&[f64]> = o.points.iter().map(Vec::as_slice).collect();
    let w = selection_weights(&e);
    let past = &values[o
        .slot
        .saturating_sub(FitOptions::new(24, 24).error_window())..o.slot];
    let scale = if scaled {
        choose_scale(&e, &w, past)
    } else {
        1.0
    };
    combine_scaled(&p, &e, &w, scale, past).p50
}

/// The greedy weights with the per-step median correction replaced by the median of the
/// combination's past errors on the same hour of the day (`season`), pooled over all steps.
fn phase(o: &Origin, season: usize) -> Vec<f64> {
    let (p, e) = refs(o);
    let w = selection_weights(&e);
    let f = combine(&p, &e, &w);
    let chosen: Vec<usize> = (0..w.len()).filter(|&i| w[i] > 0.0).collect();
    (0..f.point.len())
        .map(|k| {
            let mut matched = Vec::new();
            for s in 0..o.errors[chosen[0]].len() {
                let len = chosen
                    .iter()
                    .map(|&i| o.errors[i][s].len())
                    .min()
                    .unwrap_or(0);
                // Entry j of a window of length len targets origin − len + j.
                for j in (0..len).filter(|j| (k + len - j) % season == 0) {
                    matched.push(
                        chosen
                            .iter()
                            .map(|&i| {
                                let win = &o.errors[i][s];
                                w[i] * win[win.len() - len + j]
                            })
                            .sum::<f64>(),
                    );
                }
            }
            matched.sort_by(f64::total_cmp);
            f.point[k] + matched.get(matched.len() / 2).copied().unwrap_or(0.0)
        })
        .collect()
}

/// The greedy combination scaled per group of steps: P50 = a · point + b_k, with a (per group,
/// on a grid) and b_k (per step) minimising the absolute errors of its past forecasts.
fn scaled_groups(o: &Origin, values: &[f64], grid: &[f64], groups: &[(usize, usize)]) -> Vec<f64> {
    let (p, e) = refs(o);
    let w = selection_weights(&e);
    let f = combine(&p, &e, &w);
    let chosen: Vec<usize> = (0..w.len()).filter(|&i| w[i] > 0.0).collect();
    // Per step: pairs (past combined forecast, actual).
    let pairs: Vec<Vec<(f64, f64)>> = (0..o.actual.len())
        .map(|k| {
            let len = chosen
                .iter()
                .map(|&i| o.errors[i][k].len())
                .min()
                .unwrap_or(0);
            (0..len)
                .map(|j| {
                    let target = o.slot - len + j;
                    let err: f64 = chosen
                        .iter()
                        .map(|&i| {
                            let win = &o.errors[i][k];
                            w[i] * win[win.len() - len + j]
                        })
                        .sum();
                    (values[target] - err, values[target])
                })
                .collect()
        })
        .collect();
    let fit = |a: f64, from: usize, to: usize| -> (f64, Vec<f64>) {
        let mut total = 0.0;
        let mut bs = Vec::new();
        for ps in &pairs[from..to] {
            let mut r: Vec<f64> = ps.iter().map(|(f, y)| y - a * f).collect();
            r.sort_by(f64::total_cmp);
            let b = if r.is_empty() { 0.0 } else { r[r.len() / 2] };
            total += r.iter().map(|x| (x - b).abs()).sum::<f64>();
            bs.push(b);
        }
        (total, bs)
    };
    let mut out = Vec::new();
    for &(from, to) in groups {
        let mut best = (f64::INFINITY, 1.0, Vec::new());
        for &a in grid {
            let (t, bs) = fit(a, from, to);
            if t < best.0 {
                best = (t, a, bs);
            }
        }
        out.extend(
            f.point[from..to]
                .iter()
                .zip(&best.2)
                .map(|(p, b)| best.1 * p + b),
        );
    }
    out
}

/// Median (or trimmed mean dropping `trim` at each end) of the candidates chosen by the greedy
/// selection, corrected by the median of its own past errors per step (reconstructed from the
/// candidates' errors and the known past values).
fn robust(o: &Origin, values: &[f64], trim: Option<usize>, only_chosen: bool) -> Vec<f64> {
    let (_, e) = refs(o);
    let w = selection_weights(&e);
    let chosen: Vec<usize> = (0..o.points.len())
        .filter(|&i| !only_chosen || w[i] > 0.0)
        .filter(|&i| !o.errors[i].iter().all(VecDeque::is_empty))
        .collect();
    let agg = |xs: &mut Vec<f64>| -> f64 {
        xs.sort_by(f64::total_cmp);
        match trim {
            None => {
                let n = xs.len();
                if n % 2 == 1 {
                    xs[n / 2]
                } else {
                    0.5 * (xs[n / 2 - 1] + xs[n / 2])
                }
            }
            Some(t) => {
                let t = t.min((xs.len() - 1) / 2);
                let s = &xs[t..xs.len() - t];
                s.iter().sum::<f64>() / s.len() as f64
            }
        }
    };
    let mut out = Vec::new();
    let mut xs = Vec::new();
    for k in 0..o.actual.len() {
        xs.clear();
        xs.extend(chosen.iter().map(|&i| o.points[i][k]));
        let point = agg(&mut xs);
        // Past errors of the same rule at step k.
        let len = chosen
            .iter()
            .map(|&i| o.errors[i][k].len())
            .min()
            .unwrap_or(0);
        let mut past = Vec::with_capacity(len);
        for j in 0..len {
            xs.clear();
            let mut actual = f64::NAN;
            for &i in &chosen {
                let w = &o.errors[i][k];
                let idx = w.len() - len + j;
                let target = o.slot - w.len() + idx;
                actual = values[target];
                xs.push(actual - w[idx]);
            }
            past.push(actual - agg(&mut xs));
        }
        past.sort_by(f64::total_cmp);
        let m = if past.is_empty() {
            0.0
        } else {
            past[past.len() / 2]
        };
        out.push(point + m);
    }
    out
}

/// The candidates' calibration (and error window) length: `CAL` or the default.
fn calibration() -> usize {
    std::env::var("CAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FitOptions::new(24, 24).calibration)
}

/// The candidates: `auto`'s but those `DROP` names, then those `EXTRA` names (`dmN`: median of the last N days,
/// `wmN`: of the last N weeks), each with a label for the cache.
fn candidates() -> Vec<(String, ModelSpec)> {
    let drop = std::env::var("DROP").unwrap_or_default();
    let mut out: Vec<(String, ModelSpec)> = ModelSpec::auto_candidates()
        .into_iter()
        .map(|s| (s.name().to_string(), s))
        .filter(|(n, _)| !drop.split(',').any(|d| d == n))
        .collect();
    for e in std::env::var("EXTRA").unwrap_or_default().split(',') {
        let spec = if let Some(n) = e.strip_prefix("dm") {
            ModelSpec::SeasonalMedian {
                seasons: 1,
                count: n.parse().expect("count"),
            }
        } else if let Some(n) = e.strip_prefix("wm") {
            ModelSpec::SeasonalMedian {
                seasons: 7,
                count: n.parse().expect("count"),
            }
        } else if e.is_empty() {
            continue;
        } else {
            ModelSpec::parse(e).expect("model")
        };
        out.push((e.to_string(), spec));
    }
    out
}

fn run(file: &str, dev: bool, cache: &std::path::Path) -> (Vec<Origin>, Vec<f64>) {
    let horizon = 24;
    let (series, origins) = series_and_origins(file, horizon, dev);
    let stem = file.rsplit('/').next().unwrap_or(file);
    let mut fit = FitOptions::new(horizon, 24);
    fit.calibration = calibration();
    let texts: Vec<String> = candidates()
        .par_iter()
        .map(|(label, spec)| {
            // The number of origins is in the key: `BENCH_ORIGINS` changes the test origins.
            let path = cache.join(format!(
                "{stem}.{}-{}.{}.{label}.txt",
                if dev { "dev" } else { "test" },
                origins.len(),
                fit.calibration
            ));
            if let Ok(t) = std::fs::read_to_string(&path) {
                return t;
            }
            let mut out = String::new();
            for (n, (p, windows)) in walk(spec, &series, &origins, &fit, horizon)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                out.push_str(&format!("{label} {n} P"));
                p.iter().for_each(|v| out.push_str(&format!(" {v}")));
                for w in windows {
                    out.push_str(&format!(" W {}", w.len()));
                    w.iter().for_each(|v| out.push_str(&format!(" {v}")));
                }
                out.push('\n');
            }
            std::fs::File::create(&path)
                .and_then(|mut f| f.write_all(out.as_bytes()))
                .expect("cache");
            out
        })
        .collect();
    let text = texts.concat();
    let mut data: Vec<Origin> = origins
        .iter()
        .map(|&o| Origin {
            slot: o,
            labels: Vec::new(),
            actual: series.values[o..o + horizon].to_vec(),
            points: Vec::new(),
            errors: Vec::new(),
        })
        .collect();
    for line in text.lines() {
        let mut t = line.split_whitespace();
        let label = t.next().expect("label").to_string();
        let n: usize = t.next().and_then(|v| v.parse().ok()).expect("origin");
        assert_eq!(t.next(), Some("P"));
        let mut point = Vec::new();
        let mut windows: Windows = Vec::new();
        let mut left = 0usize;
        for tok in t {
            if tok == "W" {
                windows.push(VecDeque::new());
                left = usize::MAX;
            } else if left == usize::MAX {
                left = 0;
                let _len: usize = tok.parse().expect("len");
            } else if windows.is_empty() {
                point.push(tok.parse::<f64>().expect("value"));
            } else if let Some(w) = windows.last_mut() {
                w.push_back(tok.parse::<f64>().expect("value"));
            }
        }
        data[n].labels.push(label);
        data[n].points.push(point);
        data[n].errors.push(windows);
    }
    (data, series.values)
}

/// The better of statsforecast's AutoETS and MSTL on `file`, from the peer script's result
/// `DIR/NAME.json` (as `peer_benchmark.sh` caches it in `WORK/peers`), which must have been run
/// on the same origins.
fn better_peer(dir: &std::path::Path, file: &str, data: &[Origin]) -> (String, f64) {
    let stem = std::path::Path::new(file)
        .file_stem()
        .map_or(file.to_string(), |s| s.to_string_lossy().into_owned());
    let path = dir.join(format!("{stem}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run peer_benchmark.sh first)", path.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first = json["first_origin_slot"].as_u64().map(|v| v as usize);
    let count = json["origins"].as_u64().map(|v| v as usize);
    assert!(
        first == data.first().map(|o| o.slot) && count == Some(data.len()),
        "{}: the peers ran on {count:?} origins from slot {first:?}, these are {} from {:?} \
         (set BENCH_ORIGINS to peer_benchmark.sh's --origins)",
        path.display(),
        data.len(),
        data.first().map(|o| o.slot)
    );
    json["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["name"].as_str()?.to_string(), m["mae"].as_f64()?)))
        .filter(|(n, _)| n == "autoets" || n == "mstl")
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or_else(|| panic!("{}: neither AutoETS nor MSTL has an MAE", path.display()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dev = args[0] == "dev";
    let cache = std::path::PathBuf::from(&args[1]);
    std::fs::create_dir_all(&cache).expect("cache dir");
    let names = [
        "auto (current)",
        "without the scale",
        "without the two medians",
        "without both (before)",
        "last 100 errors",
        "scale per quarter day",
        "scale per step",
        "hour-of-day bias",
        "median of chosen",
        "median of all",
        "trimmed mean of all",
    ];
    let grid: Vec<f64> = (0..=14).map(|i| 0.5 + 0.05 * i as f64).collect();
    let extra: Vec<&str> = ModelSpec::EXTRA_MEDIANS.iter().map(|s| s.name()).collect();
    let mut ratios = vec![Vec::new(); names.len()];
    let peers = std::env::var("PEERS").ok().map(std::path::PathBuf::from);
    if peers.is_some() && dev {
        panic!("PEERS compares the benchmark's own origins: use `test`, not `dev`");
    }
    // Per house: auto's MAE and the best single candidate's, over the better peer's.
    let mut against_peer: Vec<(f64, f64)> = Vec::new();
    for file in &args[2..] {
        let (data, values) = run(file, dev, &cache);
        let mut scores = vec![0.0; names.len()];
        for o in &data {
            // Candidates that failed to fit are missing from the cache; look them up by label.
            // `auto` now, and the candidates before (`mstl` among them when EXTRA names it).
            let now = |i: usize| o.labels[i] != "mstl";
            let base = |i: usize| !extra.contains(&o.labels[i].as_str());
            let quarters = [(0, 6), (6, 12), (12, 18), (18, 24)];
            let steps: Vec<(usize, usize)> = (0..24).map(|k| (k, k + 1)).collect();
            let preds = [
                rule(o, &values, now, true, None),
                rule(o, &values, now, false, None),
                rule(o, &values, base, true, None),
                rule(o, &values, base, false, None),
                rule(o, &values, now, true, Some(100)),
                scaled_groups(o, &values, &grid, &quarters),
                scaled_groups(o, &values, &grid, &steps),
                phase(o, 24),
                robust(o, &values, None, true),
                robust(o, &values, None, false),
                robust(o, &values, Some(2), false),
            ];
            for (s, p) in scores.iter_mut().zip(&preds) {
                *s += mae(p, &o.actual) / data.len() as f64;
            }
        }
        let base = scores[0];
        print!(
            "{:<22} {:>3} origins, auto {:.4}:",
            file.rsplit('/').next().unwrap_or(file),
            data.len(),
            base
        );
        for (i, s) in scores.iter().enumerate() {
            if i > 0 {
                print!(" {:+.1}%", 100.0 * (s / base - 1.0));
            }
            ratios[i].push(s / base);
        }
        println!();
        let peer = peers.as_ref().map(|dir| better_peer(dir, file, &data));
        if std::env::var("CANDIDATES").is_ok() || peer.is_some() {
            // Each candidate's own MAE against auto's, and its mean weight.
            let mut line = String::from(" ");
            let mut best: Option<(f64, &str)> = None;
            for (c, label) in data[0].labels.iter().enumerate() {
                let (mut m, mut w) = (0.0, 0.0);
                for o in &data {
                    let only_c = |i: usize| i == c;
                    m += mae(&rule(o, &values, only_c, false, None), &o.actual) / data.len() as f64;
                    let (_, e) = refs(o);
                    w += selection_weights(&e)[c] / data.len() as f64;
                }
                line.push_str(&format!(
                    " {label}:{m:.5} ({:+.1}%)/{w:.2}",
                    100.0 * (m / base - 1.0)
                ));
                if best.is_none_or(|(b, _)| m < b) {
                    best = Some((m, label));
                }
            }
            println!("{line}");
            if let (Some((peer_name, peer_mae)), Some((best_mae, best_label))) = (peer, best) {
                println!(
                    "  against the better peer ({peer_name} {peer_mae:.5}): auto {:+.1}%, best single candidate in hindsight ({best_label}) {:+.1}%",
                    100.0 * (base / peer_mae - 1.0),
                    100.0 * (best_mae / peer_mae - 1.0)
                );
                against_peer.push((base / peer_mae, best_mae / peer_mae));
            }
        }
    }
    if !against_peer.is_empty() {
        let gm = |f: fn(&(f64, f64)) -> f64| {
            (against_peer.iter().map(|r| f(r).ln()).sum::<f64>() / against_peer.len() as f64).exp()
        };
        let margin =
            |f: fn(&(f64, f64)) -> f64| against_peer.iter().filter(|r| f(r) <= 0.9).count();
        println!(
            "against the better peer on {} houses: auto geometric mean {:.3}, at least 10 % below on {}; \
             the best single candidate per house in hindsight {:.3}, at least 10 % below on {}",
            against_peer.len(),
            gm(|r| r.0),
            margin(|r| r.0),
            gm(|r| r.1),
            margin(|r| r.1)
        );
    }
    println!("geometric mean of rule / auto (worst house):");
    for (name, r) in names.iter().zip(&ratios).skip(1) {
        let gm = (r.iter().map(|x: &f64| x.ln()).sum::<f64>() / r.len() as f64).exp();
        let worst = r.iter().copied().fold(f64::INFINITY, f64::min);
        let best = r.iter().copied().fold(0.0, f64::max);
        println!("  {name:<24} {gm:.3} (from {worst:.3} to {best:.3})");
    }
}
