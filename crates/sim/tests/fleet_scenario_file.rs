//! Scenario files: the documented example builds as written, a user's own CSV files are drawn
//! from, and mistakes are named with their line and column.

use std::fmt::Write as _;
use std::path::Path;

use powerslot_protocol::Priority;
use powerslot_sim::fleet::model::{BudgetSource, Fleet, SimKind, Work};
use powerslot_sim::fleet::population::check;
use powerslot_sim::fleet::scenario_file::{Overrides, load, parse};
use powerslot_sim::fleet::traces::{DAY, format_minute, parse_time};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/fleet-site.toml"
);

fn count(f: &Fleet, group: &str) -> usize {
    f.devices
        .iter()
        .filter(|d| {
            let last = d.id.as_str().rsplit('.').next().unwrap();
            last.rsplit_once('-').map(|(n, _)| n) == Some(group)
        })
        .count()
}

#[test]
fn the_example_file_parses_and_builds_as_documented() {
    let f = load(Path::new(EXAMPLE), &Overrides::default()).unwrap();
    check(&f).unwrap();
    assert_eq!(f.name, "my-street");
    assert_eq!(
        (f.slot_ms, f.slots, f.start_of_day_s),
        (900_000, 96, 12 * 3_600)
    );
    assert_eq!(f.circuits.len(), 9);
    assert_eq!(f.devices.len(), 6 + 6 + 3 + 4 + 3 + 2 + 2 + 1);
    for (group, n) in [
        ("base", 6),
        ("fridge", 6),
        ("car", 3),
        ("washer", 4),
        ("dishwasher", 3),
        ("water-heater", 2),
        ("heat-pump", 2),
        ("nas", 1),
    ] {
        assert_eq!(count(&f, group), n, "{group}");
    }
    // Round-robin placement, ports counted per circuit.
    let fridge2 = f
        .devices
        .iter()
        .find(|d| d.id.as_str() == "house-2.fridge-2")
        .unwrap();
    assert_eq!((fridge2.circuit.as_str(), fridge2.port), ("house-2", 2));
    assert_eq!(fridge2.priority, Priority::Critical);
    let nas = f
        .devices
        .iter()
        .find(|d| d.id.as_str() == "house-6.nas-1")
        .unwrap();
    assert_eq!(nas.priority, Priority::Low);
    let SimKind::Elastic { min_mw, max_mw, .. } = nas.kind else {
        panic!("a CPU group is elastic")
    };
    // Idle and maximum as written, scaled with the device by 0.95–1.05.
    let k = max_mw as f64 / 45_000.0;
    assert!((0.95..=1.05).contains(&k), "{max_mw}");
    assert!((min_mw as f64 - 20_000.0 * k).abs() <= 1.0, "{min_mw}");
    // The washers' users give them 3–8 h and accept up to 2 h more.
    for d in f
        .devices
        .iter()
        .filter(|d| d.id.as_str().contains(".washer-"))
    {
        let SimKind::Jobs(jobs) = &d.kind else {
            panic!()
        };
        for j in jobs {
            let Work::Cycle { actual_mw, .. } = &j.work else {
                panic!()
            };
            // 3–8 h is 12–32 slots: less only where the run ends or the next cycle starts.
            let (window, len) = ((j.deadline - j.earliest) as usize, actual_mw.len());
            assert!(len <= window && window <= len.max(32), "{}: {j:?}", d.id);
            assert!(j.accept_until - j.deadline <= 8);
        }
    }
    let budget = |name: &str| &f.budgets.iter().find(|(c, _)| c == name).unwrap().1;
    let BudgetSource::SolarBattery(s) = budget("site") else {
        panic!("the site is on solar")
    };
    assert_eq!(
        (
            s.battery_mwh,
            s.reserve_mwh,
            s.initial_mwh,
            s.inverter_mw,
            s.grid_mw
        ),
        (40_000_000, 4_000_000, 20_000_000, 12_000_000, 0)
    );
    assert!(
        s.production_mw.iter().max().unwrap() > &5_000_000,
        "80 m² at noon"
    );
    assert_eq!(
        budget("garage"),
        &BudgetSource::Curve(vec![7_400_000, 7_400_000, 7_400_000, 7_400_000, 11_000_000])
    );
    assert!(f.provenance.iter().any(|p| p.contains("ev group: ")));
}

#[test]
fn overrides_scale_groups_and_replace_days_and_seed() {
    let f = load(
        Path::new(EXAMPLE),
        &Overrides {
            devices: Some(270),
            days: Some(2),
            seed: Some(3),
        },
    )
    .unwrap();
    assert_eq!(f.devices.len(), 270);
    assert_eq!(f.slots, 192);
    assert_eq!(count(&f, "base"), 60);
    assert_eq!(count(&f, "nas"), 10);
    let g = load(
        Path::new(EXAMPLE),
        &Overrides {
            seed: Some(4),
            ..Overrides::default()
        },
    )
    .unwrap();
    let h = load(Path::new(EXAMPLE), &Overrides::default()).unwrap();
    assert_ne!(format!("{:?}", g.devices), format!("{:?}", h.devices));
}

/// Writes `files` into a fresh directory and builds `toml` from there.
fn build_in_dir(toml: &str, files: &[(&str, String)]) -> Result<Fleet, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = dir.path().join("site.toml");
    std::fs::write(&path, toml).unwrap();
    load(&path, &Overrides::default()).map_err(|e| e.to_string())
}

const SITE: &str = r#"
start = "00:00"
history_days = 1
[[circuit]]
name = "site"
rating_kw = 20
"#;

