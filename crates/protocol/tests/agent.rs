//! The device machine on its own: the safe rule when the coordinator goes silent, leases,
//! duplicates and stale versions, its word on what its load calls for in the running slot,
//! and a waiting request whose answer was lost.

use powerslot_protocol::agent::{Agent, AgentConfig, AgentInput, Need};
use powerslot_protocol::msg::{
    Award, Body, Envelope, Grant, Instruction, InstructionKind, Lease, Reject, RejectReason,
    SlotWant,
};
use powerslot_protocol::output::{Event, Output};
use powerslot_protocol::{Demand, DeviceId, Instant, PowerValue, Priority, SlotClock};

const SLOT_MS: u64 = 60_000;

fn agent() -> (Agent, u64) {
    let id = DeviceId::new("ev").unwrap();
    let mut a = Agent::new(
        AgentConfig::new(id, SlotClock::new(Instant(0), SLOT_MS)),
        Instant(0),
        0,
    );
    let need = Need {
        priority: Priority::Normal,
        earliest_start: 0,
        deadline: 20,
        demand: Demand::PowerProfile {
            profile: vec![PowerValue::exact(3_000_000); 10],
            interruptible: false,
            min_on_slots: 0,
            min_off_slots: 0,
        },
        bid_per_mille: 1000,
        accept_until: 20,
    };
    let req = a.handle(Instant(0), AgentInput::Need(need)).unwrap();
    (a, req)
}

fn from_coordinator(seq: u64, body: Body) -> AgentInput {
    AgentInput::Message(Envelope::new(DeviceId::new("ev").unwrap(), seq, body))
}

fn drain(a: &mut Agent) -> Vec<Output> {
    let mut v = Vec::new();
    loop {
        match a.poll_output() {
            Output::Timeout(_) => return v,
            o => v.push(o),
        }
    }
}

/// The award of `request` in `version`: 3 kW for slots 0..10, leased until slot 2.
fn award(request: u64, version: u32) -> Body {
    Body::Award(Award {
        request,
        version,
        grant: Grant {
            start: 0,
            power_mw: vec![3_000_000; 10],
        },
        valid_until: 2,
    })
}

#[test]
fn a_grant_is_followed_only_inside_its_lease() {
    let (mut a, req) = agent();
    drain(&mut a);
    let award = award(req, 1);
    a.handle(Instant(100), from_coordinator(1, award.clone()));
    assert_eq!(a.limit_at(0), 3_000_000);
    assert_eq!(a.limit_at(1), 3_000_000);
    // Not renewed: from slot 2 on the device may not draw.
    assert_eq!(a.limit_at(2), 0);
    // A duplicate changes nothing; a renewal of the same version extends.
    a.handle(Instant(200), from_coordinator(2, award));
    a.handle(
        Instant(300),
        from_coordinator(
            3,
            Body::Lease(Lease {
                valid_until: 5,
                grants: vec![(req, 1)],
            }),
        ),
    );
    assert_eq!(a.limit_at(4), 3_000_000);
    // A renewal of another version does not.
    a.handle(
        Instant(400),
        from_coordinator(
            4,
            Body::Lease(Lease {
                valid_until: 9,
                grants: vec![(req, 7)],
            }),
        ),
    );
    assert_eq!(a.limit_at(6), 0);
    // A replayed old message is ignored.
    a.handle(
        Instant(500),
        from_coordinator(
            3,
            Body::Instruction(Instruction {
                request: req,
                version: 9,
                kind: InstructionKind::Scale,
                grant: Grant {
                    start: 0,
                    power_mw: vec![9_000_000; 10],
                },
                valid_until: 10,
            }),
        ),
    );
    assert_eq!(a.limit_at(1), 3_000_000);
}

fn fell_back(outs: &[Output]) -> bool {
    outs.iter()
        .any(|o| matches!(o, Output::Event(Event::Fallback { .. })))
}

#[test]
fn silence_counts_only_while_the_device_expects_word() {
    // A device with nothing asked and nothing held hears nothing: no fallback, however long.
    let mut idle = Agent::new(
        AgentConfig::new(
            DeviceId::new("idle").unwrap(),
            SlotClock::new(Instant(0), SLOT_MS),
        ),
        Instant(0),
        0,
    );
    for k in 1..=5 {
        idle.handle_timeout(Instant(k * SLOT_MS + 1));
        assert!(!fell_back(&drain(&mut idle)), "slot {k}");
    }
    // A request unanswered for a slot is silence.
    let (mut a, _) = agent();
    a.handle_timeout(Instant(SLOT_MS / 2));
    assert!(!fell_back(&drain(&mut a)));
    a.handle_timeout(Instant(SLOT_MS + 1));
    assert!(fell_back(&drain(&mut a)));
}

