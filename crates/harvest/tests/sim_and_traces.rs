//! Simulation invariants on synthetic traces, and bad traces.

use jiff::civil::date;
use powerslot_harvest::HarvestError;
use powerslot_harvest::predict::SlotSeries;
use powerslot_harvest::sim::{GapPolicy, NodeConfig, SchedulerKind, simulate};
use powerslot_harvest::trace::{Clip, TraceOptions, read_trace_from};
use proptest::prelude::*;

/// Irradiance days: a sine from 6 h to 18 h scaled by `clouds[d]`, on 24 hourly slots.
fn days(clouds: &[f64]) -> SlotSeries {
    let mut v = Vec::new();
    for &c in clouds {
        for h in 0..24 {
            let x = if (6..18).contains(&h) {
                1000.0 * c * (std::f64::consts::PI * (h as f64 - 5.5) / 12.0).sin()
            } else {
                0.0
            };
            v.push(Some(x));
        }
    }
    SlotSeries::new(24, v).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The battery stays within [0, B_max], energy is conserved and utility is bounded.
    #[test]
    fn simulation_invariants(clouds in proptest::collection::vec(0.0f64..1.0, 3..12), dp in any::<bool>()) {
        let mut config = NodeConfig::golden_default();
        config.levels = 256;
        let kind = if dp { SchedulerKind::Dp } else { SchedulerKind::Kansal };
        let r = simulate(&days(&clouds), date(2021, 6, 1), &config, kind, 24).unwrap();
        prop_assert!(r.battery_end_of_day.iter().all(|&b| (0.0..=config.battery_max + 1e-9).contains(&b)));
        prop_assert!(r.utility_fraction >= 0.0 && r.utility_fraction <= 1.0 + 1e-9);
        // Nothing is created: what is consumed, wasted or left over came from the start or the sun.
        let end = *r.battery_end_of_day.last().unwrap();
        prop_assert!(r.consumed + r.wasted + end <= config.start + r.harvested + 1e-6);
    }
}

#[test]
fn sunny_days_beat_dark_days_and_dark_days_cause_downtime() {
    let config = NodeConfig::golden_default();
    let sunny = simulate(
        &days(&[1.0; 10]),
        date(2021, 6, 1),
        &config,
        SchedulerKind::Dp,
        24,
    )
    .unwrap();
    let dark = simulate(
        &days(&[0.0; 30]),
        date(2021, 6, 1),
        &config,
        SchedulerKind::Dp,
        24,
    )
    .unwrap();
    assert_eq!(sunny.downtime_slots, 0);
    assert!(sunny.utility_fraction > dark.utility_fraction);
    assert!(
        dark.downtime_slots > 0,
        "30 dark days must exhaust a 6.7 Wh battery at 20 mW"
    );
}

#[test]
fn gap_policy_matters() {
    let mut values: Vec<Option<f64>> = days(&[1.0; 6]).values().to_vec();
    for v in &mut values[4 * 24..5 * 24] {
        *v = None;
    }
    let series = SlotSeries::new(24, values).unwrap();
    let mut config = NodeConfig::golden_default();
    let zero = simulate(
        &series,
        date(2021, 6, 1),
        &config,
        SchedulerKind::Kansal,
        24,
    )
    .unwrap();
    config.gaps = GapPolicy::Predicted;
    let predicted = simulate(
        &series,
        date(2021, 6, 1),
        &config,
        SchedulerKind::Kansal,
        24,
    )
    .unwrap();
    assert!(predicted.harvested > zero.harvested);
}

#[test]
fn bad_parameters_are_errors() {
    let s = days(&[1.0; 2]);
    let mut c = NodeConfig::golden_default();
    assert!(matches!(
        simulate(&s, date(2021, 6, 1), &c, SchedulerKind::Dp, 7),
        Err(HarvestError::InvalidParameter { .. })
    ));
    c.start = 100.0;
    assert!(simulate(&s, date(2021, 6, 1), &c, SchedulerKind::Dp, 24).is_err());
    c = NodeConfig::golden_default();
    c.panel_efficiency = f64::NAN;
    assert!(simulate(&s, date(2021, 6, 1), &c, SchedulerKind::Dp, 24).is_err());
}

#[test]
fn bad_traces_are_errors_or_gaps() {
    let opts = TraceOptions {
        time_column: "time".into(),
        value_column: "ghi".into(),
        slot_minutes: 60,
        clip: Clip::None,
    };
    // NaN and empty cells are gaps; negatives become 0.
    let csv = "time,ghi\n2021-06-01T10:00:00,NaN\n2021-06-01T11:00:00,\n2021-06-01T12:00:00,-3\n";
    let t = read_trace_from(csv.as_bytes(), "t.csv", &opts).unwrap();
    assert_eq!(t.summary.missing, 2);
    assert_eq!(t.series.values()[12], Some(0.0));
    // Text where a number belongs names the line and the column.
    let err = read_trace_from(
        "time,ghi\n2021-06-01T10:00:00,sunny\n".as_bytes(),
        "t.csv",
        &opts,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv, line 2, column ghi: \"sunny\" is not a number"
    );
    // A missing column lists the ones there are.
    let err = read_trace_from("when,ghi\n".as_bytes(), "t.csv", &opts).unwrap_err();
    assert!(
        err.to_string().contains("the columns are: when, ghi"),
        "{err}"
    );
}
