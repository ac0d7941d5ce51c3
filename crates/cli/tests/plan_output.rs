//! What `powerslot plan` and `powerslot plot` show a person: every device with its
//! start and finish as clock times, the times in `--json`, the timeline figure, and
//! clear errors for the written forms (units, clock times).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn powerslot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_powerslot"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The table row of `device`, split into its columns (two or more spaces apart).
fn row<'a>(table: &'a str, device: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.split("  ").next() == Some(device))
        .unwrap_or_else(|| panic!("no row for {device} in\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn the_table_gives_every_device_in_clock_time() {
    let example = repo("examples/evening.json");
    let text = stdout(&powerslot(&["plan", example.to_str().unwrap()]));
    assert!(
        text.contains("start      2026-06-01 17:00 (+02:00), slots of 15 min"),
        "{text}"
    );
    assert!(text.contains("lower bound"), "{text}");
    let header = row(&text, "device");
    assert_eq!(
        header,
        ["device", "power", "start", "finish", "slots", "window"]
    );
    // The oven must run 18:15–19:00 exactly: its window is as long as its run.
    assert_eq!(
        row(&text, "oven"),
        [
            "oven",
            "2.4 kW",
            "2026-06-01 18:15",
            "2026-06-01 19:00",
            "5–8",
            "from 2026-06-01 18:15, by 2026-06-01 19:00"
        ]
    );
    // Every device is listed once, with times that agree with its slots.
    for device in [
        "oven",
        "dishwasher",
        "washer",
        "dryer",
        "water-heater",
        "ev",
    ] {
        let r = row(&text, device);
        let (start, finish) = r[4].split_once('–').unwrap();
        let clock = |slot: &str| {
            let minutes = 17 * 60 + 15 * slot.parse::<u32>().unwrap();
            format!(
                "2026-06-{:02} {:02}:{:02}",
                1 + minutes / 1440,
                minutes % 1440 / 60,
                minutes % 60
            )
        };
        assert_eq!(
            (r[2].to_string(), r[3].to_string()),
            (clock(start), clock(finish))
        );
    }
}

#[test]
fn json_adds_the_times() {
    let example = repo("examples/evening.json");
    let text = stdout(&powerslot(&[
        "plan",
        example.to_str().unwrap(),
        "--json",
        "--threads",
        "1",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["slot_seconds"], 900);
    assert_eq!(doc["start_time"], "2026-06-01T17:00+02:00");
    let oven = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "oven")
        .unwrap();
    assert_eq!(oven["start"], 5);
    assert_eq!(oven["start_time"], "2026-06-01T18:15+02:00");
    assert_eq!(oven["finish_time"], "2026-06-01T19:00+02:00");
}

#[test]
fn old_files_and_psplib_still_plan() {
    // The integer keys (milliwatts, slots) of earlier files.
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::write(
        &old,
        r#"{"slot_seconds": 900, "budget_mw": 5000000, "baseline_mw": 600000,
            "devices": [{"id": "washer", "power_mw": 2000000, "duration_slots": 8,
                         "release_slot": 4}]}"#,
    )
    .unwrap();
    let text = stdout(&powerslot(&["plan", old.to_str().unwrap()]));
    assert_eq!(
        row(&text, "washer"),
        [
            "washer",
            "2 kW",
            "day 0 01:00",
            "day 0 03:00",
            "4–12",
            "from day 0 01:00"
        ]
    );
    let json = stdout(&powerslot(&["plan", old.to_str().unwrap(), "--json"]));
    assert!(!json.contains("start_time"), "{json}");
    // PSPLIB: jobs, one column per resource, slots only.
    let psplib = repo("examples/psplib/j301_1.sm");
    let text = stdout(&powerslot(&["plan", psplib.to_str().unwrap()]));
    assert_eq!(
        row(&text, "task"),
        ["task", "R1", "R2", "R3", "R4", "slots"]
    );
    assert_eq!(text.lines().filter(|l| l.contains('–')).count(), 30);
}

#[test]
fn plot_draws_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let example = repo("examples/evening.json");
    let schedule = dir.path().join("evening.json");
    let out = dir.path().join("figures");
    stdout(&powerslot(&[
        "plan",
        example.to_str().unwrap(),
        "--out",
        schedule.to_str().unwrap(),
    ]));
    stdout(&powerslot(&[
        "plot",
        schedule.to_str().unwrap(),
        "--instance",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let svg = std::fs::read_to_string(out.join("evening_timeline.svg")).unwrap();
    for text in [
        "water-heater",
        "allowed window",
        "maximum allowable power",
        "18:00",
    ] {
        assert!(svg.contains(text), "{text} is not in the timeline");
    }
    assert!(out.join("evening_timeline.png").exists());
}

#[test]
fn written_forms_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"slot": "15 min", "budget": "5 kW",
  "devices": [{"id": "kettle", "power": "2 kWh", "duration": "5 min"}]}"#,
            ":2: `power`: '2 kWh' is not a power: write e.g. \"2 kW\" or \"800 W\"",
        ),
        (
            r#"{"budget": "5 kW", "devices": [{"id": "kettle", "power": "2 kW",
  "duration": "5 min", "deadline": "07:00"}]}"#,
            "device 'kettle': \"deadline\": \"07:00\" is a clock time, so the instance needs \"start\"",
        ),
        (
            r#"{"start": "2026-06-01T07:00", "budget": "5 kW", "devices": []}"#,
            "has no UTC offset",
        ),
    ];
    for (i, (json, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.json"));
        std::fs::write(&file, json).unwrap();
        let out = powerslot(&["plan", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(&format!("bad{i}.json")),
            "{err}"
        );
        assert!(err.contains(expected), "{err}");
    }
}
