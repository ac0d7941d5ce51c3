//! Builds a fleet and prints its population figures and how long building took:
//!
//! ```sh
//! cargo run --release -p powerslot-sim --example fleet_stats -- neighbourhood 1000 1 [SEED] [DATA_DIR]
//! cargo run --release -p powerslot-sim --example fleet_stats -- my-site.toml 0 1
//! ```
//!
//! A name ending in `.toml` is a scenario file (its device counts hold; `0` keeps them). With
//! `DATA_DIR` (laid out like `../shared/data`) the full data sets are used instead of the
//! shipped samples.

use std::path::{Path, PathBuf};
use std::time::Instant;

use powerslot_sim::fleet::population::{BuildOptions, ScenarioKind, build, summarize};
use powerslot_sim::fleet::scenario_file;
use powerslot_sim::fleet::traces::DataSource;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [scenario, devices, days, rest @ ..] = args else {
        return Err("usage: fleet_stats SCENARIO|FILE.toml DEVICES DAYS [SEED] [DATA_DIR]".into());
    };
    let opts = BuildOptions {
        devices: devices.parse()?,
        days: days.parse()?,
        seed: rest.first().map(|s| s.parse()).transpose()?.unwrap_or(1),
        ..BuildOptions::default()
    };
    let source = rest
        .get(1)
        .map_or(DataSource::Samples, |d| DataSource::Dir(PathBuf::from(d)));
    let t = Instant::now();
    let fleet = if scenario.ends_with(".toml") {
        let overrides = scenario_file::Overrides {
            devices: (opts.devices > 0).then_some(opts.devices),
            days: Some(opts.days),
            seed: Some(opts.seed),
        };
        scenario_file::load(Path::new(scenario), &overrides)?
    } else {
        let kind = ScenarioKind::parse(scenario).ok_or("unknown scenario")?;
        build(kind, &source, &opts)?
    };
    let built = t.elapsed();
    println!(
        "{}: {} slots of {} min, built in {:.2} s",
        fleet.name,
        fleet.slots,
        fleet.slot_ms / 60_000,
        built.as_secs_f64()
    );
    println!("{}", summarize(&fleet)?);
    for p in &fleet.provenance {
        println!("  data: {p}");
    }
    Ok(())
}
