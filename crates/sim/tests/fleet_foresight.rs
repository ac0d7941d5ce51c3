//! The foresight diagnostic (`powerslot simulate --foresight`): told the future, the
//! coordinator books the households' real load, not a forecast of it, and still keeps
//! every grant inside the budget.

use powerslot_sim::fleet::engine::{Foresight, Mechanism, RunConfig, run};
use powerslot_sim::fleet::model::SimKind;
use powerslot_sim::fleet::population::{BuildOptions, ScenarioKind, build};
use powerslot_sim::fleet::traces::DataSource;

#[test]
fn told_the_future_the_coordinator_books_the_households_real_load() {
    let opts = BuildOptions {
        devices: 80,
        days: 1,
        ..BuildOptions::default()
    };
    let fleet = build(ScenarioKind::Neighbourhood, &DataSource::Samples, &opts).unwrap();
    let slots = fleet.slots as usize;
    // The households' real load at the site, per slot.
    let mut real = vec![0i64; slots];
    for d in &fleet.devices {
        if let SimKind::Base { actual_mw, .. } = &d.kind {
            for (r, &p) in real.iter_mut().zip(actual_mw) {
                *r += p;
            }
        }
    }
    // Mean distance between what the site reserved for them and what they drew, kW, from
    // the third slot (the first two hold the run's start-up reservation).
    let miss = |foresight| {
        let cfg = RunConfig {
            foresight,
            ..RunConfig::default()
        };
        let r = run(&fleet, Mechanism::Powerslot, &cfg, &mut |_| {}).unwrap();
        assert_eq!(r.budget_violations, 0, "{foresight:?}");
        let d: Vec<f64> = (2..slots)
            .map(|s| (r.reserved_mw[0][s] - real[s]).abs() as f64 / 1e6)
            .collect();
        d.iter().sum::<f64>() / d.len() as f64
    };
    let (blind, told) = (miss(Foresight::None), miss(Foresight::Forecasts));
    eprintln!("reservation off the real load: {blind:.2} kW forecast, {told:.2} kW told");
    assert!(
        told < 0.5 * blind,
        "forecast {blind:.2} kW, told {told:.2} kW"
    );
}
