//! Tuning driver for the genetic algorithm on a PSPLIB set.
//!
//! `cargo run --release -p powerslot-plan --example ga_bench -- DIR N [options]`
//! runs every `.sm` file of DIR (instances in parallel, one thread each) with a
//! limit of N schedules, validates every schedule and prints the average
//! deviation from the critical-path bound and from the best known makespan
//! (read from `/work/shared/data/psplib/solutions/bounds.csv` or `--bounds`).
//!
//! Options: `--every K` (every K-th instance only), `--seed S`, `--pop P`,
//! `--mutation X`, `--window A,B`, `--alpha X`, `--bounds CSV`, `--solve`
//! (go through `powerslot_plan::solve` with the default parameters).
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use powerslot_core::{Schedule, read_instance, validate};
use powerslot_plan::{Budget, Options, Problem, Solver, bounds, ga, solve};
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(&args[0]);
    let n: u64 = args[1].parse().expect("schedule limit");
    let mut every = 1usize;
    let mut seed = 1u64;
    let mut params = ga::Params::default();
    let mut bounds_csv = PathBuf::from("/work/shared/data/psplib/solutions/bounds.csv");
    let mut via_solve = false;
    let mut i = 2;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--every" => every = v.parse().unwrap(),
            "--seed" => seed = v.parse().unwrap(),
            "--pop" => params.population = Some(v.parse().unwrap()),
            "--mutation" => params.mutation = v.parse().unwrap(),
            "--peak" => params.peak = v.parse().unwrap(),
            "--alpha" => params.alpha = v.parse().unwrap(),
            "--pressure" => params.pressure = v.parse().unwrap(),
            "--restart" => params.restart = v.parse().unwrap(),
            "--window" => {
                let (a, b) = v.split_once(',').unwrap();
                params.window = (a.parse().unwrap(), b.parse().unwrap());
            }
            "--bounds" => bounds_csv = PathBuf::from(v),
            "--solve" => {
                via_solve = true;
                i -= 1;
            }
            o => panic!("unknown option {o}"),
        }
        i += 2;
    }
    let mut ub: HashMap<String, (u32, u32)> = HashMap::new();
    for line in std::fs::read_to_string(&bounds_csv)
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split(',').collect();
        ub.insert(
            f[1].to_string(),
            (f[5].parse().unwrap(), f[7].parse().unwrap()),
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sm"))
        .collect();
    files.sort();
    let files: Vec<PathBuf> = files.into_iter().step_by(every).collect();
    let started = Instant::now();
    let results: Vec<(u32, u32, u32, u64)> = files
        .par_iter()
        .map(|f| {
            let inst = read_instance(f).unwrap();
            let stem = f.file_stem().unwrap().to_string_lossy().to_string();
            let &(cpm, best) = ub
                .get(&stem)
                .unwrap_or_else(|| panic!("{stem} not in bounds"));
            let (mk, used) = if via_solve {
                let opts = Options {
                    schedules: Some(n),
                    time_limit: None,
                    seed,
                    threads: 1,
                };
                let s = solve(&inst, &Solver::Best, &opts).unwrap();
                (s.makespan, s.schedules)
            } else {
                let p = Problem::new(&inst);
                let lb = bounds::compute(&p).best();
                let budget = Budget::new(Some(n), None);
                let starts = ga::run_with(&p, &budget, seed, 1, lb, &params);
                let sched = Schedule::new(starts);
                validate(&inst, &sched).unwrap_or_else(|v| panic!("{stem}: {v}"));
                (sched.makespan(&inst), budget.used())
            };
            (mk, cpm, best, used)
        })
        .collect();
    let el = started.elapsed().as_secs_f64();
    let k = results.len() as f64;
    let dev_cpm = results
        .iter()
        .map(|&(m, c, _, _)| (m as f64 - c as f64) / c as f64)
        .sum::<f64>()
        / k
        * 100.0;
    let dev_ub = results
        .iter()
        .map(|&(m, _, b, _)| (m as f64 - b as f64) / b as f64)
        .sum::<f64>()
        / k
        * 100.0;
    let hits = results.iter().filter(|&&(m, _, b, _)| m <= b).count();
    let sched: u64 = results.iter().map(|r| r.3).sum();
    println!(
        "{} instances, {n} schedules, seed {seed}, {params:?}{}: dev CPM {dev_cpm:.3} %, dev best-known {dev_ub:.3} %, {hits} at best known, {sched} schedules, {el:.1} s",
        results.len(),
        if via_solve { " (via solve)" } else { "" },
    );
}
