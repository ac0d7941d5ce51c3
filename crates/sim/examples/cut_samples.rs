//! Cuts the samples shipped in `crates/sim/data` from the shared data sets, exactly as
//! `crates/sim/data/SOURCE.md` describes:
//!
//! ```sh
//! cargo run -p powerslot-sim --example cut_samples -- ../shared/data crates/sim/data
//! ```
//!
//! Rows are copied byte for byte, except the UCI columns kept and the appliance cycles, which
//! are cut by `powerslot_sim::fleet::traces::cut_cycles` and written with whole watts. The
//! gzip files are written without a timestamp, so the same input gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use powerslot_sim::fleet::traces::{self, cut_cycles, format_minute, house_of, parse_time};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: cut_samples SHARED_DATA_DIR OUT_DIR");
        std::process::exit(2);
    }
    if let Err(e) = run(Path::new(&args[0]), Path::new(&args[1])) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn lines(path: &Path) -> Res<Vec<String>> {
    let r = BufReader::new(traces::open(path)?);
    Ok(r.lines().collect::<Result<_, _>>()?)
}

fn write_plain(path: PathBuf, lines: &[String]) -> Res<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&path, text)?;
    println!("{}: {} rows", path.display(), lines.len() - 1);
    Ok(())
}

fn write_gz(path: PathBuf, lines: &[String]) -> Res<()> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    for l in lines {
        writeln!(gz, "{l}")?;
    }
    fs::write(&path, gz.finish()?)?;
    println!("{}: {} rows (gzip)", path.display(), lines.len() - 1);
    Ok(())
}

fn time(s: &str) -> Res<i64> {
    parse_time(s).ok_or_else(|| format!("bad time {s:?}").into())
}

fn run(data: &Path, out: &Path) -> Res<()> {
    fs::create_dir_all(out)?;

    // EV sessions: plug-ins from 2019-10-01 to 2019-10-28, every second user (by sorted id)
    // of those who plug in then.
    let ev = lines(&data.join("ev_sessions_trondheim/ev_sessions_trondheim.csv"))?;
    let (from, to) = (time("2019-10-01 00:00")?, time("2019-10-29 00:00")?);
    let in_window = |l: &String| -> Res<bool> {
        let f: Vec<&str> = l.split(';').collect();
        let t = time(f.get(5).ok_or("short EV row")?)?;
        Ok((from..to).contains(&t))
    };
    let mut users = BTreeSet::new();
    for l in &ev[1..] {
        if in_window(l)? {
            users.insert(l.split(';').nth(2).unwrap_or("").to_string());
        }
    }
    let kept: BTreeSet<String> = users.into_iter().step_by(2).collect();
    let mut rows = vec![ev[0].clone()];
    for l in &ev[1..] {
        if in_window(l)? && kept.contains(l.split(';').nth(2).unwrap_or("")) {
            rows.push(l.clone());
        }
    }
    write_plain(out.join("ev_sessions_trondheim_2019-10.csv"), &rows)?;

    // Appliance cycles: the autumn months each UK house has.
    let mut cycles = Vec::new();
    for f in [
        "REFIT_House2_2014-10.gzip",
        "REFIT_House2_2014-11.gzip",
        "REFIT_House20_2014-10.gzip",
        "REFIT_House20_2014-11.gzip",
        "UKDALE_House2_2013-09.gzip",
        "UKDALE_House2_2013-10.gzip",
    ] {
        let p = data.join("household_appliances_1min_uk").join(f);
        cycles.extend(cut_cycles(
            traces::open(&p)?,
            &p.display().to_string(),
            &house_of(&p),
        )?);
    }
    let path = out.join("appliance_cycles_uk_autumn.csv");
    traces::write_cycles(fs::File::create(&path)?, &cycles)?;
    println!("{}: {} cycles", path.display(), cycles.len());

    // SGSC: April 2013 (southern autumn), four weeks, the 20 lowest customer ids without a
    // missing half-hour in them.
    let sg = lines(&data.join("smartmeter_sgsc_households_30min/sgsc_40_households_30min.csv"))?;
    let (from, to) = (time("2013-04-01 00:00")?, time("2013-04-29 00:00")?);
    let mut by_customer: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in &sg[1..] {
        let f: Vec<&str> = l.split(',').collect();
        if (from..to).contains(&time(f.get(1).ok_or("short SGSC row")?)?) {
            by_customer
                .entry(f[0].to_string())
                .or_default()
                .push(l.clone());
        }
    }
    let mut rows = vec![sg[0].clone()];
    for (_, r) in by_customer
        .iter()
        .filter(|(_, r)| r.len() == 28 * 48)
        .take(20)
    {
        rows.extend(r.iter().cloned());
    }
    write_gz(out.join("sgsc_households_2013-04.csv.gz"), &rows)?;

    // UCI: 2007-03-04 to 2007-03-31, timestamp, global_active_power and sub_metering_3.
    let uci = lines(&data.join("household_uci_1min/uci_household_power_2007H1_1min.csv"))?;
    let header: Vec<&str> = uci[0].split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).ok_or("UCI column");
    let (ti, gi, si) = (
        col("timestamp")?,
        col("global_active_power")?,
        col("sub_metering_3")?,
    );
    let (from, to) = (time("2007-03-04 00:00")?, time("2007-04-01 00:00")?);
    let mut rows = vec!["timestamp,global_active_power,sub_metering_3".to_string()];
    for l in &uci[1..] {
        let f: Vec<&str> = l.split(',').collect();
        if (from..to).contains(&time(f[ti])?) {
            rows.push(format!("{},{},{}", f[ti], f[gi], f[si]));
        }
    }
    write_gz(out.join("uci_household_2007-03.csv.gz"), &rows)?;

    // PVDAQ: six weeks, 2021-09-20 to 2021-10-31 (the solar predictors want history).
    let pv = lines(&data.join("solar_pvdaq_nrel/pvdaq_system15_poa_irradiance_15min.csv"))?;
    let (from, to) = (time("2021-09-20 00:00")?, time("2021-11-01 00:00")?);
    let mut rows = vec![pv[0].clone()];
    for l in &pv[1..] {
        if (from..to).contains(&time(l.split(',').next().unwrap_or(""))?) {
            rows.push(l.clone());
        }
    }
    write_plain(out.join("pvdaq_system15_2021-10.csv"), &rows)?;

    // NAB: the first eight days of four servers of different levels (a week's run and its
    // ±1 h offsets fit).
    for id in ["5f5533", "77c1ca", "ac20cd", "fe7f93"] {
        let f = lines(
            &data
                .join("machines_nab_ec2_cpu")
                .join(format!("ec2_cpu_utilization_{id}.csv")),
        )?;
        let t0 = time(f[1].split(',').next().unwrap_or(""))?;
        let mut rows = vec![f[0].clone()];
        for l in &f[1..] {
            if time(l.split(',').next().unwrap_or(""))? < t0 + 8 * traces::DAY {
                rows.push(l.clone());
            }
        }
        write_plain(out.join(format!("nab_cpu_{id}.csv")), &rows)?;
        println!("  from {}", format_minute(t0));
    }
    Ok(())
}
