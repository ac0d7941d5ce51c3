//! Unit tests of the coordinator, driven by hand: one input, drain, look at what came out.

use super::*;
use crate::device::PowerValue;
use crate::msg::Heartbeat;

const SLOT_MS: u64 = 60_000;
/// `CoordinatorConfig::retry_ms` by default: a tenth of a slot.
const RETRY_MS: u64 = SLOT_MS / 10;

fn id(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn coordinator(rating_mw: i64, devices: &[(&str, Priority, u32)]) -> Coordinator {
    let tree = CircuitTree::single("site", rating_mw).unwrap();
    let devs = devices
        .iter()
        .map(|&(name, p, port)| DeviceRecord {
            id: id(name),
            circuit: 0,
            max_priority: p,
            port,
            standing_mw: 0,
        })
        .collect();
    let cfg = CoordinatorConfig::new(tree, SlotClock::new(Instant(0), SLOT_MS), devs);
    Coordinator::new(cfg, Instant(0), None).unwrap()
}

/// Everything up to the timeout; stores are acknowledged at once when `ack` is set.
fn drain(c: &mut Coordinator, now: Instant, ack: bool) -> Vec<Output> {
    let mut all = Vec::new();
    loop {
        let o = c.poll_output();
        if let Output::Timeout(_) = o {
            break;
        }
        if let (true, Output::Store { seq, .. }) = (ack, &o) {
            let seq = *seq;
            all.push(o);
            c.handle(now, CoordInput::StoreDone(seq)).unwrap();
            continue;
        }
        all.push(o);
    }
    all
}

fn request(
    dev: &str,
    seq: u64,
    p: Priority,
    kw: i64,
    slots: usize,
    earliest: Slot,
    deadline: Slot,
) -> CoordInput {
    CoordInput::Message(Envelope::new(
        id(dev),
        seq,
        Body::TimeslotRequest(TimeslotRequest {
            request: seq,
            priority: p,
            earliest_start: earliest,
            deadline,
            demand: Demand::PowerProfile {
                profile: vec![PowerValue::exact(kw * 1_000_000); slots],
                interruptible: false,
                min_on_slots: 0,
                min_off_slots: 0,
            },
            bid_per_mille: 1000,
        }),
    ))
}

/// `dev` releases `request` from `from_slot` on, in its message number `seq`.
fn release(dev: &str, seq: u64, request: RequestId, from_slot: Slot) -> CoordInput {
    CoordInput::Message(Envelope::new(
        id(dev),
        seq,
        Body::Release(Release { request, from_slot }),
    ))
}

/// Whether `outs` sends an award to `dev`.
fn awarded(outs: &[Output], dev: &str) -> bool {
    sent(outs)
        .iter()
        .any(|(to, b)| to.as_str() == dev && matches!(b, Body::Award(_)))
}

fn sent(outs: &[Output]) -> Vec<(DeviceId, Body)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } => Some((to.clone(), msg.body.clone())),
            _ => None,
        })
        .collect()
}

/// Runs the batch that a request scheduled (the batch window is 200 ms).
fn after_batch(c: &mut Coordinator, ack: bool) -> Vec<Output> {
    c.handle_timeout(Instant(300));
    drain(c, Instant(300), ack)
}

