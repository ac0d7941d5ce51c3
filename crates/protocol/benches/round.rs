//! Coordinator time per negotiation round: one batch of requests placed by the ε-auction
//! and the repair, on a site of 100,000 registered devices (site → 100 feeders → 10,000
//! houses, 15-minute slots, a day of horizon), with half the day's capacity already booked.
//!
//! `cargo bench -p powerslot-protocol --bench round`

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use powerslot_protocol::coordinator::{CoordInput, Coordinator, CoordinatorConfig, DeviceRecord};
use powerslot_protocol::msg::{Body, Envelope, TimeslotRequest};
use powerslot_protocol::output::Output;
use powerslot_protocol::{
    CircuitSpec, CircuitTree, Demand, DeviceId, Instant, PowerValue, Priority, SlotClock,
};

const DEVICES: usize = 100_000;
const HOUSES: usize = 10_000;
const FEEDERS: usize = 100;
const SLOT_MS: u64 = 900_000;

fn site() -> (CircuitTree, Vec<DeviceRecord>) {
    let mut specs = vec![CircuitSpec {
        name: "site".into(),
        parent: None,
        rating_mw: 20_000_000_000, // 20 MW
    }];
    for f in 0..FEEDERS {
        specs.push(CircuitSpec {
            name: format!("feeder-{f}"),
            parent: Some("site".into()),
            rating_mw: 250_000_000,
        });
    }
    for h in 0..HOUSES {
        specs.push(CircuitSpec {
            name: format!("house-{h}"),
            parent: Some(format!("feeder-{}", h % FEEDERS)),
            rating_mw: 14_000_000,
        });
    }
    let tree = CircuitTree::new(specs).unwrap();
    let devices = (0..DEVICES)
        .map(|i| DeviceRecord {
            id: DeviceId::new(format!("d{i}")).unwrap(),
            circuit: tree.index_of(&format!("house-{}", i % HOUSES)).unwrap(),
            max_priority: Priority::High,
            port: (i % 64) as u32,
            standing_mw: 0,
        })
        .collect();
    (tree, devices)
}

fn drain(c: &mut Coordinator, now: Instant) -> usize {
    let mut n = 0;
    loop {
        match c.poll_output() {
            Output::Timeout(_) => return n,
            Output::Store { seq, .. } => {
                c.handle(now, CoordInput::StoreDone(seq)).unwrap();
            }
            _ => n += 1,
        }
    }
}

fn request(i: usize, seq: u64, slot: u32) -> CoordInput {
    let kw = 1 + (i % 3) as i64;
    let len = 2 + (i % 6);
    CoordInput::Message(Envelope::new(
        DeviceId::new(format!("d{i}")).unwrap(),
        seq,
        Body::TimeslotRequest(TimeslotRequest {
            request: seq,
            priority: if i.is_multiple_of(10) {
                Priority::High
            } else {
                Priority::Normal
            },
            earliest_start: slot,
            deadline: slot + len as u32 + 8 + (i % 24) as u32,
            demand: Demand::PowerProfile {
                profile: vec![
                    PowerValue {
                        p50_mw: kw * 800_000,
                        p90_mw: kw * 1_000_000
                    };
                    len
                ],
                interruptible: false,
                min_on_slots: 0,
                min_off_slots: 0,
            },
            bid_per_mille: 1000,
        }),
    ))
}

/// A coordinator with the day half booked and `batch` requests waiting for their round.
fn prepared(batch: usize) -> Coordinator {
    let (tree, devices) = site();
    let clock = SlotClock::new(Instant(0), SLOT_MS);
    let mut c = Coordinator::new(
        CoordinatorConfig::new(tree, clock, devices),
        Instant(0),
        None,
    )
    .unwrap();
    drain(&mut c, Instant(0));
    // Earlier rounds: 30,000 jobs spread over the day.
    let mut t = 1;
    for i in 0..30_000 {
        c.handle(Instant(t), request(i, 1, ((i * 7) % 80) as u32))
            .unwrap();
        if i % 2_000 == 1_999 {
            t += 1_000;
            c.handle_timeout(Instant(t));
            drain(&mut c, Instant(t));
        }
    }
    t += 1_000;
    c.handle_timeout(Instant(t));
    drain(&mut c, Instant(t));
    // This round's requests.
    for i in 0..batch {
        c.handle(
            Instant(t + 1),
            request(30_000 + i, 2, ((i * 3) % 60) as u32),
        )
        .unwrap();
    }
    drain(&mut c, Instant(t + 1));
    c
}

fn bench(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("coordinator_round_100k_devices");
    g.sample_size(10);
    for batch in [1_000usize, 5_000] {
        g.bench_function(format!("{batch}_requests"), |b| {
            b.iter_batched(
                || prepared(batch),
                |mut c| {
                    // The batch window has passed: the round runs now.
                    let now = Instant(200_000);
                    c.handle_timeout(now);
                    drain(&mut c, now)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