#[test]
fn a_silent_coordinator_triggers_the_safe_rule() {
    let (mut a, req) = agent();
    drain(&mut a);
    a.handle(Instant(100), from_coordinator(1, award(req, 1)));
    drain(&mut a);
    // Nothing for more than a slot: the device reports its fallback and draws only what
    // its lease still allows.
    a.handle_timeout(Instant(SLOT_MS + 500));
    let outs = drain(&mut a);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Event(Event::Fallback { .. })))
    );
    assert_eq!(a.limit_at(1), 3_000_000);
    a.handle_timeout(Instant(2 * SLOT_MS + 1));
    let outs = drain(&mut a);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Actuate {
            slot: 2,
            limit_mw: 0
        }
    )));
    // It keeps asking (retransmissions and heartbeats), never drawing more.
    assert!(outs.iter().any(|o| matches!(o, Output::Send { .. })));
}

#[test]
fn a_grant_for_a_need_already_over_is_handed_back() {
    // The device finished before its award came (or its release was lost): the late award
    // is not followed, and the device releases it again rather than keep it booked.
    let (mut a, req) = agent();
    drain(&mut a);
    a.handle(Instant(50), AgentInput::Done(req));
    drain(&mut a);
    a.handle(Instant(100), from_coordinator(1, award(req, 2)));
    assert_eq!(a.limit_at(1), 0);
    let outs = drain(&mut a);
    assert!(
        outs.iter().any(|o| matches!(
            o,
            Output::Send { msg, .. } if matches!(&msg.body, Body::Release(r) if r.request == req)
        )),
        "{outs:?}"
    );
}

/// What `outs` sends.
fn bodies(outs: &[Output]) -> impl Iterator<Item = &Body> {
    outs.iter().filter_map(|o| match o {
        Output::Send { msg, .. } => Some(&msg.body),
        _ => None,
    })
}

/// The heartbeats `outs` sends.
fn heartbeats(outs: &[Output]) -> Vec<powerslot_protocol::msg::Heartbeat> {
    bodies(outs)
        .filter_map(|b| match b {
            Body::Heartbeat(h) => Some(h.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn what_the_load_calls_for_caps_the_limit_for_the_slot_and_is_said_at_once() {
    let (mut a, req) = agent();
    drain(&mut a);
    a.handle(Instant(100), from_coordinator(1, award(req, 1)));
    drain(&mut a);
    // The load calls for 1 kW of the 3 kW held in slot 0: the device draws at most that,
    // and says so in a heartbeat at once (the coordinator may lend the rest).
    a.handle(
        Instant(200),
        AgentInput::Wants {
            slot: 0,
            power_mw: 1_000_000,
        },
    );
    assert_eq!(a.limit_at(0), 1_000_000);
    assert_eq!(a.limit_at(1), 3_000_000, "the next slot is not promised");
    let hb = heartbeats(&drain(&mut a));
    assert_eq!(hb.len(), 1);
    assert_eq!(
        hb[0].want,
        Some(SlotWant {
            slot: 0,
            power_mw: 1_000_000
        })
    );
    assert_eq!(hb[0].holding, vec![(req, 1)]);
    // Inside the slot the promise only tightens: what was left free may be lent already.
    a.handle(
        Instant(300),
        AgentInput::Wants {
            slot: 0,
            power_mw: 2_500_000,
        },
    );
    assert_eq!(a.limit_at(0), 1_000_000);
    // A top-up for the slot (a new version) raises the grant, never above the word.
    let mut more = vec![3_000_000; 10];
    more[0] = 5_000_000;
    a.handle(
        Instant(400),
        from_coordinator(
            2,
            Body::Instruction(Instruction {
                request: req,
                version: 2,
                kind: InstructionKind::Scale,
                grant: Grant {
                    start: 0,
                    power_mw: more,
                },
                valid_until: 2,
            }),
        ),
    );
    assert_eq!(a.limit_at(0), 1_000_000);
}

#[test]
fn a_waiting_request_is_named_in_heartbeats_and_asked_again_when_the_coordinator_lost_it() {
    let (mut a, req) = agent();
    drain(&mut a);
    // Told to wait.
    a.handle(
        Instant(100),
        from_coordinator(
            1,
            Body::Reject(Reject {
                request: req,
                reason: RejectReason::Expired { now: 0 },
                best_offer: None,
                waiting: true,
            }),
        ),
    );
    drain(&mut a);
    // Its heartbeats name it as version 0, so that an award or refusal lost on the way is
    // sent again.
    a.handle_timeout(Instant(SLOT_MS / 4 + 1));
    let hb = heartbeats(&drain(&mut a));
    assert!(hb.iter().any(|h| h.holding.contains(&(req, 0))), "{hb:?}");
    // The coordinator no longer holds it: the device asks again, under a new request.
    a.handle(
        Instant(SLOT_MS / 4 + 50),
        from_coordinator(
            2,
            Body::Reject(Reject {
                request: req,
                reason: RejectReason::NotHeld,
                best_offer: None,
                waiting: false,
            }),
        ),
    );
    let outs = drain(&mut a);
    let asked: Vec<u64> = bodies(&outs)
        .filter_map(|b| match b {
            Body::TimeslotRequest(r) => Some(r.request),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 1);
    assert_ne!(asked[0], req);
}