#[test]
fn awards_are_announced_only_once_stored() {
    let mut c = coordinator(10_000_000, &[("washer", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("washer", 1, Priority::Normal, 2, 3, 0, 10),
    )
    .unwrap();
    let outs = after_batch(&mut c, false);
    let stores: Vec<u64> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Store {
                seq,
                record: Record::Award(_),
            } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(stores.len(), 1);
    assert!(
        sent(&outs).is_empty(),
        "nothing is sent before the store is durable"
    );
    c.handle(Instant(300), CoordInput::StoreDone(stores[0]))
        .unwrap();
    let outs = drain(&mut c, Instant(300), true);
    let msgs = sent(&outs);
    assert_eq!(msgs.len(), 1);
    match &msgs[0].1 {
        Body::Award(a) => {
            assert_eq!(a.grant.power_mw, vec![2_000_000; 3]);
            assert_eq!(a.grant.start, 0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retransmitted_requests_get_the_same_award_and_book_once() {
    let mut c = coordinator(10_000_000, &[("washer", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("washer", 1, Priority::Normal, 2, 3, 0, 10),
    )
    .unwrap();
    after_batch(&mut c, true);
    assert_eq!(c.book().committed(0, 1), 2_000_000);
    // The same request again (a new sequence number, the same request id).
    let mut again = request("washer", 2, Priority::Normal, 2, 3, 0, 10);
    if let CoordInput::Message(env) = &mut again
        && let Body::TimeslotRequest(r) = &mut env.body
    {
        r.request = 1;
    }
    c.handle(Instant(400), again).unwrap();
    let outs = drain(&mut c, Instant(400), true);
    assert!(matches!(sent(&outs)[0].1, Body::Award(_)));
    assert_eq!(c.book().committed(0, 1), 2_000_000);
    assert_eq!(c.stats().awards, 1);
}

#[test]
fn replays_spoofed_directions_and_unknown_devices_are_refused() {
    let mut c = coordinator(10_000_000, &[("washer", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("washer", 5, Priority::Normal, 2, 3, 0, 10),
    )
    .unwrap();
    assert!(matches!(
        c.handle(
            Instant(20),
            request("washer", 5, Priority::Normal, 2, 3, 0, 10)
        ),
        Err(ProtocolError::Replay { seq: 5, .. })
    ));
    assert!(matches!(
        c.handle(
            Instant(20),
            request("stranger", 1, Priority::Normal, 2, 3, 0, 10)
        ),
        Err(ProtocolError::UnknownDevice(_))
    ));
    let forged = CoordInput::Message(Envelope::new(
        id("washer"),
        9,
        Body::Lease(crate::msg::Lease::default()),
    ));
    assert!(matches!(
        c.handle(Instant(20), forged),
        Err(ProtocolError::WrongDirection { .. })
    ));
    assert_eq!(c.stats().security_rejects, 3);
}

#[test]
fn a_class_above_the_registration_is_refused() {
    let mut c = coordinator(10_000_000, &[("washer", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("washer", 1, Priority::Critical, 2, 3, 0, 10),
    )
    .unwrap();
    let outs = drain(&mut c, Instant(10), true);
    assert!(matches!(
        &sent(&outs)[0].1,
        Body::Reject(Reject {
            reason: RejectReason::PriorityNotAllowed {
                allowed: Priority::Normal
            },
            ..
        })
    ));
}

#[test]
fn refusals_name_the_binding_circuit_and_offer_a_later_start() {
    let mut c = coordinator(
        5_000_000,
        &[("a", Priority::Normal, 1), ("b", Priority::Normal, 2)],
    );
    drain(&mut c, Instant(0), true);
    c.handle(Instant(10), request("a", 1, Priority::Normal, 4, 5, 0, 5))
        .unwrap();
    after_batch(&mut c, true);
    c.handle(Instant(400), request("b", 1, Priority::Normal, 3, 2, 0, 4))
        .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    let msgs = sent(&outs);
    match &msgs[0].1 {
        Body::Reject(Reject {
            reason:
                RejectReason::Full {
                    circuit,
                    from_slot,
                    to_slot,
                    capacity_mw,
                    committed_mw,
                    ..
                },
            best_offer: Some(offer),
            waiting: true,
            ..
        }) => {
            assert_eq!(circuit, "site");
            assert_eq!((*from_slot, *to_slot), (0, 5));
            assert_eq!((*capacity_mw, *committed_mw), (5_000_000, 4_000_000));
            assert_eq!(offer.start, 5);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_elastic_load_placed_by_preemption_gets_what_it_asks_not_its_minimum() {
    // 10 kW, all booked by a low interruptible job (a car) for slots 0..8. A high heater
    // asking 1–6 kW for slots 2..3 fits nowhere: it takes from the car past its lease, and
    // all it asks for, not only the 1 kW that would let it run.
    let mut c = coordinator(
        10_000_000,
        &[("car", Priority::Low, 2), ("heater", Priority::High, 1)],
    );
    drain(&mut c, Instant(0), true);
    let car = TimeslotRequest {
        request: 1,
        priority: Priority::Low,
        earliest_start: 0,
        deadline: 8,
        demand: Demand::PowerProfile {
            profile: vec![PowerValue::exact(10_000_000); 8],
            interruptible: true,
            min_on_slots: 0,
            min_off_slots: 0,
        },
        bid_per_mille: 1000,
    };
    c.handle(
        Instant(10),
        CoordInput::Message(Envelope::new(id("car"), 1, Body::TimeslotRequest(car))),
    )
    .unwrap();
    after_batch(&mut c, true);
    assert_eq!(c.book().committed(0, 2), 10_000_000);
    c.handle(
        Instant(400),
        envelope("heater", 1, Priority::High, 1, 6, 2, 3),
    )
    .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    let award = sent(&outs)
        .into_iter()
        .find_map(|(to, b)| match b {
            Body::Award(a) if to.as_str() == "heater" => Some(a.grant),
            _ => None,
        })
        .expect("the heater is placed");
    assert_eq!(award.at(2), 6_000_000);
    assert_eq!(c.book().committed(0, 2), 10_000_000);
}

#[test]
fn a_higher_class_takes_capacity_from_a_lower_elastic_load_after_its_lease() {
    let mut c = coordinator(
        5_000_000,
        &[("heat", Priority::Low, 2), ("medic", Priority::Critical, 1)],
    );
    drain(&mut c, Instant(0), true);
    let env = envelope("heat", 1, Priority::Low, 1, 5, 0, 4);
    c.handle(Instant(10), env).unwrap();
    after_batch(&mut c, true);
    assert_eq!(c.book().committed(0, 3), 5_000_000);
    // A critical 4 kW job for slots 2..4: the heater's lease runs to slot 2.
    c.handle(
        Instant(400),
        request("medic", 1, Priority::Critical, 4, 2, 2, 4),
    )
    .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    let msgs = sent(&outs);
    assert!(
        msgs.iter()
            .any(|(to, b)| to.as_str() == "medic" && matches!(b, Body::Award(_)))
    );
    assert!(
        msgs.iter()
            .any(|(to, b)| to.as_str() == "heat" && matches!(b, Body::Instruction(_)))
    );
    assert_eq!(c.stats().preemptions, 1);
    for s in 0..4 {
        assert!(c.book().committed(0, s) <= 5_000_000, "slot {s}");
    }
}

#[test]
fn an_elastic_load_is_not_held_at_its_share_while_a_lower_class_has_booked_past_its_lease() {
    let mut c = coordinator(
        5_000_000,
        &[("ev", Priority::Normal, 1), ("heat", Priority::High, 2)],
    );
    drain(&mut c, Instant(0), true);
    // The car books 3.6 kW for slots 0..8 (its lease runs to slot 2).
    let ev = charger("ev", Priority::Normal, 1_000_000, 3_600_000, 8, 8);
    c.handle(Instant(10), ev).unwrap();
    after_batch(&mut c, true);
    assert_eq!(c.book().committed(0, 5), 3_600_000);
    // A high-class heater (1–3 kW) from slot 4: the free 1.4 kW alone would hold it there.
    let heat = envelope("heat", 1, Priority::High, 1, 3, 4, 6);
    c.handle(Instant(400), heat).unwrap();
    c.handle_timeout(Instant(700));
    let msgs = sent(&drain(&mut c, Instant(700), true));
    let grant = msgs
        .iter()
        .find_map(|(to, b)| match b {
            Body::Award(a) if to.as_str() == "heat" => Some(a.grant.clone()),
            _ => None,
        })
        .expect("the heater is awarded");
    assert!(grant.power_mw.iter().all(|&p| p == 3_000_000), "{grant:?}");
    assert!(
        msgs.iter()
            .any(|(to, b)| to.as_str() == "ev" && matches!(b, Body::Instruction(_)))
    );
    for s in 0..8 {
        assert!(c.book().committed(0, s) <= 5_000_000, "slot {s}");
    }
}

#[test]
fn a_silent_device_loses_its_grant_after_its_lease() {
    let mut c = coordinator(10_000_000, &[("ev", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("ev", 1, Priority::Normal, 7, 10, 0, 20),
    )
    .unwrap();
    after_batch(&mut c, true);
    assert_eq!(c.book().committed(0, 5), 7_000_000);
    // No heartbeat: at slot 2 the lease (two slots) has run out.
    c.handle_timeout(Instant(2 * SLOT_MS + 1));
    let outs = drain(&mut c, Instant(2 * SLOT_MS + 1), true);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::Ended {
            reason: EndReason::LeaseLapsed,
            ..
        })
    )));
    assert_eq!(c.book().committed(0, 5), 0);
}

#[test]
fn heartbeats_renew_the_current_version_only() {
    let mut c = coordinator(10_000_000, &[("ev", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("ev", 1, Priority::Normal, 7, 10, 0, 20),
    )
    .unwrap();
    after_batch(&mut c, true);
    let hb = |seq, version| {
        CoordInput::Message(Envelope::new(
            id("ev"),
            seq,
            Body::Heartbeat(Heartbeat {
                holding: vec![(1, version)],
                want: None,
            }),
        ))
    };
    c.handle(Instant(SLOT_MS + 10), hb(2, 1)).unwrap();
    let outs = drain(&mut c, Instant(SLOT_MS + 10), true);
    assert!(matches!(&sent(&outs)[0].1, Body::Lease(l) if l.valid_until == 3));
    // An older version (the device missed a change): no renewal, the grant is resent.
    c.handle(Instant(SLOT_MS + 20), hb(3, 0)).unwrap();
    let outs = drain(&mut c, Instant(SLOT_MS + 20), true);
    assert!(matches!(&sent(&outs)[0].1, Body::Award(_)));
}

#[test]
fn a_restarted_coordinator_keeps_its_grants_and_grants_nothing_twice() {
    let mut c = coordinator(
        10_000_000,
        &[("ev", Priority::Normal, 1), ("dw", Priority::Normal, 2)],
    );
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("ev", 1, Priority::Normal, 7, 10, 0, 10),
    )
    .unwrap();
    after_batch(&mut c, true);
    let snapshot = Snapshot {
        epoch: 1,
        awards: c.awards(),
        ..Snapshot::default()
    };
    let tree = CircuitTree::single("site", 10_000_000).unwrap();
    let devs = c.devices().cloned().collect();
    let cfg = CoordinatorConfig::new(tree, SlotClock::new(Instant(0), SLOT_MS), devs);
    let mut c2 = Coordinator::new(cfg, Instant(500), Some(snapshot)).unwrap();
    drain(&mut c2, Instant(500), true);
    assert_eq!(c2.book().committed(0, 3), 7_000_000);
    // The same request replayed after the restart: answered, not booked again.
    c2.handle(
        Instant(600),
        request("ev", 2, Priority::Normal, 7, 10, 0, 10),
    )
    .unwrap_or_default();
    // A new request that does not fit beside the restored grant waits.
    c2.handle(Instant(600), request("dw", 1, Priority::Normal, 5, 2, 0, 2))
        .unwrap();
    c2.handle_timeout(Instant(900));
    let outs = drain(&mut c2, Instant(900), true);
    assert!(
        sent(&outs)
            .iter()
            .any(|(to, b)| to.as_str() == "dw" && matches!(b, Body::Reject(_)))
    );
    for s in 0..10 {
        assert!(c2.book().committed(0, s) <= 10_000_000);
    }
}

#[test]
fn a_restarted_coordinator_keeps_waiting_requests_and_refuses_old_sequence_numbers() {
    let mut c = coordinator(
        10_000_000,
        &[("ev", Priority::Normal, 1), ("dw", Priority::Normal, 2)],
    );
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("ev", 1, Priority::Normal, 7, 12, 0, 12),
    )
    .unwrap();
    c.handle(Instant(10), request("dw", 5, Priority::Normal, 5, 2, 0, 12))
        .unwrap();
    after_batch(&mut c, true);
    let waiting = c.waiting();
    assert_eq!(
        waiting.len(),
        1,
        "the dishwasher does not fit beside the EV"
    );
    let dw_request = match &request("dw", 5, Priority::Normal, 5, 2, 0, 12) {
        CoordInput::Message(Envelope {
            body: Body::TimeslotRequest(r),
            ..
        }) => r.clone(),
        _ => unreachable!(),
    };
    let snapshot = Snapshot {
        epoch: 1,
        awards: c.awards(),
        waiting: vec![(id("dw"), dw_request)],
        last_seq: vec![(id("ev"), 1), (id("dw"), 9)],
    };
    let tree = CircuitTree::single("site", 10_000_000).unwrap();
    let devs = c.devices().cloned().collect();
    let cfg = CoordinatorConfig::new(tree, SlotClock::new(Instant(0), SLOT_MS), devs);
    let mut c2 = Coordinator::new(cfg, Instant(500), Some(snapshot)).unwrap();
    drain(&mut c2, Instant(500), true);
    // The waiting request is negotiated again and, once the EV's grant ends, placed.
    assert_eq!(c2.waiting().len(), 1);
    // Sequence numbers up to the last one accepted before the restart are replays.
    let hb = |seq| {
        CoordInput::Message(Envelope::new(
            id("dw"),
            seq,
            Body::Heartbeat(Heartbeat {
                holding: vec![],
                want: None,
            }),
        ))
    };
    assert!(matches!(
        c2.handle(Instant(600), hb(8)),
        Err(ProtocolError::Replay { .. })
    ));
    c2.handle(Instant(600), hb(10)).unwrap();
    c2.handle_timeout(Instant(10 * SLOT_MS + 1));
    let outs = drain(&mut c2, Instant(10 * SLOT_MS + 1), true);
    assert!(
        sent(&outs)
            .iter()
            .any(|(to, b)| to.as_str() == "dw" && matches!(b, Body::Award(_))),
        "the restored request is granted when capacity frees up"
    );
}

#[test]
fn restored_grants_get_a_lease_to_be_renewed_after_a_long_outage() {
    let mut c = coordinator(10_000_000, &[("ev", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        request("ev", 1, Priority::Normal, 7, 10, 0, 10),
    )
    .unwrap();
    after_batch(&mut c, true);
    let awards = c.awards();
    assert_eq!(awards[0].valid_until, 2);
    let snapshot = Snapshot {
        epoch: 1,
        awards,
        ..Snapshot::default()
    };
    // The coordinator comes back in slot 4, after the stored lease (slot 2) ended.
    let tree = CircuitTree::single("site", 10_000_000).unwrap();
    let devs = c.devices().cloned().collect();
    let cfg = CoordinatorConfig::new(tree, SlotClock::new(Instant(0), SLOT_MS), devs);
    let t = Instant(4 * SLOT_MS + 100);
    let mut c2 = Coordinator::new(cfg, t, Some(snapshot)).unwrap();
    drain(&mut c2, t, true);
    // The device's heartbeat, early in the next slot, still finds its grant.
    let t5 = Instant(5 * SLOT_MS + 100);
    c2.handle(
        t5,
        CoordInput::Message(Envelope::new(
            id("ev"),
            9,
            Body::Heartbeat(Heartbeat {
                holding: vec![(1, 1)],
                want: None,
            }),
        )),
    )
    .unwrap();
    let outs = drain(&mut c2, t5, true);
    assert!(
        sent(&outs)
            .iter()
            .any(|(_, b)| matches!(b, Body::Lease(l) if l.valid_until == 7)),
        "{outs:?}"
    );
    assert_eq!(c2.awards().len(), 1, "the grant did not lapse");
    assert_eq!(c2.book().committed(0, 6), 7_000_000);
}

#[test]
fn invalid_demands_are_refused_with_their_problem() {
    let mut c = coordinator(10_000_000, &[("x", Priority::Normal, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(Instant(10), request("x", 1, Priority::Normal, 2, 3, 5, 6))
        .unwrap();
    let outs = drain(&mut c, Instant(10), true);
    assert!(matches!(
        &sent(&outs)[0].1,
        Body::Reject(Reject {
            reason: RejectReason::Invalid {
                problem: crate::InvalidDemand::WindowTooShort {
                    needed: 3,
                    window: 1
                }
            },
            ..
        })
    ));
}

fn envelope(
    dev: &str,
    seq: u64,
    p: Priority,
    min_kw: i64,
    max_kw: i64,
    earliest: Slot,
    deadline: Slot,
) -> CoordInput {
    CoordInput::Message(Envelope::new(
        id(dev),
        seq,
        Body::TimeslotRequest(TimeslotRequest {
            request: seq,
            priority: p,
            earliest_start: earliest,
            deadline,
            demand: Demand::PowerEnvelope {
                min_mw: min_kw * 1_000_000,
                max_mw: max_kw * 1_000_000,
            },
            bid_per_mille: 1000,
        }),
    ))
}

fn telemetry(dev: &str, seq: u64, slot: Slot, kw: i64) -> CoordInput {
    CoordInput::Message(Envelope::new(
        id(dev),
        seq,
        Body::Telemetry(Telemetry {
            slot,
            measured_mw: kw * 1_000_000,
            forecast: vec![],
            holding: vec![],
        }),
    ))
}

/// A 10 kW site where `devices` ask for `requests` in slot 0 and then draw `drawn` (device,
/// message number, kW) in it. What the coordinator sends as slot 1 begins.
fn overload_of(
    devices: &[(&str, Priority, u32)],
    requests: Vec<CoordInput>,
    drawn: &[(&str, u64, i64)],
) -> Vec<Output> {
    let mut c = coordinator(10_000_000, devices);
    drain(&mut c, Instant(0), true);
    for r in requests {
        c.handle(Instant(10), r).unwrap();
    }
    after_batch(&mut c, true);
    for &(dev, seq, kw) in drawn {
        c.handle(Instant(1_000), telemetry(dev, seq, 0, kw))
            .unwrap();
    }
    drain(&mut c, Instant(1_000), true);
    c.handle_timeout(Instant(SLOT_MS));
    drain(&mut c, Instant(SLOT_MS), true)
}

/// A 10 kW site: a low and a normal heat pump (each 4 kW, running from `min_kw`) share it
/// with an oven nobody controls (a meter we cannot switch), which then draws `oven_kw` in
/// slot 0, far more than anyone forecast. What the coordinator sends as slot 1 begins.
fn overload(min_kw: i64, oven_kw: i64) -> Vec<Output> {
    overload_of(
        &[
            ("low", Priority::Low, 1),
            ("normal", Priority::Normal, 2),
            ("oven", Priority::Normal, 3),
        ],
        vec![
            envelope("normal", 1, Priority::Normal, min_kw, 4, 0, 4),
            envelope("low", 1, Priority::Low, min_kw, 4, 0, 4),
        ],
        &[("oven", 1, oven_kw), ("low", 2, 4), ("normal", 2, 4)],
    )
}

/// The devices the overload handling scaled or shed.
fn shed_by_overload(outs: &[Output]) -> Vec<String> {
    outs.iter()
        .find_map(|o| match o {
            Output::Event(Event::Overload { shed, .. }) => {
                Some(shed.iter().map(|d| d.to_string()).collect())
            }
            _ => None,
        })
        .expect("an overload is handled")
}

/// Each instructed device's grant in slot 1, as the last instruction to it left it.
fn instructed_in_slot_1(outs: &[Output]) -> BTreeMap<String, i64> {
    sent(outs)
        .into_iter()
        .filter_map(|(to, b)| match b {
            Body::Instruction(i) => Some((to.to_string(), i.grant.at(1))),
            _ => None,
        })
        .collect()
}

#[test]
fn overload_scales_then_sheds_the_lowest_class_first() {
    // The oven draws 5 kW: 13 kW on a 10 kW site.
    let outs = overload(1, 5);
    let shed = shed_by_overload(&outs);
    // 3 kW too much: the low heat pump scales to its 1 kW minimum (−3 kW) and that is enough.
    assert_eq!(shed, vec!["low".to_string()]);
    let instructed = instructed_in_slot_1(&outs);
    assert_eq!(instructed.len(), 1, "{instructed:?}");
    assert_eq!(instructed.get("low"), Some(&1_000_000));
}

#[test]
fn overload_touches_a_class_only_once_the_classes_below_gave_all_they_can() {
    // A 10 kW site: a high-class heater (1–4 kW, elastic) and a normal-class car charging at
    // 4 kW (interruptible) share it with an oven nobody controls, which draws 5 kW in slot
    // 0: 13 kW, 3 too much. Shedding the car covers it; the heater, a class above, keeps
    // its 4 kW (scaling every elastic grant first, whatever its class, turned it down to
    // 1 kW while the car charged on).
    // Three slots at 4 kW by slot 4.
    let car = charger("car", Priority::Normal, 4_000_000, 4_000_000, 3, 4);
    let outs = overload_of(
        &[
            ("heater", Priority::High, 1),
            ("car", Priority::Normal, 2),
            ("oven", Priority::Normal, 3),
        ],
        vec![envelope("heater", 1, Priority::High, 1, 4, 0, 4), car],
        &[("oven", 1, 5), ("heater", 2, 4), ("car", 2, 4)],
    );
    let shed = shed_by_overload(&outs);
    assert_eq!(shed, vec!["car".to_string()]);
    let instructed = instructed_in_slot_1(&outs);
    assert_eq!(instructed.get("car"), Some(&0), "{instructed:?}");
    assert!(!instructed.contains_key("heater"), "{instructed:?}");
}

/// A site whose budget follows the households' evening: 8 kW in slot 0, 5 kW from slot 1,
/// as their forecast falls from 6 to 3 kW. A 2 kW critical heater (from 1 kW) is granted
/// both slots. In slot 0 the household draws `household_kw` and the heater 2 kW; what the
/// coordinator sends as slot 1 begins, as the heater's grant in slot 1 (`None`: untouched).
fn evening_overload(household_kw: i64) -> Option<i64> {
    let mut c = coordinator(
        10_000_000,
        &[("h", Priority::Critical, 1), ("e", Priority::Critical, 2)],
    );
    c.handle(
        Instant(0),
        CoordInput::Budget {
            circuit: 0,
            from_slot: 0,
            values_mw: vec![8_000_000, 5_000_000],
        },
    )
    .unwrap();
    drain(&mut c, Instant(0), true);
    let mut profile = vec![PowerValue::exact(3_000_000); 10];
    profile[0] = PowerValue::exact(6_000_000);
    c.handle(
        Instant(10),
        asks(
            "h",
            Priority::Critical,
            10,
            Demand::PowerForecast { profile },
        ),
    )
    .unwrap();
    c.handle(
        Instant(10),
        envelope("e", 1, Priority::Critical, 1, 2, 0, 2),
    )
    .unwrap();
    let outs = after_batch(&mut c, true);
    assert!(awarded(&outs, "e"), "{outs:?}");
    c.handle(Instant(1_000), telemetry("h", 2, 0, household_kw))
        .unwrap();
    c.handle(Instant(1_000), telemetry("e", 2, 0, 2)).unwrap();
    drain(&mut c, Instant(1_000), true);
    c.handle_timeout(Instant(SLOT_MS));
    instructed_in_slot_1(&drain(&mut c, Instant(SLOT_MS), true))
        .get("e")
        .copied()
}

#[test]
fn a_budget_that_falls_with_the_forecast_sheds_nothing_and_a_forecast_miss_still_does() {
    // Slot 0 drew 8 kW, above slot 1's 5 kW, but slot 1 is expected to draw 3 + 2 kW: the
    // books hold it, nothing is shed.
    assert_eq!(evening_overload(6), None);
    // The household drew 1 kW more than forecast: 6 kW expected on 5, the heater scales to
    // its minimum.
    assert_eq!(evening_overload(7), Some(1_000_000));
}

#[test]
fn an_elastic_load_is_shed_whole_rather_than_left_below_its_minimum() {
    // The oven draws 7 kW: 15 kW, 5 too much. The low heat pump scaled to its 2 kW minimum
    // leaves 3 kW too much; it could be given less, but it cannot run on less, so it is shed
    // whole, and the normal one, a class above, gives only the 1 kW still too much.
    let instructed = instructed_in_slot_1(&overload(2, 7));
    assert_eq!(instructed.get("low"), Some(&0), "{instructed:?}");
    assert_eq!(instructed.get("normal"), Some(&3_000_000), "{instructed:?}");
}

#[test]
fn a_running_job_is_cut_only_for_a_critical_load() {
    let mut c = coordinator(
        5_000_000,
        &[
            ("washer", Priority::Low, 3),
            ("heater", Priority::High, 2),
            ("ventilator", Priority::Critical, 1),
        ],
    );
    drain(&mut c, Instant(0), true);
    c.handle(Instant(10), request("washer", 1, Priority::Low, 4, 6, 0, 6))
        .unwrap();
    after_batch(&mut c, true);
    // A high request for slots 2..4 cannot take the running washer's power.
    c.handle(
        Instant(400),
        request("heater", 1, Priority::High, 3, 2, 2, 4),
    )
    .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    assert!(sent(&outs).iter().any(|(to, b)| to.as_str() == "heater"
        && matches!(
            b,
            Body::Reject(Reject {
                reason: RejectReason::Full { .. },
                ..
            })
        )));
    assert_eq!(c.stats().committed_cuts, 0);
    // A critical one can, and that is counted.
    c.handle(
        Instant(800),
        request("ventilator", 1, Priority::Critical, 3, 2, 2, 4),
    )
    .unwrap();
    c.handle_timeout(Instant(1_100));
    let outs = drain(&mut c, Instant(1_100), true);
    assert!(awarded(&outs, "ventilator"));
    assert_eq!(c.stats().committed_cuts, 1);
    for s in 0..6 {
        assert!(c.book().committed(0, s) <= 5_000_000);
    }
}

/// A 5 kW site: `a` holds 4 kW for slots 0–6; `b` asks for 3 kW for 2 slots by slot 4
/// and is left waiting (its answer not drained yet). `c` (normal) and `d` (high) are idle.
fn b_waits_behind_a() -> Coordinator {
    let mut c = coordinator(
        5_000_000,
        &[
            ("a", Priority::Normal, 1),
            ("b", Priority::Normal, 2),
            ("c", Priority::Normal, 3),
            ("d", Priority::High, 4),
        ],
    );
    drain(&mut c, Instant(0), true);
    c.handle(Instant(10), request("a", 1, Priority::Normal, 4, 6, 0, 6))
        .unwrap();
    after_batch(&mut c, true);
    c.handle(Instant(400), request("b", 1, Priority::Normal, 3, 2, 0, 4))
        .unwrap();
    c.handle_timeout(Instant(700));
    c
}

#[test]
fn a_waiting_request_hears_a_new_offer_only_when_it_finishes_earlier() {
    let mut c = b_waits_behind_a();
    let offer_end = |outs: &[Output]| -> Vec<Slot> {
        sent(outs)
            .into_iter()
            .filter_map(|(to, b)| match b {
                Body::Reject(Reject {
                    best_offer: Some(o),
                    ..
                }) if to.as_str() == "b" => Some(o.end()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(offer_end(&drain(&mut c, Instant(700), true)), vec![8]);
    // `c` takes slots 6–8: b's best offer slips to 10, which b would let pass as it let 8
    // pass; nothing is sent, in this batch or in the next slot's.
    c.handle(Instant(800), request("c", 1, Priority::Normal, 4, 2, 6, 8))
        .unwrap();
    c.handle_timeout(Instant(1_100));
    let outs = drain(&mut c, Instant(1_100), true);
    assert!(awarded(&outs, "c"));
    assert!(offer_end(&outs).is_empty(), "{outs:?}");
    c.handle_timeout(Instant(SLOT_MS + 10));
    assert!(offer_end(&drain(&mut c, Instant(SLOT_MS + 10), true)).is_empty());
    // `a` releases from slot 3: b can finish at 5, earlier than 8, and hears it.
    // Freed room is gathered for `retry_ms` before it is offered.
    let rel = release("a", 2, 1, 3);
    c.handle(Instant(SLOT_MS + 500), rel).unwrap();
    let t = Instant(SLOT_MS + 500 + RETRY_MS);
    c.handle_timeout(t);
    assert_eq!(offer_end(&drain(&mut c, t, true)), vec![5]);
}

#[test]
fn a_batch_of_new_arrivals_leaves_out_waiting_requests_until_room_appears() {
    let mut c = b_waits_behind_a();
    drain(&mut c, Instant(700), true);
    let batch_sizes = |outs: &[Output]| -> Vec<u32> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Event(Event::Batch { requests, .. }) => Some(*requests),
                _ => None,
            })
            .collect()
    };
    assert_eq!(c.waiting().len(), 1);
    // Nothing freed: c's batch is c alone.
    c.handle(Instant(800), request("c", 1, Priority::Normal, 1, 1, 0, 20))
        .unwrap();
    c.handle_timeout(Instant(1_100));
    assert_eq!(batch_sizes(&drain(&mut c, Instant(1_100), true)), vec![1]);
    // A new arrival of a higher class than the waiting one: still alone.
    c.handle(Instant(1_200), request("d", 1, Priority::High, 1, 1, 0, 20))
        .unwrap();
    c.handle_timeout(Instant(1_500));
    assert_eq!(batch_sizes(&drain(&mut c, Instant(1_500), true)), vec![1]);
    // Room appears (a releases): the waiting request is tried once `retry_ms` has passed
    // since it was last tried, not in the very next batch.
    let rel = release("a", 2, 1, 1);
    c.handle(Instant(1_600), rel).unwrap();
    c.handle_timeout(Instant(1_900));
    assert!(batch_sizes(&drain(&mut c, Instant(1_900), true)).is_empty());
    let t = Instant(1_600 + RETRY_MS);
    c.handle_timeout(t);
    let outs = drain(&mut c, t, true);
    assert_eq!(batch_sizes(&outs), vec![1]);
    assert!(awarded(&outs, "b"));
}

#[test]
fn a_waiting_request_is_served_when_capacity_frees_and_the_older_one_first() {
    let mut c = coordinator(
        4_000_000,
        &[
            ("ev", Priority::Normal, 1),
            ("a", Priority::Normal, 2),
            ("b", Priority::Normal, 3),
        ],
    );
    drain(&mut c, Instant(0), true);
    c.handle(Instant(10), request("ev", 1, Priority::Normal, 4, 8, 0, 8))
        .unwrap();
    after_batch(&mut c, true);
    // `b` asks first, `a` later; both wait (the site is full until slot 8).
    c.handle(Instant(400), request("b", 1, Priority::Normal, 3, 2, 0, 8))
        .unwrap();
    c.handle_timeout(Instant(700));
    drain(&mut c, Instant(700), true);
    c.handle_timeout(Instant(SLOT_MS + 10));
    drain(&mut c, Instant(SLOT_MS + 10), true);
    c.handle(
        Instant(SLOT_MS + 20),
        request("a", 1, Priority::Normal, 3, 2, 0, 8),
    )
    .unwrap();
    c.handle_timeout(Instant(SLOT_MS + 400));
    drain(&mut c, Instant(SLOT_MS + 400), true);
    assert_eq!(c.waiting().len(), 2);
    // The EV releases from slot 2 on.
    let rel = release("ev", 2, 1, 2);
    c.handle(Instant(SLOT_MS + 500), rel).unwrap();
    let t = Instant(SLOT_MS + 500 + RETRY_MS);
    c.handle_timeout(t);
    let outs = drain(&mut c, t, true);
    let starts: Vec<(String, Slot)> = sent(&outs)
        .into_iter()
        .filter_map(|(to, b)| match b {
            Body::Award(a) => Some((to.to_string(), a.grant.start)),
            _ => None,
        })
        .collect();
    // Both fit once the EV is gone, one after the other: the one that waited longer first.
    let start_of = |d: &str| starts.iter().find(|(x, _)| x == d).map(|x| x.1).unwrap();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!(start_of("b") < start_of("a"), "{starts:?}");
}

#[test]
fn the_load_nobody_controls_is_expected_at_its_p50_and_reserved_with_its_margin() {
    let mut c = coordinator(
        20_000_000,
        &[("h1", Priority::Normal, 1), ("h2", Priority::Normal, 2)],
    );
    let forecast = |dev: &str| {
        CoordInput::Message(Envelope::new(
            id(dev),
            1,
            Body::TimeslotRequest(TimeslotRequest {
                request: 1,
                priority: Priority::Normal,
                earliest_start: 1,
                deadline: 5,
                demand: Demand::PowerForecast {
                    profile: vec![
                        PowerValue {
                            p50_mw: 1_000_000,
                            p90_mw: 3_000_000,
                        };
                        4
                    ],
                },
                bid_per_mille: 1000,
            }),
        ))
    };
    for dev in ["h1", "h2"] {
        c.handle(Instant(0), forecast(dev)).unwrap();
    }
    drain(&mut c, Instant(0), true);
    let UncontrolledLoad {
        expected, reserved, ..
    } = c.uncontrollable_load(0, 0, 6);
    // Two forecasts: P50 each, and the P90 margin over √2 (rounded down to 1) on top.
    assert_eq!(
        expected,
        vec![0, 2_000_000, 2_000_000, 2_000_000, 2_000_000, 0]
    );
    assert_eq!(
        reserved,
        vec![0, 6_000_000, 6_000_000, 6_000_000, 6_000_000, 0]
    );
    // The one-pass profile is the per-slot figure.
    for s in 0..6 {
        assert_eq!(
            reserved[s as usize],
            c.reserved_uncontrollable(s)[0],
            "slot {s}"
        );
    }
}

#[test]
fn critical_elastic_loads_are_counted_once_per_device_over_their_window() {
    let mut c = coordinator(
        20_000_000,
        &[("o2", Priority::Critical, 1), ("heater", Priority::High, 2)],
    );
    let envelope = |dev: &str, seq: u64, request: u64, p: Priority, earliest: Slot| {
        CoordInput::Message(Envelope::new(
            id(dev),
            seq,
            Body::TimeslotRequest(TimeslotRequest {
                request,
                priority: p,
                earliest_start: earliest,
                deadline: 5,
                demand: Demand::PowerEnvelope {
                    min_mw: 350_000,
                    max_mw: 350_000,
                },
                bid_per_mille: 1000,
            }),
        ))
    };
    // The concentrator holds two requests at once (it books its timeslots ahead); the
    // heater is high class, not critical.
    c.handle(Instant(0), envelope("o2", 1, 1, Priority::Critical, 1))
        .unwrap();
    c.handle(Instant(0), envelope("o2", 2, 2, Priority::Critical, 2))
        .unwrap();
    c.handle(Instant(0), envelope("heater", 1, 1, Priority::High, 1))
        .unwrap();
    drain(&mut c, Instant(0), true);
    let load = c.uncontrollable_load(0, 0, 7);
    assert_eq!(
        load.critical,
        vec![0, 350_000, 350_000, 350_000, 350_000, 0, 0]
    );
    // Not load nobody controls: nothing expected or reserved for it.
    assert!(load.expected.iter().all(|&v| v == 0), "{load:?}");
    assert!(load.reserved.iter().all(|&v| v == 0), "{load:?}");
}

#[test]
fn a_preemption_instructs_only_the_grants_it_changes() {
    // 10 kW: a low heater at 3 kW and a normal one at 6 kW; a high 5 kW job for slots 2..4.
    // Taking the low heater's 3 kW is not enough, the normal one's 6 kW is: the low heater
    // gets all its power back and hears nothing (a new version of the same grant would make
    // its next heartbeat stale), the normal one is scaled to 2 kW.
    let mut c = coordinator(
        10_000_000,
        &[
            ("low", Priority::Low, 3),
            ("normal", Priority::Normal, 2),
            ("job", Priority::High, 1),
        ],
    );
    drain(&mut c, Instant(0), true);
    c.handle(Instant(10), envelope("low", 1, Priority::Low, 3, 3, 0, 6))
        .unwrap();
    c.handle(
        Instant(10),
        envelope("normal", 1, Priority::Normal, 1, 6, 0, 6),
    )
    .unwrap();
    after_batch(&mut c, true);
    assert_eq!(c.book().committed(0, 3), 9_000_000);
    c.handle(Instant(400), request("job", 1, Priority::High, 5, 2, 2, 4))
        .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    assert!(awarded(&outs, "job"));
    let instructed: Vec<(String, Grant)> = sent(&outs)
        .into_iter()
        .filter_map(|(to, b)| match b {
            Body::Instruction(i) => Some((to.to_string(), i.grant)),
            _ => None,
        })
        .collect();
    assert_eq!(instructed.len(), 1, "{instructed:?}");
    assert_eq!(instructed[0].0, "normal");
    assert_eq!(instructed[0].1.at(2), 2_000_000);
    assert_eq!(c.book().committed(0, 2), 10_000_000);
}

/// A 10 kW site whose 10 kW a normal elastic load ("normal", slots 0..6) holds; then high
/// 3 kW jobs named `jobs`, for slots 2..4, arrive in one batch and take from it. The
/// coordinator and the batch's outputs.
fn load_preempted_by(jobs: &[&str]) -> (Coordinator, Vec<Output>) {
    let mut devices = vec![("normal", Priority::Normal, 0)];
    devices.extend(
        jobs.iter()
            .zip(1..)
            .map(|(&j, port)| (j, Priority::High, port)),
    );
    let mut c = coordinator(10_000_000, &devices);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        envelope("normal", 1, Priority::Normal, 1, 10, 0, 6),
    )
    .unwrap();
    after_batch(&mut c, true);
    assert_eq!(c.book().committed(0, 3), 10_000_000);
    for job in jobs {
        c.handle(Instant(400), request(job, 1, Priority::High, 3, 2, 2, 4))
            .unwrap();
    }
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    assert!(jobs.iter().all(|j| awarded(&outs, j)));
    (c, outs)
}

#[test]
fn a_grant_changed_twice_in_one_batch_is_instructed_once() {
    // Two jobs each take 3 kW from the load in the same batch. The load hears one
    // instruction, with the outcome (4 kW) and the version the coordinator holds, not one
    // per change; every version is still stored.
    let (c, outs) = load_preempted_by(&["a", "b"]);
    let instructed: Vec<Instruction> = sent(&outs)
        .into_iter()
        .filter_map(|(to, b)| match b {
            Body::Instruction(i) if to.as_str() == "normal" => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(instructed.len(), 1, "{instructed:?}");
    assert_eq!(instructed[0].grant.at(2), 4_000_000);
    let stored = |o: &&Output| matches!(o, Output::Store { record: Record::Award(r), .. } if r.device.as_str() == "normal");
    assert!(outs.iter().filter(stored).count() >= 2);
    assert_eq!(c.book().committed(0, 2), 10_000_000);
}

#[test]
fn a_device_that_lost_its_award_is_sent_the_award_after_a_change() {
    // The load's award was lost; a job then took part of its grant (version 2). Its
    // heartbeat holds nothing of it: an instruction would change a grant it does not hold
    // (devices ignore those), so the award is sent again, in its current version. A device
    // that holds the old version gets the change as an instruction.
    let (mut c, _) = load_preempted_by(&["job"]);
    let hb = |seq, holding| {
        CoordInput::Message(Envelope::new(
            id("normal"),
            seq,
            Body::Heartbeat(Heartbeat {
                holding,
                want: None,
            }),
        ))
    };
    let answer = |c: &mut Coordinator, at, input| {
        c.handle(Instant(at), input).unwrap();
        let outs = drain(c, Instant(at), true);
        sent(&outs)
            .into_iter()
            .map(|(_, b)| b)
            .collect::<Vec<Body>>()
    };
    let resent = answer(&mut c, 800, hb(2, vec![]));
    assert!(
        matches!(&resent[..], [Body::Award(a)] if a.version == 2 && a.grant.at(2) == 7_000_000),
        "{resent:?}"
    );
    let resent = answer(&mut c, 900, hb(3, vec![(1, 1)]));
    assert!(
        matches!(&resent[..], [Body::Instruction(i)] if i.version == 2),
        "{resent:?}"
    );
}

/// `dev`'s first request: `demand` from slot 0 to `deadline`.
fn first_request(dev: &str, p: Priority, deadline: Slot, demand: Demand) -> CoordInput {
    CoordInput::Message(Envelope::new(
        id(dev),
        1,
        Body::TimeslotRequest(TimeslotRequest {
            request: 1,
            priority: p,
            earliest_start: 0,
            deadline,
            demand,
            bid_per_mille: 1000,
        }),
    ))
}

/// An elastic load's request: between `min_mw` and `max_mw` from slot 0 to `deadline`.
fn elastic(dev: &str, p: Priority, min_mw: i64, max_mw: i64, deadline: Slot) -> CoordInput {
    first_request(dev, p, deadline, Demand::PowerEnvelope { min_mw, max_mw })
}

/// A charger's request (an energy target) between `min_mw` and `max_mw`, for what
/// `slots_at_max` slots at its maximum deliver, from slot 0 to `deadline`.
fn charger(
    dev: &str,
    p: Priority,
    min_mw: i64,
    max_mw: i64,
    slots_at_max: i64,
    deadline: Slot,
) -> CoordInput {
    let energy_mwh = max_mw * slots_at_max * SLOT_MS as i64 / 3_600_000;
    first_request(
        dev,
        p,
        deadline,
        Demand::EnergyTarget {
            energy_mwh,
            min_mw,
            max_mw,
        },
    )
}

/// On a site of `site_mw`, a heater asking up to 8 kW, then a washer 2 kW × 3 slots within
/// 20: whether the washer is awarded.
fn washer_after_heater(site_mw: i64) -> (bool, usize) {
    let mut c = coordinator(
        site_mw,
        &[
            ("heater", Priority::High, 1),
            ("washer", Priority::Normal, 2),
        ],
    );
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        elastic("heater", Priority::High, 1_000_000, 8_000_000, 200),
    )
    .unwrap();
    let outs = after_batch(&mut c, true);
    assert!(awarded(&outs, "heater"));
    c.handle(
        Instant(400),
        request("washer", 1, Priority::Normal, 2, 3, 0, 20),
    )
    .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    (awarded(&outs, "washer"), c.waiting().len())
}

#[test]
fn a_lower_class_does_not_start_on_what_a_higher_elastic_load_still_wants() {
    // 5 kW: the heater gets all of it and still wants more. The washer finds the site free
    // past the heater's short timeslot, but the heater will most likely want it: it waits.
    assert_eq!(washer_after_heater(5_000_000), (false, 1));
    // 10 kW: the heater has what it wants, and the washer starts at once.
    assert_eq!(washer_after_heater(10_000_000), (true, 0));
}

/// A household rated 5 kW (its standing reservation) on a 20 kW site.
fn household() -> Coordinator {
    let tree = CircuitTree::single("site", 20_000_000).unwrap();
    let rec = DeviceRecord {
        id: id("h"),
        circuit: 0,
        max_priority: Priority::Critical,
        port: 1,
        standing_mw: 5_000_000,
    };
    let cfg = CoordinatorConfig::new(tree, SlotClock::new(Instant(0), SLOT_MS), vec![rec]);
    Coordinator::new(cfg, Instant(0), None).unwrap()
}

/// The household's request `seq` for its load over `from..from + 4`, 1 kW.
fn load_window(seq: u64, from: Slot) -> CoordInput {
    CoordInput::Message(Envelope::new(
        id("h"),
        seq,
        Body::TimeslotRequest(TimeslotRequest {
            request: seq,
            priority: Priority::Critical,
            earliest_start: from,
            deadline: from + 4,
            demand: Demand::PowerForecast {
                profile: vec![PowerValue::exact(1_000_000); 4],
            },
            bid_per_mille: 1000,
        }),
    ))
}

#[test]
fn the_next_forecast_window_keeps_the_standing_reservation_away() {
    // The household asks for its load window after window, each where the last ends (as an
    // agent with a meter does). When the first window ends, the second already covers what
    // follows: the 5 kW standing reservation must not come back under it, or it would
    // stand beside every later forecast. It returns only after the last window.
    let mut c = household();
    c.handle(Instant(0), load_window(1, 0)).unwrap();
    drain(&mut c, Instant(0), true);
    let at = |s: Slot| Instant(u64::from(s) * SLOT_MS + 1);
    // Each slot: the boundary, then a heartbeat renewing the windows' leases.
    let mut seq = 10;
    let mut step = |c: &mut Coordinator, s: Slot| {
        c.handle_timeout(at(s));
        drain(c, at(s), true);
        seq += 1;
        let hb = Heartbeat {
            holding: vec![(1, 1), (2, 1)],
            want: None,
        };
        c.handle(
            at(s),
            CoordInput::Message(Envelope::new(id("h"), seq, Body::Heartbeat(hb))),
        )
        .unwrap();
        drain(c, at(s), true);
        c.audit().unwrap();
    };
    for s in 1..=3 {
        step(&mut c, s);
    }
    c.handle(at(3), load_window(2, 4)).unwrap();
    drain(&mut c, at(3), true);
    for s in 4..=6 {
        step(&mut c, s);
    }
    // Slot 6: the first window is over; the second holds 1 kW up to slot 8.
    assert_eq!(c.uncontrollable_load(0, 6, 2).reserved, vec![1_000_000; 2]);
    for s in 7..=9 {
        step(&mut c, s);
    }
    // After the last window (and the firm window of two slots), the rating stands again.
    let after = c.uncontrollable_load(0, 11, 3).reserved;
    assert_eq!(after, vec![5_000_000; 3]);
}

#[test]
fn the_first_forecast_replaces_the_rating_at_once() {
    // A coordinator starting on a running site reserves each household's rating until its
    // forecast comes. Releasing the rating only frees capacity (the forecast is booked either
    // way), so the first forecast takes over from its first slot, firm window included: the
    // site's capacity is not held at the ratings for the first slots of a run (the books stay
    // consistent).
    let mut c = household();
    assert_eq!(c.uncontrollable_load(0, 0, 3).reserved, vec![5_000_000; 3]);
    c.handle(Instant(0), load_window(1, 0)).unwrap();
    drain(&mut c, Instant(0), true);
    c.audit().unwrap();
    assert_eq!(c.uncontrollable_load(0, 0, 4).reserved, vec![1_000_000; 4]);
}

#[test]
fn a_second_window_while_the_standing_reservation_winds_down_keeps_the_books() {
    // The first window stops the standing reservation at the end of the firm window (slot
    // 2); the second arrives at slot 1, while that reservation still runs. It must not be
    // stretched over slots it never booked, or the book would hold less than is reserved
    // (and a later stop would take from the book what was never put there).
    let mut c = household();
    c.handle(Instant(0), load_window(1, 0)).unwrap();
    drain(&mut c, Instant(0), true);
    c.audit().unwrap();
    let t = Instant(SLOT_MS + 1);
    c.handle_timeout(t);
    drain(&mut c, t, true);
    c.handle(t, load_window(2, 4)).unwrap();
    drain(&mut c, t, true);
    c.audit().unwrap();
}

/// A 10 kW site: a household whose load is forecast at 1 kW over slots 0..20, and an 8 kW
/// job of three slots booked from slot 2. Returns the coordinator and the household's
/// telemetry `seq` in slot 0 forecasting `kw` from slot 1 on.
fn job_beside_a_forecast() -> (Coordinator, impl Fn(u64, i64) -> CoordInput) {
    let mut c = coordinator(
        10_000_000,
        &[("h", Priority::Critical, 1), ("w", Priority::Normal, 2)],
    );
    drain(&mut c, Instant(0), true);
    let profile = vec![PowerValue::exact(1_000_000); 20];
    let window = asks(
        "h",
        Priority::Critical,
        20,
        Demand::PowerForecast { profile },
    );
    c.handle(Instant(10), window).unwrap();
    c.handle(Instant(10), request("w", 1, Priority::Normal, 8, 3, 2, 10))
        .unwrap();
    let outs = after_batch(&mut c, true);
    assert!(awarded(&outs, "w"), "{outs:?}");
    let forecast = |seq, kw: i64| {
        CoordInput::Message(Envelope::new(
            id("h"),
            seq,
            Body::Telemetry(Telemetry {
                slot: 0,
                measured_mw: 1_000_000,
                forecast: vec![PowerValue::exact(kw * 1_000_000); 19],
                holding: vec![(1, 1)],
            }),
        ))
    };
    (c, forecast)
}

/// `dev`'s first request: `demand` between slot 0 and `deadline`.
fn asks(dev: &str, priority: Priority, deadline: Slot, demand: Demand) -> CoordInput {
    let request = TimeslotRequest {
        request: 1,
        priority,
        earliest_start: 0,
        deadline,
        demand,
        bid_per_mille: 1000,
    };
    CoordInput::Message(Envelope::new(id(dev), 1, Body::TimeslotRequest(request)))
}

fn instructed(outs: &[Output], dev: &str) -> bool {
    sent(outs)
        .iter()
        .any(|(to, b)| to.as_str() == dev && matches!(b, Body::Instruction(_)))
}

#[test]
fn a_forecast_that_rises_is_made_room_for_once_before_the_slot_ends() {
    // The household's forecast rises to 4 kW: 12 kW booked on 10 where the job runs,
    // beyond the firm window. The job is not moved at once, but before the firm window
    // reaches its slots: as the next slot begins.
    let (mut c, forecast) = job_beside_a_forecast();
    c.handle(Instant(1_000), forecast(2, 4)).unwrap();
    assert!(!instructed(&drain(&mut c, Instant(1_000), true), "w"));
    assert!(!c.book().overbooked_on(&[0]).is_empty());
    c.handle_timeout(Instant(SLOT_MS));
    let outs = drain(&mut c, Instant(SLOT_MS), true);
    assert!(instructed(&outs, "w"), "{outs:?}");
    assert!(
        c.book().overbooked_on(&[0]).iter().all(|b| b.slot < 1 + 2),
        "overbooked beyond the firm window"
    );
}

#[test]
fn a_forecast_that_rises_and_falls_inside_a_slot_moves_nothing() {
    let (mut c, forecast) = job_beside_a_forecast();
    c.handle(Instant(1_000), forecast(2, 4)).unwrap();
    c.handle(Instant(2_000), forecast(3, 1)).unwrap();
    c.handle_timeout(Instant(SLOT_MS));
    let outs = drain(&mut c, Instant(SLOT_MS), true);
    assert!(!instructed(&outs, "w"), "{outs:?}");
    assert_eq!(c.stats().forced_moves, 0);
}

/// `dev`'s heartbeat (message `seq`) holding request 1 in `version`, saying its load calls
/// for `want_mw` in `slot`.
fn wants(dev: &str, seq: u64, version: u32, slot: Slot, want_mw: i64) -> CoordInput {
    CoordInput::Message(Envelope::new(
        id(dev),
        seq,
        Body::Heartbeat(Heartbeat {
            holding: vec![(1, version)],
            want: Some(SlotWant {
                slot,
                power_mw: want_mw,
            }),
        }),
    ))
}

/// The power the instructions in `outs` give each device in `slot`.
fn instructed_at(outs: &[Output], slot: Slot) -> Vec<(String, i64)> {
    sent(outs)
        .into_iter()
        .filter_map(|(to, b)| match b {
            Body::Instruction(i) => Some((to.to_string(), i.grant.at(slot))),
            _ => None,
        })
        .collect()
}

/// A 4 kW site, full: heaters a (2 kW) and b (1 kW), high; a pump c (1 kW), low; each an
/// elastic grant from 0.5 kW for slots 0..4.
fn a_full_site_of_three_elastic_loads() -> Coordinator {
    let mut c = coordinator(
        4_000_000,
        &[
            ("a", Priority::High, 1),
            ("b", Priority::High, 2),
            ("c", Priority::Low, 3),
        ],
    );
    drain(&mut c, Instant(0), true);
    for (dev, p, max_mw) in [
        ("a", Priority::High, 2_000_000),
        ("b", Priority::High, 1_000_000),
        ("c", Priority::Low, 1_000_000),
    ] {
        c.handle(Instant(10), elastic(dev, p, 500_000, max_mw, 4))
            .unwrap();
    }
    let outs = after_batch(&mut c, true);
    for dev in ["a", "b", "c"] {
        assert!(awarded(&outs, dev), "{dev}: {outs:?}");
    }
    assert_eq!(c.book().headroom(0, 0), 0, "the site is full");
    c
}

#[test]
fn the_spare_a_load_leaves_undrawn_tops_up_others_in_the_running_slot_class_first() {
    let mut c = a_full_site_of_three_elastic_loads();
    // b and c want 2 kW in slot 0; with nothing free and nobody leaving anything, nobody
    // is topped up.
    c.handle(Instant(400), wants("b", 2, 1, 0, 2_000_000))
        .unwrap();
    c.handle(Instant(400), wants("c", 2, 1, 0, 2_000_000))
        .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(&mut c, Instant(700), true);
    assert!(instructed_at(&outs, 0).is_empty(), "{outs:?}");
    // a's load calls for 0.5 kW of its 2: its 1.5 kW go to b first (its 1 kW more), then
    // to c (the 0.5 kW left, its minimum), for slot 0 only.
    c.handle(Instant(800), wants("a", 2, 1, 0, 500_000))
        .unwrap();
    c.handle_timeout(Instant(1_100));
    let outs = drain(&mut c, Instant(1_100), true);
    let mut given = instructed_at(&outs, 0);
    given.sort();
    assert_eq!(
        given,
        vec![("b".to_string(), 2_000_000), ("c".to_string(), 1_500_000)]
    );
    // a at its word, b and c topped up: 0.5 + 2 + 1.5 kW, the site exactly, and so the
    // book (a's booking there is its word). Slot 1 is as it was.
    assert_eq!(c.book().committed(0, 0), 4_000_000);
    assert!(c.audit().is_ok());
    assert!(instructed_at(&outs, 1).iter().all(|(_, p)| *p == 1_000_000));
    // a's grant changing later in the slot (it releases slot 2 on) does not book its
    // word's slot back up: the book still holds the site exactly.
    c.handle(Instant(1_150), release("a", 3, 1, 2)).unwrap();
    drain(&mut c, Instant(1_150), true);
    assert_eq!(c.book().committed(0, 0), 4_000_000);
    assert!(c.audit().is_ok());
    // The same words again change nothing.
    c.handle(Instant(1_200), wants("a", 4, 2, 0, 500_000))
        .unwrap();
    c.handle(Instant(1_200), wants("b", 3, 2, 0, 2_000_000))
        .unwrap();
    c.handle_timeout(Instant(1_500));
    assert!(instructed_at(&drain(&mut c, Instant(1_500), true), 0).is_empty());
    assert_eq!(c.stats().spare_handouts, 2);
}

#[test]
fn a_request_named_as_waiting_gets_its_award_again_or_is_said_to_be_unknown() {
    let mut c = coordinator(4_000_000, &[("a", Priority::High, 1)]);
    drain(&mut c, Instant(0), true);
    c.handle(
        Instant(10),
        elastic("a", Priority::High, 500_000, 2_000_000, 4),
    )
    .unwrap();
    assert!(awarded(&after_batch(&mut c, true), "a"));
    // The award was lost; the device names request 1 as waiting: it is sent again.
    let waiting = |seq: u64, request: RequestId| {
        CoordInput::Message(Envelope::new(
            id("a"),
            seq,
            Body::Heartbeat(Heartbeat {
                holding: vec![(request, 0)],
                want: None,
            }),
        ))
    };
    c.handle(Instant(400), waiting(2, 1)).unwrap();
    let outs = drain(&mut c, Instant(400), true);
    assert!(awarded(&outs, "a"), "{outs:?}");
    // A request the coordinator does not hold (its refusal was lost, and it ended).
    c.handle(Instant(500), waiting(3, 7)).unwrap();
    let outs = drain(&mut c, Instant(500), true);
    assert!(
        sent(&outs).iter().any(|(_, b)| matches!(
            b,
            Body::Reject(r) if r.request == 7 && r.reason == RejectReason::NotHeld && !r.waiting
        )),
        "{outs:?}"
    );
}

/// The power the award in `outs` gives `dev` in `slot`.
fn award_at(outs: &[Output], dev: &str, slot: Slot) -> Option<i64> {
    sent(outs).into_iter().find_map(|(to, b)| match b {
        Body::Award(a) if to.as_str() == dev => Some(a.grant.at(slot)),
        _ => None,
    })
}

/// On a 10 kW site whose owner lets the low class use `low_kw` of it (`None`: all of it), a
/// heater (high) asks up to 2 kW and a pump (low) up to 8 kW: what each is awarded in slot
/// 0, and the coordinator.
fn heater_and_pump(low_kw: Option<i64>) -> (Option<i64>, Option<i64>, Coordinator) {
    let mut c = coordinator(
        10_000_000,
        &[("heater", Priority::High, 1), ("pump", Priority::Low, 2)],
    );
    drain(&mut c, Instant(0), true);
    if let Some(kw) = low_kw {
        c.handle(
            Instant(5),
            CoordInput::ClassBudget {
                circuit: 0,
                class: Priority::Low,
                from_slot: 0,
                values_mw: vec![kw * 1_000_000],
            },
        )
        .unwrap();
    }
    c.handle(
        Instant(10),
        elastic("heater", Priority::High, 500_000, 2_000_000, 4),
    )
    .unwrap();
    c.handle(
        Instant(10),
        elastic("pump", Priority::Low, 500_000, 8_000_000, 4),
    )
    .unwrap();
    let outs = after_batch(&mut c, true);
    (award_at(&outs, "heater", 0), award_at(&outs, "pump", 0), c)
}

/// In the running slot of [`heater_and_pump`]'s site, the heater's and the pump's loads call
/// for `heater_mw` and `pump_mw`: who is instructed to draw what in slot 0.
fn heater_and_pump_want(c: &mut Coordinator, heater_mw: i64, pump_mw: i64) -> Vec<(String, i64)> {
    c.handle(Instant(400), wants("heater", 2, 1, 0, heater_mw))
        .unwrap();
    c.handle(Instant(400), wants("pump", 2, 1, 0, pump_mw))
        .unwrap();
    c.handle_timeout(Instant(700));
    let outs = drain(c, Instant(700), true);
    instructed_at(&outs, 0)
}

#[test]
fn a_class_budget_keeps_the_rest_for_the_high_class_even_where_it_leaves_it_undrawn() {
    // Without a class budget the pump takes what the heater leaves (8 kW).
    let (heater, pump, _) = heater_and_pump(None);
    assert_eq!((heater, pump), (Some(2_000_000), Some(8_000_000)));
    // The owner lets the low class use 4 kW: the pump gets 4, the heater still its 2.
    let (heater, pump, mut c) = heater_and_pump(Some(4));
    assert_eq!((heater, pump), (Some(2_000_000), Some(4_000_000)));
    assert!(c.audit().is_ok());
    // In the running slot the heater's load calls for 1 kW and the pump's for 8: the kW the
    // heater leaves undrawn stays kept for its class (in the owner's battery), and the
    // site's 4 free kW beyond it are not the low class's either.
    assert!(heater_and_pump_want(&mut c, 1_000_000, 8_000_000).is_empty());
    // A fresh curve lets the low class use 7 kW, and the pump's load calls for 7.5: it is
    // topped up to 7 (8 of the site's 10 booked, with the heater's 1).
    c.handle(
        Instant(800),
        CoordInput::ClassBudget {
            circuit: 0,
            class: Priority::Low,
            from_slot: 0,
            values_mw: vec![7_000_000],
        },
    )
    .unwrap();
    c.handle(Instant(800), wants("pump", 3, 1, 0, 7_500_000))
        .unwrap();
    c.handle_timeout(Instant(1_100));
    let outs = drain(&mut c, Instant(1_100), true);
    assert_eq!(
        instructed_at(&outs, 0),
        vec![("pump".to_string(), 7_000_000)]
    );
    assert!(c.audit().is_ok());
}

#[test]
fn a_fresh_budget_drops_the_class_budgets_of_the_curve_it_replaces() {
    // The low class may use 4 kW of the site's 10; then the owner sends a new curve
    // without class budgets (an operator's new limit): the pump's load calls for 8 kW and,
    // the heater drawing its 2, it is topped up to 8 as if no class budget had been sent.
    let (_, pump, mut c) = heater_and_pump(Some(4));
    assert_eq!(pump, Some(4_000_000));
    c.handle(
        Instant(300),
        CoordInput::Budget {
            circuit: 0,
            from_slot: 0,
            values_mw: vec![10_000_000],
        },
    )
    .unwrap();
    assert_eq!(
        heater_and_pump_want(&mut c, 2_000_000, 8_000_000),
        vec![("pump".to_string(), 8_000_000)]
    );
    assert!(c.audit().is_ok());
}

#[test]
fn class_budgets_above_normal_or_out_of_range_are_refused() {
    let mut c = coordinator(10_000_000, &[("pump", Priority::Low, 1)]);
    let budget = |class, values_mw| CoordInput::ClassBudget {
        circuit: 0,
        class,
        from_slot: 0,
        values_mw,
    };
    for class in [Priority::Critical, Priority::High] {
        assert!(c.handle(Instant(1), budget(class, vec![1])).is_err());
    }
    assert!(
        c.handle(Instant(1), budget(Priority::Low, vec![-1]))
            .is_err()
    );
    assert!(c.handle(Instant(1), budget(Priority::Low, vec![])).is_err());
    assert!(
        c.handle(
            Instant(1),
            CoordInput::ClassBudget {
                circuit: 9,
                class: Priority::Low,
                from_slot: 0,
                values_mw: vec![1],
            }
        )
        .is_err()
    );
    assert!(
        c.handle(Instant(1), budget(Priority::Normal, vec![1]))
            .is_ok()
    );
}
