//! `powerslot bench`: run a planner over a benchmark set and compare with the
//! best-known results.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use powerslot_core::{Slot, read_instance};
use powerslot_plan::benchmark::{InstanceResult, Reference, SetSummary, psplib_set, summarise};
use rayon::prelude::*;
use serde::Serialize;

use super::plan::SolverArgs;

/// Subcommands of `powerslot bench`.
#[derive(clap::Subcommand)]
pub(crate) enum Bench {
    /// Every PSPLIB `.sm` instance of a directory, solved and compared with the
    /// best-known makespans.
    Psplib(PsplibArgs),
}

/// Arguments of `powerslot bench psplib`.
#[derive(clap::Args)]
pub(crate) struct PsplibArgs {
    /// Directory with `.sm` files (e.g. data/psplib/j30).
    dir: PathBuf,
    /// Reference bounds CSV with columns set,instance,...,cpm,lb,ub,closed
    /// [default: DIR/../solutions/bounds.csv if it exists].
    #[arg(long)]
    bounds: Option<PathBuf>,
    #[command(flatten)]
    solver: SolverArgs,
    /// Write one JSON line per instance to this file.
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// Instances solved at once (each solve is single-threaded, so results do
    /// not depend on it) [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Only the first K instances (in file-name order).
    #[arg(long)]
    limit: Option<usize>,
}

/// Runs the command.
pub(crate) fn run(cmd: Bench) -> Result<()> {
    match cmd {
        Bench::Psplib(args) => psplib(args),
    }
}

