//! Property tests of the pieces every machine stands on: decoding never panics on arbitrary
//! bytes, encodings round-trip, the allocation engine never overbooks a circuit and keeps
//! every placement inside its window, and higher classes are placed before lower ones.

use powerslot_protocol::auction::{AuctionConfig, Candidate, Outcome, Shape, allocate};
use powerslot_protocol::codec::{self, Encoding};
use powerslot_protocol::msg::{Body, Envelope, Heartbeat, Telemetry, TimeslotRequest};
use powerslot_protocol::{
    CapacityBook, CircuitSpec, CircuitTree, Demand, DeviceId, PowerValue, Priority,
};
use proptest::prelude::*;

fn tree(ratings: &[i64]) -> CircuitTree {
    let mut specs = vec![CircuitSpec {
        name: "site".into(),
        parent: None,
        rating_mw: ratings[0],
    }];
    for (i, &r) in ratings[1..].iter().enumerate() {
        specs.push(CircuitSpec {
            name: format!("c{i}"),
            parent: Some(if i % 3 == 2 {
                "c0".into()
            } else {
                "site".into()
            }),
            rating_mw: r,
        });
    }
    CircuitTree::new(specs).unwrap()
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::Low),
        Just(Priority::Normal),
        Just(Priority::High),
        Just(Priority::Critical)
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        prop::collection::vec(0i64..4_000, 1..6).prop_map(Shape::Fixed),
        (500i64..20_000, 100i64..1_000, 1_000i64..5_000).prop_map(|(e, lo, hi)| Shape::Energy {
            energy_mwh: e,
            min_mw: lo,
            max_mw: hi,
        }),
        (0i64..1_000, 1_000i64..3_000).prop_map(|(lo, hi)| Shape::Envelope {
            min_mw: lo,
            max_mw: hi
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2_000)) {
        let _ = codec::decode(&bytes, Encoding::Json);
        let _ = codec::decode(&bytes, Encoding::Binary);
        let _ = codec::open(&bytes, &DeviceId::new("node-7").unwrap(), Some(&[1u8; 32]));
    }

    #[test]
    fn envelopes_round_trip_in_both_encodings(
        seq in 0..=powerslot_protocol::limits::MAX_SEQUENCE,
        p50 in 0i64..1_000_000_000,
        extra in 0i64..1_000_000,
        len in 1usize..50,
        earliest in 0u32..1_000,
        window in 50u32..200,
        prio in priority(),
        measured in 0i64..1_000_000_000_000,
    ) {
        let id = DeviceId::new("node-7").unwrap();
        let bodies = vec![
            Body::TimeslotRequest(TimeslotRequest {
                request: seq,
                priority: prio,
                earliest_start: earliest,
                deadline: earliest + window,
                demand: Demand::PowerProfile {
                    profile: vec![PowerValue { p50_mw: p50, p90_mw: p50 + extra }; len],
                    interruptible: true,
                    min_on_slots: 1,
                    min_off_slots: 0,
                },
                bid_per_mille: 1000,
            }),
            Body::Telemetry(Telemetry { slot: earliest, measured_mw: measured, forecast: vec![], holding: vec![(seq, 3)] }),
            Body::Heartbeat(Heartbeat { holding: vec![(seq, 1)], want: None }),
        ];
        for body in bodies {
            let env = Envelope::new(id.clone(), seq, body);
            for enc in [Encoding::Json, Encoding::Binary] {
                let key = [9u8; 32];
                let frame = codec::seal(&env, enc, &key).unwrap();
                prop_assert_eq!(codec::open(&frame, &id, Some(&key)).unwrap(), env.clone());
            }
        }
    }

    #[test]
    fn the_engine_never_overbooks_and_respects_windows_and_classes(
        ratings in prop::collection::vec(1_000i64..20_000, 2..7),
        preload in prop::collection::vec((0usize..6, 0u32..24, 0i64..5_000), 0..20),
        cands in prop::collection::vec((priority(), shape(), 0usize..6, 0u32..20, 1u32..24, 0u64..100), 1..30),
    ) {
        let t = tree(&ratings);
        let n = t.len();
        let mut book = CapacityBook::new(&t, 0, 24);
        for (c, s, p) in preload {
            let c = (c % n) as u32;
            if book.check(t.path(c), s, &[p]).is_ok() {
                book.add(t.path(c), s, &[p]);
            }
        }
        let cands: Vec<Candidate> = cands
            .into_iter()
            .map(|(priority, shape, c, earliest, window, tb)| {
                let len = match &shape {
                    Shape::Fixed(p) => p.len() as u32,
                    _ => 1,
                };
                Candidate {
                    priority,
                    bid_per_mille: 1000,
                    tiebreak: tb,
                    circuit: (c % n) as u32,
                    earliest,
                    deadline: earliest + len + window,
                    shape,
                }
            })
            .collect();
        let r = allocate(&t, &mut book, 0, &cands, &AuctionConfig::new(900_000));
        prop_assert!(book.overbooked().is_empty(), "{:?}", book.overbooked());
        for (c, o) in cands.iter().zip(&r.outcomes) {
            if let Outcome::Placed(p) = o {
                prop_assert!(p.start >= c.earliest);
                prop_assert!(p.end() <= c.deadline.min(book.end()));
                if let Shape::Envelope { min_mw, max_mw } = c.shape {
                    prop_assert!(p.powers.iter().all(|&x| x >= min_mw && x <= max_mw));
                }
            }
        }
        prop_assert!(r.rounds.iter().all(|&k| (1..=20).contains(&k)));
    }
}
