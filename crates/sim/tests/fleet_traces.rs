//! The fleet simulator's readers on small inline inputs, good and malformed, and the shipped
//! samples.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use powerslot_sim::fleet::traces::{
    Appliance, Clock, DAY, DataError, DataSource, Pool, Unit, cut_cycles, format_minute,
    open_bytes, parse_time, read_cycles, read_ev_sessions, read_long, read_series, write_cycles,
};

fn t(s: &str) -> i64 {
    parse_time(s).unwrap()
}

const EV_HEADER: &str = "session_ID;Garage_ID;User_ID;User_type;Shared_ID;Start_plugin;Start_plugin_hour;End_plugout;End_plugout_hour;El_kWh;Duration_hours;month_plugin;weekdays_plugin";

#[test]
fn ev_sessions_read_decimal_commas_and_move_summer_time_to_standard_time() {
    let text = format!(
        "{EV_HEADER}\n\
         1;AdO3;AdO3-4;Private;NA;21.12.2018 10:20;10;21.12.2018 10:23;10;0,3;0,05;Dec;Friday\n\
         2;AdO3;AdO3-4;Private;NA;01.07.2019 18:00;18;02.07.2019 07:00;7;20,5;13;Jul;Monday\n\
         3;Bl2;Bl2-5;Private;NA;27.10.2019 01:30;1;27.10.2019 05:30;5;7,36;NA;Oct;Sunday\n\
         4;Bl2;Bl2-5;Private;NA;05.12.2019 17:00;17;;;12;;Dec;Thursday\n"
    );
    let log = read_ev_sessions(text.as_bytes(), "ev.csv", Clock::EuWallClock).unwrap();
    assert_eq!(log.without_plug_out, 1, "the open session is left out");
    assert_eq!(log.sessions.len(), 3);
    // Sorted by user, then plug-in.
    let s = &log.sessions[0];
    assert_eq!((s.user.as_str(), s.garage.as_str()), ("AdO3-4", "AdO3"));
    assert_eq!(s.plug_in, t("2018-12-21 10:20"), "winter: no change");
    assert_eq!(s.plug_out - s.plug_in, 3, "0.05 h");
    assert!((s.energy_wh - 300.0).abs() < 1e-9);
    let s = &log.sessions[1];
    assert_eq!(s.plug_in, t("2019-07-01 17:00"), "summer: one hour back");
    assert_eq!(s.plug_out - s.plug_in, 13 * 60, "the duration column wins");
    // No duration: the plug-out, both in summer time (the repeated hour counts as summer).
    let s = &log.sessions[2];
    assert_eq!(s.plug_in, t("2019-10-27 00:30"));
    assert_eq!(s.plug_out, t("2019-10-27 05:30"));
    // 20.5 kWh in 13 h is slow; 7.36 kWh in 5 h (1.5 kW) too: no hour-long burst above
    // 3.68 kW · 1.1, so both users get the 3.7 kW level.
    assert_eq!(log.chargers["AdO3-4"].max_w, 3_680.0);
    assert_eq!(log.chargers["Bl2-5"].max_w, 3_680.0);
    assert_eq!(log.end, t("2019-12-06 00:00"));
}

#[test]
fn ev_sessions_in_comma_layout_with_standard_clock() {
    let text =
        "User_ID,Start_plugin,End_plugout,El_kWh\nu1,2019-07-01 18:00,2019-07-01 20:00,10.5\n";
    let log = read_ev_sessions(text.as_bytes(), "mine.csv", Clock::Standard).unwrap();
    assert_eq!(log.sessions[0].plug_in, t("2019-07-01 18:00"));
    assert_eq!(log.sessions[0].plug_out, t("2019-07-01 20:00"));
    assert_eq!(log.chargers["u1"].max_w, 7_360.0, "5.25 kW over two hours");
}

