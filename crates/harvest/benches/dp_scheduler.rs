//! Criterion benchmarks of the DP task scheduler: 96 slots × 1,024 levels × 4 tasks, as the issue
//! asks, plus Kansal's planner on the same day for scale.

use criterion::{Criterion, criterion_group, criterion_main};
use powerslot_harvest::{
    Battery, DpScheduler, DutyCycleModel, GainRounding, KansalPlanner, TaskScheduler,
};
use std::hint::black_box;

/// A clear summer day on 96 fifteen-minute slots, energy in Wh for a 0.01 m², 15 % panel.
fn day() -> Vec<f64> {
    (0..96)
        .map(|s| {
            let h = s as f64 / 4.0;
            let irr = if (6.0..18.0).contains(&h) {
                1000.0 * (std::f64::consts::PI * (h - 6.0) / 12.0).sin()
            } else {
                0.0
            };
            irr * 0.01 * 0.15 * 0.25
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let battery = Battery::new(1.0, 10.0, 0.9, 0.0).unwrap();
    let load = DutyCycleModel::new(0.1, 1.0, 1.0, 10.0, 0.02, 0.2).unwrap();
    let tasks = load.tasks(4, 0.25).unwrap();
    let production = day();
    let mut dp = TaskScheduler::new(battery, 1024, tasks, GainRounding::Conservative).unwrap();
    eprintln!(
        "table bytes for 96 x 1024: {} (size_of DpScheduler = {}, TaskScheduler = {})",
        DpScheduler::table_bytes(96, 1024),
        std::mem::size_of::<DpScheduler>(),
        std::mem::size_of::<TaskScheduler>()
    );
    c.bench_function("dp 96 slots x 1024 levels x 4 tasks", |b| {
        b.iter(|| dp.plan(black_box(&production), 5.0, 5.0).unwrap())
    });
    let kansal = KansalPlanner {
        model: load,
        battery,
        slot_length: 0.25,
        levels: None,
    };
    c.bench_function("kansal 96 slots", |b| {
        b.iter(|| kansal.plan(black_box(&production), 5.0, 5.0).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
