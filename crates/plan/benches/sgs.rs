//! Throughput of the schedule generation schemes on a j120 instance (120 jobs,
//! 4 resources): schedules per second on one core.
//!
//! `serial_fbi` is one forward serial pass on a random activity list plus double
//! justification (a right and a left pass): three schedules per iteration, the
//! unit of the GA and of Kolisch & Hartmann's tables. `parallel_random` is one
//! time-stepped parallel pass with uniform random choices.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use powerslot_core::read_instance;
use powerslot_plan::Problem;
use powerslot_plan::parallel::ParallelSgs;
use powerslot_plan::serial::{SerialSgs, list_by_key};

/// From the benchmark data sets beside the repository (see the README, "Data").
const J120: &str = concat!(env!("POWERSLOT_DATA_DIR"), "/psplib/j120/j1201_1.sm");

/// A small xorshift generator, so the benchmark measures the SGS, not the RNG.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn sgs(c: &mut Criterion) {
    let inst = read_instance(std::path::Path::new(J120)).unwrap_or_else(|e| {
        panic!("{e}\nthis benchmark needs ../shared/data (see the README, \"Data\")")
    });
    let p = Problem::new(&inst);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);

    let mut group = c.benchmark_group("j120");
    group.throughput(Throughput::Elements(3));
    let mut serial = SerialSgs::new(&p);
    let mut key = vec![0u64; p.n];
    group.bench_function("serial_fbi", |b| {
        b.iter(|| {
            key.iter_mut().for_each(|k| *k = rng.next());
            let list = list_by_key(&p, &key);
            let m = serial.forward(&p, &list);
            black_box(m.min(serial.double_justify(&p)))
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("serial_forward", |b| {
        b.iter(|| {
            key.iter_mut().for_each(|k| *k = rng.next());
            let list = list_by_key(&p, &key);
            black_box(serial.forward(&p, &list))
        })
    });
    let mut parallel = ParallelSgs::new(&p);
    group.bench_function("parallel_random", |b| {
        b.iter(|| black_box(parallel.run(&p, |_, e| (rng.next() % e.len() as u64) as usize)))
    });
    group.finish();
}

criterion_group!(benches, sgs);
criterion_main!(benches);