fn err(r: Result<impl std::fmt::Debug, DataError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn ev_errors_name_file_line_and_column() {
    let row = |start: &str, kwh: &str, dur: &str| {
        format!("{EV_HEADER}\n1;G;U;Private;NA;{start};1;;;{kwh};{dur};Jan;Monday\n")
    };
    let e = err(read_ev_sessions(
        row("yesterday", "1", "1").as_bytes(),
        "ev.csv",
        Clock::Standard,
    ));
    assert!(e.starts_with("ev.csv, line 2, column Start_plugin:"), "{e}");
    let e = err(read_ev_sessions(
        row("01.01.2019 10:00", "-3", "1").as_bytes(),
        "ev.csv",
        Clock::Standard,
    ));
    assert!(e.contains("line 2, column El_kWh: negative energy"), "{e}");
    let e = err(read_ev_sessions(
        row("01.01.2019 10:00", "abc", "1").as_bytes(),
        "ev.csv",
        Clock::Standard,
    ));
    assert!(e.contains("column El_kWh: \"abc\" is not a number"), "{e}");
    let e = err(read_ev_sessions(
        row("01.01.2019 10:00", "1", "-1").as_bytes(),
        "ev.csv",
        Clock::Standard,
    ));
    assert!(
        e.contains("column Duration_hours: negative duration"),
        "{e}"
    );
    let e = err(read_ev_sessions(
        "User_ID;Start_plugin\nu;01.01.2019 10:00\n".as_bytes(),
        "ev.csv",
        Clock::Standard,
    ));
    assert!(
        e.contains("ev.csv, line 1: no column \"El_kWh\"; the columns are: User_ID, Start_plugin"),
        "{e}"
    );
    let e = err(read_ev_sessions(
        format!("{EV_HEADER}\n1;G;U;Private\n").as_bytes(),
        "ev.csv",
        Clock::Standard,
    ));
    assert!(
        e.contains("line 2, column row: 4 fields where the header has 13"),
        "{e}"
    );
    let e = err(read_ev_sessions(
        format!("{EV_HEADER}\n").as_bytes(),
        "ev.csv",
        Clock::Standard,
    ));
    assert!(e.contains("no session"), "{e}");
}

/// A 1-minute UK file from `start` with a washer and a dishwasher column.
fn minutes(start: &str, rows: &[(f64, f64, f64)]) -> String {
    let mut s = String::from("Time,Aggregate,Kettle,Dishwasher,WashingMachine,Microwave\n");
    for (i, (agg, dish, wash)) in rows.iter().enumerate() {
        s += &format!(
            "{},{agg},0.0,{dish},{wash},0.0\n",
            format_minute(t(start) + i as i64)
        );
    }
    s
}

#[test]
fn cycles_are_cut_at_long_off_runs_and_dropped_near_filled_gaps() {
    let mut rows = vec![(300.0, 0.0, 0.0); 600];
    // A washer cycle: 30 min at 2 kW, a 10-minute pause (shorter than the 20-minute off-run),
    // 20 min at 500 W.
    rows[60..90].iter_mut().for_each(|r| r.2 = 2_000.0);
    rows[100..120].iter_mut().for_each(|r| r.2 = 500.0);
    // A dishwasher cycle with a 30-minute drying pause (shorter than its 40-minute off-run).
    rows[200..260].iter_mut().for_each(|r| r.1 = 1_800.0);
    rows[290..300].iter_mut().for_each(|r| r.1 = 100.0);
    // A washer cycle next to an aggregate zero-run of 6 minutes (a filled gap): dropped.
    rows[400..460].iter_mut().for_each(|r| r.2 = 2_000.0);
    rows[470..476].iter_mut().for_each(|r| r.0 = 0.0);
    // A blip under 0.1 kWh: not a cycle.
    rows[520..525].iter_mut().for_each(|r| r.2 = 600.0);
    let text = minutes("2014-10-01 06:00", &rows);
    let cycles = cut_cycles(text.as_bytes(), "h.csv", "H").unwrap();
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    let w = &cycles[0];
    assert_eq!(w.appliance, Appliance::Washer);
    assert_eq!(w.start, t("2014-10-01 07:00"));
    assert_eq!(w.power_w.len(), 60);
    assert!((w.energy_wh() - (1_000.0 + 500.0 * 20.0 / 60.0)).abs() < 1e-6);
    let d = &cycles[1];
    assert_eq!(d.appliance, Appliance::Dishwasher);
    assert_eq!(d.power_w.len(), 100);
    // 15-minute slots by mean; the last slot counts its missing minutes as off.
    let slots = w.resample(15);
    assert_eq!(slots.len(), 4);
    assert_eq!(&slots[..2], &[2_000.0, 2_000.0]);
    assert!(
        (slots[2] - 500.0 / 3.0).abs() < 1e-9,
        "10 minutes off, 5 at 500 W"
    );
    assert_eq!(slots[3], 500.0);
    let kept_energy: f64 = slots.iter().sum::<f64>() * 15.0 / 60.0;
    assert!((kept_energy - w.energy_wh()).abs() < 1e-6);
}

#[test]
fn cycles_at_the_ends_of_a_file_are_not_cut_short() {
    let mut rows = vec![(300.0, 0.0, 0.0); 120];
    rows[0..30].iter_mut().for_each(|r| r.2 = 2_000.0);
    rows[100..120].iter_mut().for_each(|r| r.1 = 2_000.0);
    let text = minutes("2014-10-01 06:00", &rows);
    assert!(
        cut_cycles(text.as_bytes(), "h.csv", "H")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn cycles_read_gzip_and_round_trip_through_the_sample_format() {
    let mut rows = vec![(300.0, 0.0, 0.0); 200];
    rows[50..100].iter_mut().for_each(|r| r.2 = 2_103.4);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(minutes("2014-10-01 06:00", &rows).as_bytes())
        .unwrap();
    let bytes: &'static [u8] = Box::leak(gz.finish().unwrap().into_boxed_slice());
    let cycles = cut_cycles(open_bytes(bytes), "h.gzip", "H").unwrap();
    assert_eq!(cycles.len(), 1);
    let mut out = Vec::new();
    write_cycles(&mut out, &cycles).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("appliance,house,start,power_w\nwasher,H,2014-10-01 06:50,2103 2103"));
    let back = read_cycles(text.as_bytes(), "c.csv").unwrap();
    assert_eq!(back[0].start, cycles[0].start);
    assert_eq!(back[0].power_w[0], 2_103.0, "whole watts");
}

#[test]
fn cycle_errors_name_the_place() {
    let cut = |text: &str| err(cut_cycles(text.as_bytes(), "h.csv", "H"));
    let read = |text: &str| err(read_cycles(text.as_bytes(), "c.csv"));
    for (e, want) in [
        (
            cut("Time,Aggregate\n2014-10-01 06:00:00,1\n"),
            "no column \"WashingMachine\"",
        ),
        (
            cut("Time,WashingMachine\n2014-10-01 06:01:00,1\n2014-10-01 06:00:00,1\n"),
            "h.csv, line 3, column Time: time does not come after",
        ),
        (
            cut("Time,WashingMachine\n2014-10-01 06:00:00,-5\n"),
            "line 2, column WashingMachine: negative power",
        ),
        (
            read("appliance,house,start,power_w\nkettle,H,2014-10-01 06:00,1 2\n"),
            "line 2, column appliance: \"kettle\" is not washer",
        ),
        (
            read("appliance,house,start,power_w\nwasher,H,2014-10-01 06:00,1 x\n"),
            "column power_w: \"x\" is not a power",
        ),
    ] {
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn long_format_gives_one_series_per_household_in_watts_with_gaps_filled() {
    let mut text = String::from("customer_id,reading_datetime,event_key,general_supply_kwh\n");
    for c in ["A", "B"] {
        for k in 0..(3 * 48) {
            // B misses 02:00 on the second day; A reads NA once.
            if c == "B" && k == 48 + 4 {
                continue;
            }
            let v = if c == "A" && k == 10 {
                "NA".to_string()
            } else {
                format!("{:.3}", 0.1 + (k % 48) as f64 * 0.01)
            };
            text += &format!(
                "{c},{},0,{v}\n",
                format_minute(t("2013-04-01 00:00") + k * 30)
            );
        }
    }
    let homes = read_long(
        text.as_bytes(),
        "sgsc.csv",
        "customer_id",
        "reading_datetime",
        "general_supply_kwh",
        Unit::KilowattHourPerInterval,
    )
    .unwrap();
    assert_eq!(homes.len(), 2);
    assert_eq!(homes[0].name, "sgsc.csv A");
    assert_eq!(homes[1].step_min, 30);
    // 0.1 kWh in half an hour is 200 W.
    assert!((homes[0].values[0] - 200.0).abs() < 1e-3);
    // B's missing 02:00 takes the day before's 02:00.
    assert!((homes[1].values[48 + 4] - homes[1].values[4]).abs() < 1e-3);
    assert_eq!((homes[0].filled, homes[1].filled), (1, 1));
    let e = err(read_long(
        "customer_id,reading_datetime,general_supply_kwh\nA,2013-04-01 00:00:00,-0.1\n".as_bytes(),
        "sgsc.csv",
        "customer_id",
        "reading_datetime",
        "general_supply_kwh",
        Unit::KilowattHourPerInterval,
    ));
    assert!(
        e.contains("line 2, column general_supply_kwh: negative"),
        "{e}"
    );
}

#[test]
fn series_follow_their_units_and_refuse_impossible_values() {
    let pv = "timestamp,poa_irradiance_w_m2\n\
              2021-10-01T11:00:00-07:00,800\n\
              2021-10-01T11:15:00-07:00,5627\n\
              2021-10-01T11:30:00-07:00,\n\
              2021-10-01T11:45:00-07:00,-2\n";
    let s = read_series(
        pv.as_bytes(),
        "pv.csv",
        "timestamp",
        &[("poa_irradiance_w_m2", Unit::WattPerSquareMetre)],
    )
    .unwrap();
    assert_eq!(s[0].start, t("2021-10-01 11:00"), "the string's own clock");
    // The sensor error and the empty cell are gaps, filled from the nearest value (no other
    // day); the negative reading is 0.
    assert_eq!(s[0].values, vec![800.0, 800.0, 0.0, 0.0]);
    assert_eq!(s[0].filled, 2);
    let cpu = "timestamp,value\n2014-02-14 14:27:00,10\n2014-02-14 14:32:00,130\n";
    let e = err(read_series(
        cpu.as_bytes(),
        "cpu.csv",
        "timestamp",
        &[("value", Unit::Percent)],
    ));
    assert!(
        e.contains("cpu.csv, line 3, column value: CPU utilisation 130"),
        "{e}"
    );
    let uci = "timestamp,global_active_power,sub_metering_3\n\
               2007-03-04T00:00,2.5,17\n2007-03-04T00:01,inf,0\n";
    let e = err(read_series(
        uci.as_bytes(),
        "uci.csv",
        "timestamp",
        &[
            ("global_active_power", Unit::Kilowatt),
            ("sub_metering_3", Unit::WattHourPerInterval),
        ],
    ));
    assert!(
        e.contains("line 3, column global_active_power: \"inf\" is not a finite"),
        "{e}"
    );
    let one = "timestamp,value\n2014-02-14 14:27:00,10\n";
    let e = err(read_series(
        one.as_bytes(),
        "cpu.csv",
        "timestamp",
        &[("value", Unit::Percent)],
    ));
    assert!(e.contains("fewer than two distinct times"), "{e}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let e = err(DataSource::Dir("/nonexistent/data".into()).load(&[Pool::Irradiance]));
    assert!(e.starts_with("/nonexistent/data/solar_pvdaq_nrel/"), "{e}");
}

#[test]
fn the_shipped_samples_load() {
    let lib = DataSource::Samples.load(&Pool::ALL).unwrap();
    let ev = &lib.ev[0];
    assert_eq!(ev.sessions.len(), 256);
    assert_eq!(ev.chargers.len(), 26);
    assert!(
        ev.chargers
            .values()
            .all(|c| [3_680.0, 7_360.0].contains(&c.max_w))
    );
    let washers = lib
        .cycles
        .iter()
        .filter(|c| c.appliance == Appliance::Washer)
        .count();
    assert_eq!((washers, lib.cycles.len() - washers), (71, 106));
    assert!(
        lib.cycles
            .iter()
            .all(|c| (10..=240).contains(&c.power_w.len()))
    );
    // 20 SGSC households and the UCI house, four weeks each.
    assert_eq!(lib.households.len(), 21);
    for h in &lib.households {
        assert!(h.end() - h.start >= 28 * DAY - 60, "{}", h.name);
    }
    assert_eq!(
        lib.households[..20].iter().map(|h| h.filled).sum::<usize>(),
        0
    );
    // The water heater's element is about 1.1 kW.
    let peak = lib.water_heaters[0].max();
    assert!((1_000.0..1_300.0).contains(&peak), "{peak}");
    assert_eq!(lib.servers.len(), 4);
    assert!(lib.servers.iter().all(|s| s.step_min == 5));
    assert_eq!(lib.irradiance[0].step_min, 15);
    assert_eq!(lib.irradiance[0].values.len(), 42 * 96);
    assert_eq!(lib.provenance.len(), 6);
    assert!(lib.provenance.iter().all(|p| p.contains("shipped sample")));
}