#[test]
fn groups_draw_from_the_users_own_files() {
    // Five days of a meter in kW, hourly.
    let mut meter = String::from("time,kw\n");
    let t0 = parse_time("2024-03-01 00:00").unwrap();
    for h in 0..5 * 24 {
        writeln!(
            meter,
            "{},{}",
            format_minute(t0 + h * 60),
            0.5 + (h % 24) as f64 / 24.0
        )
        .unwrap();
    }
    // A washer run every morning for three days, in the UK 1-minute layout.
    let mut washer = String::from("Time,Aggregate,WashingMachine\n");
    for m in 0..3 * DAY {
        let on = (480..540).contains(&(m % DAY));
        writeln!(
            washer,
            "{}:00,300,{}",
            format_minute(t0 + m),
            if on { 2000 } else { 0 }
        )
        .unwrap();
    }
    // Two cars, comma layout on standard time.
    let cars = "User_ID,Start_plugin,End_plugout,El_kWh\n\
                a,2024-03-01 18:00,2024-03-02 07:00,12\n\
                b,2024-03-01 20:00,2024-03-02 06:30,20\n\
                a,2024-03-02 18:30,2024-03-03 07:00,9\n"
        .to_string();
    let toml = format!(
        r#"{SITE}
[[group]]
kind = "base"
count = 2
circuits = ["site"]
files = ["meter.csv"]
time_column = "time"
value_column = "kw"
unit = "kW"

[[group]]
kind = "washer"
count = 1
circuits = ["site"]
files = ["washer.csv"]

[[group]]
kind = "ev"
count = 2
circuits = ["site"]
files = ["cars.csv"]
clock = "standard"
"#
    );
    let f = build_in_dir(
        &toml,
        &[
            ("meter.csv", meter),
            ("washer.csv", washer),
            ("cars.csv", cars),
        ],
    )
    .unwrap();
    check(&f).unwrap();
    assert_eq!(f.devices.len(), 5);
    let SimKind::Base {
        actual_mw,
        history_mw,
    } = &f.devices[0].kind
    else {
        panic!()
    };
    assert_eq!((actual_mw.len(), history_mw.len()), (96, 96));
    // Between 0.5 and 1.5 kW, scaled by 0.95–1.05.
    assert!(
        actual_mw
            .iter()
            .all(|&p| (470_000..=1_580_000).contains(&p))
    );
    let SimKind::Jobs(w) = &f.devices[2].kind else {
        panic!()
    };
    let Work::Cycle {
        actual_mw,
        past_runs,
        ..
    } = &w[0].work
    else {
        panic!()
    };
    assert_eq!(actual_mw.len(), 4, "an hour at 15 minutes");
    assert_eq!(past_runs.len(), 2, "the machine's other runs");
    for d in &f.devices[3..] {
        let SimKind::Jobs(jobs) = &d.kind else {
            panic!()
        };
        assert!(jobs.iter().all(|j| matches!(j.work, Work::Energy { .. })));
    }
}

fn error(toml: &str) -> String {
    build_in_dir(toml, &[]).unwrap_err()
}

#[test]
fn mistakes_are_named_with_file_line_and_column() {
    let site = |more: &str| error(&format!("{SITE}\n{more}"));
    let group = |body: &str| {
        site(&format!(
            "[[group]]\ncount = 1\ncircuits = [\"site\"]\n{body}"
        ))
    };
    let budget = |body: &str| site(&format!("[[budget]]\ncircuit = \"site\"\n{body}"));
    for (e, want) in [
        (
            site("rating = 3"),
            "site.toml, line 8, column 1: unknown field `rating`",
        ),
        (
            site("[[group]]\nkind = \"ev\"\ncount = 1\ncircuits = [\"garage\"]"),
            "line 8, column 1: no circuit \"garage\" for this group",
        ),
        (
            group("kind = \"ev\"\npriority = \"urgent\""),
            "priority \"urgent\" is not low",
        ),
        (group("kind = \"kettle\""), "\"kettle\" is not base, ev"),
        (
            group("kind = \"water-heater\"\nfiles = [\"w.csv\"]"),
            "w.csv needs the name of its value column",
        ),
        (
            group("kind = \"water-heater\"\nfiles = [\"w.csv\"]\nvalue_column = \"w\""),
            "w.csv: No such file",
        ),
        (
            group("kind = \"elastic\"\nmax_w = 100"),
            "invalid min_w: is required",
        ),
        (
            budget("kind = \"curve\"\nkw = [1, -2]"),
            "line 8, column 1: every kw of a curve must be ≥ 0",
        ),
        (
            site("[[budget]]\ncircuit = \"roof\"\nkind = \"fixed\""),
            "no circuit \"roof\" for this budget",
        ),
        (
            budget(
                "kind = \"solar-battery\"\narray_m2 = 10\nefficiency = 0.2\nbattery_kwh = 1\nreserve_kwh = 2",
            ),
            "the reserve and the initial charge must fit in the battery",
        ),
        (
            error("start = \"25:00\"\n[[circuit]]\nname = \"site\"\nrating_kw = 1\n"),
            "line 1, column 9: start must be HH:MM",
        ),
        (
            error(
                "[[circuit]]\nname = \"a\"\nrating_kw = 1\n[[circuit]]\nname = \"b\"\nrating_kw = 1\n",
            ),
            "exactly one root",
        ),
        (error("[[circuit]\n"), "site.toml, line 1"),
    ] {
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn parse_takes_text_with_a_name() {
    let f = parse(
        &format!(
            "{SITE}\n[[group]]\nkind = \"constant\"\ncount = 2\ncircuits = [\"site\"]\nw = 5\n"
        ),
        "inline",
        Path::new("."),
        "inline-site",
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(f.name, "inline-site");
    assert_eq!(f.devices[1].id.as_str(), "site.constant-2");
}
