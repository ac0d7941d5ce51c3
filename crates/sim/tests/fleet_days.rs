//! Runs longer than a day: the coordinator keeps serving after the first day's forecast
//! windows end. Each base load asks for its load one window at a time. Before, the
//! simulator asked for no second window, so every house's standing reservation came back
//! at its rating and from the second noon on nothing more was granted; and a telemetry
//! forecast that reached past a window booked the next window's load twice.

use powerslot_sim::fleet::engine::{Mechanism, RunConfig, run};
use powerslot_sim::fleet::model::SimKind;
use powerslot_sim::fleet::population::{BuildOptions, ScenarioKind, build};
use powerslot_sim::fleet::traces::DataSource;

#[test]
fn the_second_day_is_served_like_the_first() {
    let opts = BuildOptions {
        devices: 80,
        days: 2,
        ..BuildOptions::default()
    };
    let fleet = build(ScenarioKind::Neighbourhood, &DataSource::Samples, &opts).unwrap();
    let day = fleet.slots as usize / 2;
    let r = run(
        &fleet,
        Mechanism::Powerslot,
        &RunConfig::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.budget_violations, 0);
    // What controllable loads were credited on each day, kWh.
    let slot_h = fleet.slot_ms as f64 / 3.6e6;
    let served = |range: std::ops::Range<usize>| -> f64 {
        fleet
            .devices
            .iter()
            .zip(&r.credited_mw)
            .filter(|(d, _)| !matches!(d.kind, SimKind::Base { .. }))
            .map(|(_, c)| c[range.clone()].iter().sum::<f64>() * slot_h / 1e6)
            .sum()
    };
    let (first, second) = (served(0..day), served(day..2 * day));
    eprintln!("served: first day {first:.1} kWh, second {second:.1} kWh");
    assert!(second > 0.3 * first, "first {first:.1}, second {second:.1}");
    // The households' reservation follows their forecasts on both days: at most the
    // inverter's rating, never the sum of their ratings.
    let root = fleet.circuits[0].rating_mw;
    let worst = r.reserved_mw[0].iter().skip(4).copied().max().unwrap();
    assert!(
        worst <= root,
        "{worst} mW reserved against the site's {root}"
    );
}
