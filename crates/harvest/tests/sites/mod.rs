//! The traces the predictors are judged on, real and synthetic, shared by `tests/any_site.rs` and
//! `examples/predict_sites.rs` (which includes this file by path).
//!
//! Real: NREL PVDAQ system 15 (Golden CO, W/m², 15 min, `../shared/data`, may be absent),
//! PVDAQ system 50 (inverter AC power in W, 15 min, a clock that follows daylight saving) and
//! three TMY sites (hourly GHI), the last four shipped in `crates/harvest/data`. Synthetic, from
//! system 15: the same sun in other units, and on a clock that follows US daylight saving.

#![allow(dead_code, unreachable_pub)] // each includer uses its own part

use std::path::{Path, PathBuf};

use jiff::civil::{Date, Weekday, date};
use powerslot_harvest::predict::SlotSeries;
use powerslot_harvest::trace::{Clip, Trace, TraceOptions, read_trace};

/// The folder of the shipped traces.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// The shared PVDAQ system 15 trace in `../shared/data` beside the repository (or where
/// `POWERSLOT_DATA` points; `build/shared_data.rs` decides and sets `cfg(shared_data)`).
pub fn system15_path() -> PathBuf {
    Path::new(env!("POWERSLOT_DATA_DIR"))
        .join("solar_pvdaq_nrel/pvdaq_system15_poa_irradiance_15min.csv")
}

/// Reads a trace with the automatic clip.
pub fn read(path: &Path, value_column: &str, slot_minutes: u32) -> Trace {
    let options = TraceOptions {
        time_column: "timestamp".into(),
        value_column: value_column.into(),
        slot_minutes,
        clip: Clip::AUTO,
    };
    read_trace(path, &options).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One trace to score: a name, its unit and its grid.
pub struct Site {
    pub name: String,
    pub unit: &'static str,
    pub trace: Trace,
}

/// The shipped real traces: system 50 on 30-minute slots (the case), the TMY sites hourly.
pub fn shipped() -> Vec<Site> {
    let d = data_dir();
    vec![
        Site {
            name: "PVDAQ system 50, AC power, DST clock, 30-min slots".into(),
            unit: "W",
            trace: read(
                &d.join("pvdaq_system50_ac_power_15min.csv"),
                "ac_power_w",
                30,
            ),
        },
        Site {
            name: "TMY3 Sand Point AK, GHI, hourly".into(),
            unit: "W/m2",
            trace: read(&d.join("tmy3_sand_point_ak_ghi_hourly.csv"), "ghi_w_m2", 60),
        },
        Site {
            name: "TMY3 Greensboro NC, GHI, hourly".into(),
            unit: "W/m2",
            trace: read(&d.join("tmy3_greensboro_nc_ghi_hourly.csv"), "ghi_w_m2", 60),
        },
        Site {
            name: "TMY2 Miami FL, GHI, hourly".into(),
            unit: "W/m2",
            trace: read(&d.join("tmy2_miami_fl_ghi_hourly.csv"), "ghi_w_m2", 60),
        },
    ]
}

/// System 15 and its synthetic variants (none when the shared data is absent).
pub fn system15_variants() -> Vec<Site> {
    let path = system15_path();
    if !path.exists() {
        return Vec::new();
    }
    let t = read(&path, "poa_irradiance_w_m2", 15);
    let first = t.first_day;
    let with = |name: &str, unit, series: SlotSeries| Site {
        name: name.into(),
        unit,
        trace: Trace {
            series,
            ..t.clone()
        },
    };
    let dst = daylight_saving(&t.series, first);
    vec![
        with("PVDAQ system 15, POA irradiance", "W/m2", t.series.clone()),
        with(
            "system 15 as a 3 kWp system's power",
            "W",
            scaled(&t.series, 3.0),
        ),
        with("system 15 in kW", "kW", scaled(&t.series, 0.003)),
        with("system 15, DST clock", "W/m2", dst.clone()),
        with(
            "system 15 in W, DST clock, 30-min slots",
            "W",
            coarsen(&scaled(&dst, 3.0), 2),
        ),
    ]
}

/// Every value times `factor`: the same sun in another unit.
pub fn scaled(s: &SlotSeries, factor: f64) -> SlotSeries {
    let v = s.values().iter().map(|v| v.map(|x| x * factor)).collect();
    SlotSeries::new(s.slots_per_day(), v).unwrap()
}

/// Slots merged `by` at a time (the mean of the observed ones; a gap if none is).
pub fn coarsen(s: &SlotSeries, by: usize) -> SlotSeries {
    let v = s
        .values()
        .chunks(by)
        .map(|c| {
            let seen: Vec<f64> = c.iter().flatten().copied().collect();
            (!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64)
        })
        .collect();
    SlotSeries::new(s.slots_per_day() / by, v).unwrap()
}

/// The trace as a logger on US daylight-saving time would have recorded it: from the second
/// Sunday of March to the first Sunday of November the clock reads one hour later, so each
/// value moves one hour later on the grid (the hour at the start of the period is a gap, the
/// hour at its end is lost).
pub fn daylight_saving(s: &SlotSeries, first_day: Date) -> SlotSeries {
    let spd = s.slots_per_day();
    let hour = spd / 24;
    let x = s.values();
    let v = (0..x.len())
        .map(|i| {
            let day = first_day
                .checked_add(jiff::Span::new().days((i / spd) as i64))
                .unwrap();
            if in_dst(day) {
                i.checked_sub(hour).and_then(|j| x[j])
            } else {
                x[i]
            }
        })
        .collect();
    SlotSeries::new(spd, v).unwrap()
}

fn in_dst(day: Date) -> bool {
    let y = day.year();
    let nth_sunday = |month: i8, n: i8| {
        date(y, month, 1)
            .nth_weekday_of_month(n, Weekday::Sunday)
            .unwrap()
    };
    day >= nth_sunday(3, 2) && day < nth_sunday(11, 1)
}