fn psplib(args: PsplibArgs) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("cannot read the directory {}", args.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("sm")))
        .collect();
    files.sort_by_key(|p| natural_key(p));
    if let Some(k) = args.limit {
        files.truncate(k);
    }
    if files.is_empty() {
        bail!("{}: no .sm files", args.dir.display());
    }
    let bounds_file = args.bounds.clone().or_else(|| {
        let p = args.dir.join("../solutions/bounds.csv");
        p.exists().then_some(p)
    });
    let references = match &bounds_file {
        Some(f) => read_bounds(f)?,
        None => HashMap::new(),
    };
    let solver = args.solver.solver()?;
    let opts = args.solver.options(1)?;
    let threads = super::threads(args.threads)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the worker threads")?;
    let bar = crate::progress::bar(files.len() as u64, &solver.name());
    let started = Instant::now();
    let results: Vec<InstanceResult> = pool.install(|| {
        files
            .par_iter()
            .map(|file| {
                let inst = read_instance(file)?;
                let sol = powerslot_plan::solve(&inst, &solver, &opts)?;
                bar.inc(1);
                let name = inst.name().to_string();
                let reference = references.get(&name).cloned();
                let set = reference
                    .as_ref()
                    .map(|r| r.set.clone())
                    .or_else(|| psplib_set(&name).map(String::from))
                    .unwrap_or_else(|| "other".into());
                Ok(InstanceResult {
                    instance: name,
                    set,
                    makespan: sol.makespan,
                    lower_bound: sol.bounds.best(),
                    critical_path: sol.bounds.critical_path,
                    schedules: sol.schedules,
                    elapsed_s: sol.elapsed.as_secs_f64(),
                    reference,
                })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    if let Some(path) = &args.jsonl {
        write_jsonl(path, &solver.name(), &results)?;
    }
    let mut report = format!(
        "{} on {} instances of {} ({} threads, seed {}, {})\n",
        solver.name(),
        results.len(),
        args.dir.display(),
        threads,
        opts.seed,
        limits(&opts)
    );
    for s in summarise(&results) {
        report += &set_report(&s);
    }
    report += &format!("wall time {wall:.1} s\n");
    super::plan::emit(&report)
}

fn limits(opts: &powerslot_plan::Options) -> String {
    match (opts.schedules, opts.time_limit) {
        (Some(n), None) => format!("{n} schedules per instance"),
        (None, Some(t)) => format!("{:.1} s per instance", t.as_secs_f64()),
        (Some(n), Some(t)) => format!("{n} schedules or {:.1} s per instance", t.as_secs_f64()),
        (None, None) => "no limit".into(),
    }
}

fn set_report(s: &SetSummary) -> String {
    let mut r = format!("\n{} ({} instances)\n", s.set, s.instances);
    r += &format!("  deviation from critical path   {:6.2} %", s.dev_cp_pct);
    r += &match s.floor_cp_pct {
        Some(f) => format!("   (floor with best-known makespans: {f:.2} %)\n"),
        None => "\n".into(),
    };
    if let Some(d) = s.dev_ub_pct {
        r += &format!("  deviation from best known      {d:6.2} %\n");
        r += &format!(
            "  equal to best known            {:6}\n",
            s.equal_best_known
        );
    }
    r += &format!("  proven optimal                 {:6}\n", s.proven_optimal);
    r += &format!(
        "  schedules per second per core  {:6.0}   ({} schedules, {:.1} s of solving)\n",
        s.schedules_per_s(),
        s.schedules,
        s.solve_s
    );
    if let Some(lit) = literature(&s.set) {
        r += &format!("  literature: {lit}\n");
    }
    r
}

/// Published reference points of the deviation from the critical path.
fn literature(set: &str) -> Option<&'static str> {
    match set {
        "j30" => Some("the best heuristics reach ≈0.0–0.1 % from the optimum at 5,000 schedules"),
        "j60" => Some("the best heuristics ≈10.6–11.0 % at 5,000 schedules"),
        "j120" => Some(
            "Merkle et al.'s ACO ≈35.4 % at 5,000 schedules; the best heuristics ≈32.2 % at 5,000 and ≈30.5–31 % at 50,000",
        ),
        _ => None,
    }
}

/// One line of `--jsonl`.
#[derive(Serialize)]
struct Line<'a> {
    instance: &'a str,
    set: &'a str,
    solver: &'a str,
    makespan: Slot,
    lower_bound: Slot,
    critical_path: Slot,
    best_known: Option<Slot>,
    dev_cp_pct: f64,
    proven_optimal: bool,
    schedules: u64,
    elapsed_s: f64,
}

fn write_jsonl(path: &Path, solver: &str, results: &[InstanceResult]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for r in results {
            let line = Line {
                instance: &r.instance,
                set: &r.set,
                solver,
                makespan: r.makespan,
                lower_bound: r.lower_bound,
                critical_path: r.critical_path,
                best_known: r.reference.as_ref().map(|x| x.ub),
                dev_cp_pct: r.dev_cp_pct(),
                proven_optimal: r.proven_optimal(),
                schedules: r.schedules,
                elapsed_s: r.elapsed_s,
            };
            let text = serde_json::to_string(&line).expect("a result always serialises");
            writeln!(f, "{text}")?;
        }
        f.flush()
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// Sort key that orders `j302_1` before `j3010_1` and `j301_2` before `j301_10`.
fn natural_key(p: &Path) -> Vec<(String, u64)> {
    let name = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut num = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            if !num.is_empty() || !text.is_empty() {
                parts.push((std::mem::take(&mut text), num.parse().unwrap_or(0)));
                num.clear();
            }
            text.push(c);
        }
    }
    parts.push((text, num.parse().unwrap_or(0)));
    parts
}

/// Reads the reference bounds, keyed by instance name.
fn read_bounds(path: &Path) -> Result<HashMap<String, Reference>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the bounds file {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        bail!("{}: the bounds file is empty", path.display());
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .with_context(|| format!("{}:1: no '{name}' column", path.display()))
    };
    let (set, instance, cpm, lb, ub) = (
        col("set")?,
        col("instance")?,
        col("cpm")?,
        col("lb")?,
        col("ub")?,
    );
    let mut out = HashMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |c: usize, what: &str| -> Result<u32> {
            let v = f.get(c).with_context(|| {
                format!("{}:{}: missing the '{what}' column", path.display(), i + 1)
            })?;
            v.parse().with_context(|| {
                format!(
                    "{}:{}: '{what}' is '{v}', not a whole number",
                    path.display(),
                    i + 1
                )
            })
        };
        let name = f.get(instance).copied().unwrap_or_default().to_string();
        let r = Reference {
            set: f.get(set).copied().unwrap_or_default().to_string(),
            cpm: field(cpm, "cpm")?,
            lb: field(lb, "lb")?,
            ub: field(ub, "ub")?,
            closed: false,
        };
        out.insert(
            name,
            Reference {
                closed: r.lb == r.ub,
                ..r
            },
        );
    }
    Ok(out)
}
