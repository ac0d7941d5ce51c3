//! Reading day instances: good ones become the model, bad ones say what and where.

use powerslot_home::{HomeError, Kind, parse_day};
use powerslot_protocol::device::Demand;

/// A valid two-load day; `patch` edits its text to make bad variants.
fn day_json() -> String {
    r#"{
  "start": "2025-06-21T06:00", "step_minutes": 30, "n_steps": 4,
  "pv_w": [0, 100, 200, 0], "base_load_w": [300, 300, 300, 300],
  "import_price": [0.2, 0.2, 0.1, 0.1], "export_price": [0.05, 0.05, 0.05, 0.05],
  "grid_import_limit_w": 6000, "grid_export_limit_w": [6000, 6000, 6000, 6000],
  "costfun": "profit",
  "battery": {"capacity_wh": 5000, "charge_w": 2500, "discharge_w": 2500,
              "eff_charge": 0.95, "eff_discharge": 0.95, "soc_min": 0.2,
              "soc_max": 0.95, "soc_init": 0.5, "soc_final": 0.5},
  "loads": [
    {"name": "washer", "power_w": 2000, "steps": 2, "start": 1, "end": 4,
     "semi_continuous": true, "single_block": true},
    {"name": "ev", "power_w": 3700, "steps": 1, "start": 0, "end": 0,
     "semi_continuous": false, "single_block": false, "after": ["washer"]}
  ],
  "groups": [{"loads": ["washer", "ev"], "max_power_w": 4000}],
  "solver": {"mip_rel_gap": 0.01, "timeout_s": 45, "threads": 0}
}"#
    .to_string()
}

fn err(text: &str) -> String {
    parse_day(text, "day.json").unwrap_err().to_string()
}

#[test]
fn a_good_day_becomes_the_model_in_the_protocols_vocabulary() {
    let day = parse_day(&day_json(), "day.json").unwrap();
    assert_eq!(day.n_steps, 4);
    assert_eq!(day.clock(0), "06:00");
    assert_eq!(day.clock(3), "07:30");
    assert_eq!(day.grid_import_limit_w, vec![6000.0; 4]);
    let washer = &day.loads[0];
    assert!(matches!(
        washer.demand,
        Demand::PowerProfile {
            interruptible: false,
            ..
        }
    ));
    assert_eq!(
        washer.kind(),
        Kind::Block {
            power_w: 2000.0,
            steps: 2
        }
    );
    assert_eq!(washer.max_starts, 1);
    let ev = &day.loads[1];
    // end 0 = open to the end of the horizon (EMHASS's convention).
    assert_eq!(ev.window, 0..4);
    assert_eq!(
        ev.demand,
        Demand::EnergyTarget {
            energy_mwh: 1_850_000,
            min_mw: 0,
            max_mw: 3_700_000
        }
    );
    assert_eq!(ev.after, vec![0]);
    assert_eq!(washer.due, None);
    assert_eq!(day.groups[0].loads, vec![0, 1]);
    assert_eq!(day.battery.as_ref().unwrap().soc_final, 0.5);
}

#[test]
fn a_series_of_the_wrong_length_names_the_field() {
    let e = err(&day_json().replace("\"pv_w\": [0, 100, 200, 0]", "\"pv_w\": [0, 100, 200]"));
    assert_eq!(e, "field `pv_w`: has 3 values, n_steps is 4");
}

#[test]
fn a_run_longer_than_its_window_names_the_load_and_field() {
    let e = err(&day_json().replace("\"steps\": 2, \"start\": 1", "\"steps\": 4, \"start\": 1"));
    assert!(
        e.starts_with("load `washer` (#0), field `steps`: 4 steps do not fit"),
        "{e}"
    );
}

#[test]
fn a_misspelt_field_is_refused_with_line_and_column() {
    let e = err(&day_json().replace("\"power_w\": 3700", "\"powr_w\": 3700"));
    assert!(e.starts_with("day.json:13:"), "{e}");
    assert!(e.contains("unknown field `powr_w`"), "{e}");
}

#[test]
fn broken_json_says_where() {
    let e = err("{\"step_minutes\": 30,\n \"n_steps\": }");
    assert!(e.starts_with("day.json:2:"), "{e}");
}

#[test]
fn precedence_on_an_unknown_load_is_named() {
    let e = err(&day_json().replace("\"after\": [\"washer\"]", "\"after\": [\"dryer\"]"));
    assert_eq!(
        e,
        "load `ev` (#1), field `after`: names `dryer`, no such load"
    );
}

#[test]
fn bad_numbers_are_refused_per_field() {
    let cases = [
        ("\"soc_max\": 0.95", "\"soc_max\": 0.1", "battery.soc_max"),
        ("\"power_w\": 2000", "\"power_w\": -5", "field `power_w`"),
        (
            "\"import_price\": [0.2,",
            "\"import_price\": [NaN,",
            "day.json:",
        ),
        ("\"steps\": 1,", "\"steps\": 0,", "field `steps`: is 0"),
        ("\"end\": 4,", "\"end\": 9,", "field `end`: is 9"),
        ("\"n_steps\": 4", "\"n_steps\": 0", "field `n_steps`"),
        (
            "\"start\": \"2025-06-21T06:00\"",
            "\"start\": \"noon\"",
            "field `start`",
        ),
        (
            "\"single_block\": true}",
            "\"single_block\": true, \"due\": 2, \"tardiness_cost\": 0.1}",
            "field `due`: is 2, needs a step in [3, 4]",
        ),
        (
            "\"single_block\": true}",
            "\"single_block\": true, \"due\": 4}",
            "field `due`: needs `tardiness_cost` > 0",
        ),
        (
            "\"single_block\": true}",
            "\"single_block\": true, \"tardiness_cost\": 0.1}",
            "field `tardiness_cost`: is set without `due`",
        ),
        (
            "\"loads\": [\"washer\", \"ev\"]",
            "\"loads\": [\"washer\", \"tv\"]",
            "groups[0].loads",
        ),
        (
            "\"single_block\": true}",
            "\"single_block\": true, \"extra_energy_wh\": 500}",
            "load `washer` (#0), field `extra_energy_wh`: needs a modulating load",
        ),
        (
            "\"after\": [\"washer\"]}",
            "\"after\": [\"washer\"], \"extra_energy_wh\": 20000}",
            "field `extra_energy_wh`: is 20000 Wh, more than the window leaves",
        ),
        (
            "\"after\": [\"washer\"]}",
            "\"after\": [\"washer\"], \"extra_energy_value\": 0.1}",
            "field `extra_energy_value`: is set without extra_energy_wh",
        ),
        (
            "\"after\": [\"washer\"]}",
            "\"after\": [\"washer\"], \"extra_energy_wh\": -1}",
            "field `extra_energy_wh`: is -1",
        ),
    ];
    for (from, to, want) in cases {
        let text = day_json().replacen(from, to, 1);
        assert_ne!(text, day_json(), "{from} not in the template");
        let e = err(&text);
        assert!(e.contains(want), "{to}: {e}");
    }
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let e = powerslot_home::read_day(std::path::Path::new("/no/such/day.json")).unwrap_err();
    assert!(matches!(e, HomeError::Io { .. }));
    assert!(e.to_string().starts_with("/no/such/day.json: "));
}
