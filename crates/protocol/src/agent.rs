//! The device side: one machine per device. It turns the device's needs into timeslot
//! requests, answers offers by a stated policy, follows its grants slot by slot within their
//! leases (the device's half of the timeslot manager: [`Output::Actuate`] sets the port's
//! limit), sends telemetry and heartbeats, retransmits what was not answered, and falls back
//! to its safe rule when the coordinator is silent.
//!
//! **Safe rule.** A device draws only what a grant it holds allows, in the grant's current
//! version and before the grant's lease end (slots are the common clock, so a renewal that
//! never arrives only shortens what the device may do). When the coordinator has been silent
//! for [`AgentConfig::silence_ms`] it keeps following the grants whose leases still run,
//! starts nothing new, and, if it is critical, may draw its registered fallback power (which
//! the site books for it as uncontrollable load).
//!
//! **In the running slot.** Told what its load calls for there ([`AgentInput::Wants`]), the
//! device draws no more than that and says so at once in a heartbeat, so the coordinator can
//! lend what it holds above it and top it up when it holds less. A request the coordinator
//! said waits is named in every heartbeat (as version 0): were its award or final refusal
//! lost, the award is sent again, or the device hears that it is not held and asks again.
//!
//! Re-negotiation is the device's job: when a grant is shed, revoked or scaled below what the
//! device still needs, it asks again for the rest (the rest of an interruptible profile, the
//! energy still missing, the next timeslot of an envelope; a running non-interruptible job
//! that was cut has failed and is reported, not repeated).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use powerslot_core::Slot;

use crate::codec::ReplayWindow;
use crate::device::{Demand, DeviceId, PowerValue, Priority};
use crate::msg::{
    Award, Body, CounterBid, CounterChoice, Envelope, Grant, Heartbeat, Instruction,
    InstructionKind, Lease, Reject, RejectReason, Release, RequestId, SlotWant, Telemetry,
    TimeslotRequest,
};
use crate::output::{Event, Output};
use crate::time::{Instant, SlotClock};

/// How the device takes part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AgentMode {
    /// Negotiates whole demands over the horizon (the `powerslot` mechanism, and peers).
    #[default]
    Negotiate,
    /// Asks for the next slot only, every slot (the seed's rule and the one-shot market).
    PerSlot,
    /// Asks nobody: runs as soon as it wants (the uncoordinated baseline).
    Uncoordinated,
}

/// How a device runs.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Its id.
    pub id: DeviceId,
    /// The allocation grid (shared with the coordinator).
    pub clock: SlotClock,
    /// How it takes part.
    pub mode: AgentMode,
    /// Heartbeat period, ms (telemetry counts as a heartbeat).
    pub heartbeat_ms: u64,
    /// First retransmission delay for an unanswered request, ms (doubles, up to the
    /// heartbeat period).
    pub retransmit_ms: u64,
    /// Silence after which the coordinator counts as unreachable, ms.
    pub silence_ms: u64,
    /// Power the device may draw under the safe rule with no valid grant, mW (0 unless it is
    /// critical and the site books it).
    pub fallback_mw: i64,
}

impl AgentConfig {
    /// Defaults: heartbeats four times a slot, first retransmission after a tenth of a slot,
    /// unreachable after a whole slot of silence, no fallback power.
    pub fn new(id: DeviceId, clock: SlotClock) -> Self {
        Self {
            id,
            clock,
            mode: AgentMode::Negotiate,
            heartbeat_ms: (clock.slot_ms / 4).max(1),
            retransmit_ms: (clock.slot_ms / 10).max(1),
            silence_ms: clock.slot_ms,
            fallback_mw: 0,
        }
    }
}

/// Something the device wants to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    /// Its class.
    pub priority: Priority,
    /// Earliest start slot.
    pub earliest_start: Slot,
    /// Deadline slot (exclusive).
    pub deadline: Slot,
    /// What it needs.
    pub demand: Demand,
    /// Bid multiplier, per mille.
    pub bid_per_mille: u32,
    /// The latest end the device accepts when offered something outside its terms (at
    /// least the deadline; equal to it to accept nothing late).
    pub accept_until: Slot,
}

/// What the device machine is fed.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentInput {
    /// A message from the coordinator.
    Message(Envelope),
    /// A new need; answered with the request id it gets.
    Need(Need),
    /// What the device drew in a slot, and its forecast from the next slot on.
    Measured {
        /// The slot measured.
        slot: Slot,
        /// Mean power, mW.
        measured_mw: i64,
        /// Forecast from `slot + 1`, P50 and P90.
        forecast: Vec<PowerValue>,
    },
    /// The device finished a need early: its grant's rest is released.
    Done(RequestId),
    /// What the device's own load calls for in a slot (the one now running), before any
    /// limit. The device then draws at most this in that slot, and says so to the
    /// coordinator at once (a [`SlotWant`] in a heartbeat), which may lend what it holds
    /// above it to others, or top it up from the spare.
    Wants {
        /// The slot.
        slot: Slot,
        /// Mean power, mW.
        power_mw: i64,
    },
}

/// Where a need stands (its current request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeedState {
    /// Asked; no answer yet.
    Asked,
    /// Refused for now; the coordinator keeps it waiting, or (per-slot mode) it asks again
    /// next slot.
    Waiting,
    /// Refused, an elastic load: it asks again for the next slots at the next slot, since
    /// capacity that frees later is as good to it as any.
    Retry,
    /// Granted.
    Granted,
    /// Over: served, given up, refused, or failed.
    Over(NeedEnd),
}

/// How a need ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeedEnd {
    /// Its grants ran out (served as granted).
    Served,
    /// Refused for good, or its window closed.
    Refused,
    /// Withdrawn by the device.
    Withdrawn,
    /// A running non-interruptible job was cut.
    Cut,
}

/// A grant the device holds: its request, version, limits and lease end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The request it answers.
    pub request: RequestId,
    /// Its version.
    pub version: u32,
    /// The limits.
    pub grant: Grant,
    /// Lease end.
    pub valid_until: Slot,
}

#[derive(Clone, Debug)]
struct Tracked {
    need: Need,
    /// The request currently speaking for this need (a re-negotiation makes a new one).
    request: TimeslotRequest,
    state: NeedState,
    /// Every grant held for this need (older requests' grants stay until they end).
    held: Vec<Held>,
    next_retransmit: Instant,
    backoff_ms: u64,
    /// Slots of a profile already run, or energy already delivered (mWh).
    progress: i64,
    /// Whether the run has started.
    started: bool,
}

impl Tracked {
    fn granted_at(&self, slot: Slot) -> i64 {
        self.held
            .iter()
            .filter(|h| slot < h.valid_until)
            .map(|h| h.grant.at(slot))
            .sum()
    }

    fn grants_end(&self) -> Slot {
        self.held.iter().map(|h| h.grant.end()).max().unwrap_or(0)
    }
}

/// The device state machine (see the module docs).
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    now: Instant,
    slot: Slot,
    seq: u64,
    replay: ReplayWindow,
    last_heard: Instant,
    /// Since when the device has been expecting word from the coordinator (an answer to a
    /// request, or the renewal of a lease it holds); `None` while it expects none.
    expecting_since: Option<Instant>,
    fallback_reported: bool,
    needs: BTreeMap<RequestId, Tracked>,
    /// Request id → the need it speaks for (the need's first request id).
    alias: BTreeMap<RequestId, RequestId>,
    next_heartbeat: Instant,
    pending_telemetry: Option<Telemetry>,
    /// The device's own latest forecast of its demand (P50/P90 from the next slot on): an
    /// elastic load asks for what it expects to need, not for its nameplate.
    predicted: Vec<PowerValue>,
    /// What the device said its load calls for in a slot: its limit there is at most that.
    want: Option<SlotWant>,
    out: VecDeque<Output>,
    actuated: Option<(Slot, i64)>,
}

impl Agent {
    /// A device at `now`; `last_seq` is the last sequence number it used before a restart
    /// (0 for a new device), so that it never reuses one.
    pub fn new(cfg: AgentConfig, now: Instant, last_seq: u64) -> Self {
        let slot = cfg.clock.slot_at(now);
        Self {
            next_heartbeat: now.after_ms(cfg.heartbeat_ms),
            cfg,
            now,
            slot,
            seq: last_seq,
            replay: ReplayWindow::default(),
            last_heard: now,
            expecting_since: None,
            fallback_reported: false,
            needs: BTreeMap::new(),
            alias: BTreeMap::new(),
            pending_telemetry: None,
            predicted: Vec::new(),
            want: None,
            out: VecDeque::new(),
            actuated: None,
        }
    }

    /// The device's id.
    pub fn id(&self) -> &DeviceId {
        &self.cfg.id
    }

    /// The last sequence number used (persist it to resume after a restart).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Every need, by its first request id: where it stands and how far it got (profile
    /// slots run, or mWh delivered).
    pub fn needs(&self) -> impl Iterator<Item = (RequestId, NeedState, i64)> + '_ {
        self.needs.iter().map(|(k, t)| (*k, t.state, t.progress))
    }

    /// Every grant the device holds.
    pub fn held(&self) -> impl Iterator<Item = &Held> {
        self.needs.values().flat_map(|t| t.held.iter())
    }

    /// The power limit the device may draw in `slot` under the safe rule.
    pub fn limit_at(&self, slot: Slot) -> i64 {
        if self.cfg.mode == AgentMode::Uncoordinated {
            return self.self_granted(slot);
        }
        let granted: i64 = self.needs.values().map(|t| t.granted_at(slot)).sum();
        let limit = if granted == 0 && self.unreachable() {
            self.cfg.fallback_mw
        } else {
            granted
        };
        // What the device said it wants there is a promise to the coordinator, which may
        // have lent the rest to others for the slot.
        match self.want {
            Some(w) if w.slot == slot => limit.min(w.power_mw),
            _ => limit,
        }
    }

    fn unreachable(&self) -> bool {
        self.now.since(self.last_heard) > self.cfg.silence_ms
    }

    /// Whether the device waits on the coordinator: a request not yet answered, or a grant
    /// whose lease the coordinator renews. A device with neither hears nothing, and that
    /// silence is no sign of a coordinator gone.
    fn expects_word(&self) -> bool {
        self.needs
            .values()
            .any(|t| t.state == NeedState::Asked || !t.held.is_empty())
    }

    /// Starts (or stops) the clock of silence as the device begins (or stops) expecting
    /// word.
    fn note_expecting(&mut self) {
        match (self.expects_word(), self.expecting_since) {
            (true, None) => self.expecting_since = Some(self.now),
            (false, Some(_)) => self.expecting_since = None,
            _ => {}
        }
    }

    /// When silence since then means the coordinator is unreachable: `None` while the
    /// device expects no word.
    fn silent_from(&self) -> Option<Instant> {
        self.expecting_since.map(|since| since.max(self.last_heard))
    }

    /// Uncoordinated: every need runs from its earliest start at full power.
    fn self_granted(&self, slot: Slot) -> i64 {
        self.needs
            .values()
            .filter(|t| slot >= t.need.earliest_start)
            .map(|t| {
                let off = slot - t.need.earliest_start;
                match &t.need.demand {
                    Demand::PowerProfile { profile, .. } | Demand::PowerForecast { profile } => {
                        profile.get(off as usize).map_or(0, |v| v.p90_mw)
                    }
                    Demand::EnergyTarget {
                        energy_mwh, max_mw, ..
                    } => {
                        let n = crate::device::slots_for_energy(
                            *energy_mwh,
                            *max_mw,
                            self.cfg.clock.slot_ms,
                        );
                        if off < n { *max_mw } else { 0 }
                    }
                    Demand::PowerEnvelope { max_mw, .. } => {
                        if slot < t.need.deadline {
                            *max_mw
                        } else {
                            0
                        }
                    }
                }
            })
            .sum()
    }

    /// Feeds one input; a `Need` returns the id of the request that speaks for it.
    pub fn handle(&mut self, now: Instant, input: AgentInput) -> Option<RequestId> {
        self.tick(now);
        let id = self.on_input(input);
        self.note_expecting();
        id
    }

    fn on_input(&mut self, input: AgentInput) -> Option<RequestId> {
        match input {
            AgentInput::Message(env) => {
                self.on_message(env);
                None
            }
            AgentInput::Need(need) => Some(self.on_need(need)),
            AgentInput::Measured {
                slot,
                measured_mw,
                forecast,
            } => {
                self.predicted = forecast.clone();
                self.pending_telemetry = Some(Telemetry {
                    slot,
                    measured_mw: measured_mw.max(0),
                    forecast,
                    holding: Vec::new(),
                });
                // Telemetry goes out at once: it is also the heartbeat.
                self.heartbeat();
                None
            }
            AgentInput::Done(request) => {
                self.on_done(request);
                None
            }
            AgentInput::Wants { slot, power_mw } => {
                if self.cfg.mode == AgentMode::Uncoordinated || slot < self.slot {
                    return None;
                }
                // Only ever lowered inside a slot: the coordinator may already have lent
                // what a first word left free.
                let power_mw = match self.want {
                    Some(w) if w.slot == slot => w.power_mw.min(power_mw.max(0)),
                    _ => power_mw.max(0),
                };
                self.want = Some(SlotWant { slot, power_mw });
                self.actuate();
                // Said at once (a heartbeat): the slot is running. A device that holds
                // nothing stays quiet: there is no grant to top up.
                if self.held().next().is_some() {
                    self.heartbeat();
                }
                None
            }
        }
    }

    /// Lets time pass: slot boundaries (actuation), heartbeats, retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
    }

    /// The next thing to do; [`Output::Timeout`] ends a drain.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let mut at = self.cfg.clock.start_of(self.slot.saturating_add(1));
        if self.cfg.mode != AgentMode::Uncoordinated {
            at = at.min(self.next_heartbeat);
            for t in self.needs.values() {
                if t.state == NeedState::Asked {
                    at = at.min(t.next_retransmit);
                }
            }
            if let (false, Some(from)) = (self.fallback_reported, self.silent_from()) {
                at = at.min(from.after_ms(self.cfg.silence_ms + 1));
            }
        }
        Output::Timeout(at.max(self.now))
    }

    fn tick(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        let slot = self.cfg.clock.slot_at(self.now);
        while self.slot < slot {
            self.slot += 1;
            let s = self.slot;
            self.on_slot(s);
        }
        if self.actuated.is_none() {
            self.actuate();
        }
        if self.cfg.mode == AgentMode::Uncoordinated {
            return;
        }
        self.note_expecting();
        let silent = self
            .silent_from()
            .is_some_and(|from| self.now.since(from) > self.cfg.silence_ms);
        if silent && !self.fallback_reported {
            self.fallback_reported = true;
            self.out.push_back(Output::Event(Event::Fallback {
                device: self.cfg.id.clone(),
                silent_since: self.last_heard,
            }));
            // The limit may change now that the safe rule applies.
            self.actuate();
        }
        if self.now >= self.next_heartbeat {
            self.heartbeat();
        }
        let due: Vec<RequestId> = self
            .needs
            .iter()
            .filter(|(_, t)| t.state == NeedState::Asked && t.next_retransmit <= self.now)
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            let cap = self.cfg.heartbeat_ms.max(self.cfg.retransmit_ms);
            let t = self.needs.get_mut(&k).expect("listed");
            t.backoff_ms = (t.backoff_ms * 2).min(cap);
            t.next_retransmit = self.now.after_ms(t.backoff_ms);
            let req = t.request.clone();
            self.send(Body::TimeslotRequest(req));
        }
    }

    fn send(&mut self, body: Body) {
        self.seq += 1;
        let msg = Envelope::new(self.cfg.id.clone(), self.seq, body);
        self.out.push_back(Output::Send {
            to: self.cfg.id.clone(),
            msg,
        });
    }

    fn holding(&self) -> Vec<(RequestId, u32)> {
        self.held().map(|h| (h.request, h.version)).collect()
    }

    fn heartbeat(&mut self) {
        self.next_heartbeat = self.now.after_ms(self.cfg.heartbeat_ms);
        if self.cfg.mode == AgentMode::Uncoordinated {
            self.pending_telemetry = None;
            return;
        }
        let mut holding = self.holding();
        // Requests the coordinator said wait, as version 0: were their award or final
        // refusal lost, the device would wait for ever.
        if self.cfg.mode == AgentMode::Negotiate {
            holding.extend(
                self.needs
                    .values()
                    .filter(|t| t.state == NeedState::Waiting)
                    .map(|t| (t.request.request, 0)),
            );
        }
        match self.pending_telemetry.take() {
            Some(mut t) => {
                t.holding = holding;
                self.send(Body::Telemetry(t));
            }
            // A device that holds nothing has no lease to renew: it stays quiet.
            None if holding.is_empty() => {}
            None => {
                let want = self.want.filter(|w| w.slot >= self.slot);
                self.send(Body::Heartbeat(Heartbeat { holding, want }))
            }
        }
    }

    /// Sets the port's limit for the current slot if it changed.
    fn actuate(&mut self) {
        let slot = self.slot;
        let limit = self.limit_at(slot);
        if self.actuated == Some((slot, limit)) {
            return;
        }
        self.actuated = Some((slot, limit));
        self.out.push_back(Output::Actuate {
            slot,
            limit_mw: limit,
        });
    }

    fn on_slot(&mut self, slot: Slot) {
        let slot_ms = self.cfg.clock.slot_ms;
        let ran = slot - 1;
        let mut ask = Vec::new();
        for (&k, t) in self.needs.iter_mut() {
            if matches!(t.state, NeedState::Over(_)) {
                continue;
            }
            // What ran in the slot that just ended.
            let p = if self.cfg.mode == AgentMode::Uncoordinated {
                0
            } else {
                t.granted_at(ran)
            };
            if p > 0 {
                t.started = true;
                t.progress += match t.need.demand {
                    Demand::EnergyTarget { .. } => p * slot_ms as i64 / 3_600_000,
                    _ => 1,
                };
            }
            t.held.retain(|h| {
                h.grant.end() > slot || h.grant.power_mw.is_empty() && h.valid_until > slot
            });
            match self.cfg.mode {
                AgentMode::Uncoordinated => {
                    if slot >= t.need.deadline {
                        t.state = NeedState::Over(NeedEnd::Served);
                    }
                }
                AgentMode::PerSlot => {
                    // The slot asked for has come: ask for the next one now, so that the
                    // answer is there before it starts.
                    if t.request.earliest_start <= slot {
                        ask.push(k);
                    }
                }
                AgentMode::Negotiate => {
                    let ends = t.grants_end();
                    let envelope = matches!(t.need.demand, Demand::PowerEnvelope { .. });
                    if t.state == NeedState::Retry && slot + 1 < t.need.deadline {
                        ask.push(k);
                    } else if t.state == NeedState::Granted {
                        if envelope && ends <= slot + 1 && ends < t.need.deadline {
                            // The next timeslot of an elastic load, asked before this one ends.
                            ask.push(k);
                        } else if ends <= slot {
                            t.state = NeedState::Over(NeedEnd::Served);
                        }
                    } else if slot >= t.need.deadline {
                        t.state = NeedState::Over(if t.progress > 0 {
                            NeedEnd::Served
                        } else {
                            NeedEnd::Refused
                        });
                    }
                }
            }
        }
        for k in ask {
            self.ask_rest(k);
        }
        self.actuate();
        // Needs long over are forgotten (bounded memory on a small device).
        let stale: Vec<RequestId> = self
            .needs
            .iter()
            .filter(|(_, t)| {
                matches!(t.state, NeedState::Over(_))
                    && t.held.is_empty()
                    && t.need.deadline.saturating_add(4) < slot
            })
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.needs.remove(&k);
            self.alias.retain(|_, v| *v != k);
        }
    }

    fn on_need(&mut self, need: Need) -> RequestId {
        let id = self.seq + 1;
        let placeholder = TimeslotRequest {
            request: id,
            priority: need.priority,
            earliest_start: need.earliest_start,
            deadline: need.deadline,
            demand: need.demand.clone(),
            bid_per_mille: need.bid_per_mille,
        };
        let t = Tracked {
            need,
            request: placeholder.clone(),
            state: NeedState::Asked,
            held: Vec::new(),
            next_retransmit: self.now.after_ms(self.cfg.retransmit_ms),
            backoff_ms: self.cfg.retransmit_ms,
            progress: 0,
            started: false,
        };
        self.needs.insert(id, t);
        self.alias.insert(id, id);
        match self.cfg.mode {
            AgentMode::Uncoordinated => {
                self.needs.get_mut(&id).expect("inserted").state = NeedState::Granted;
                self.actuate();
            }
            AgentMode::PerSlot => {
                let first = self.needs[&id].need.earliest_start.max(self.slot + 1);
                match self.per_slot_request(id, first, 0) {
                    Some(req) => {
                        self.alias.insert(req.request, id);
                        let t = self.needs.get_mut(&id).expect("inserted");
                        t.request = req.clone();
                        self.send(Body::TimeslotRequest(req));
                    }
                    None => {
                        self.needs.get_mut(&id).expect("inserted").state =
                            NeedState::Over(NeedEnd::Refused);
                    }
                }
            }
            AgentMode::Negotiate => self.send(Body::TimeslotRequest(placeholder)),
        }
        id
    }

    /// Per-slot mode: the request for one slot of a need — its next profile value, or its
    /// full power — with a bid that rises from 1× to 10× as the slack runs out (the market
    /// reads it as the price; the seed's rule ignores it). `None` when the need can no
    /// longer finish in its window.
    fn per_slot_request(
        &self,
        key: RequestId,
        slot: Slot,
        extra_progress: i64,
    ) -> Option<TimeslotRequest> {
        let t = &self.needs[&key];
        let need = &t.need;
        let slot_ms = self.cfg.clock.slot_ms;
        let progress = t.progress + extra_progress;
        let (value, remaining_slots) = match &need.demand {
            Demand::PowerProfile { profile, .. } => {
                let v = *profile.get(usize::try_from(progress).ok()?)?;
                (v, profile.len() as i64 - progress)
            }
            Demand::EnergyTarget {
                energy_mwh, max_mw, ..
            } => {
                let left = energy_mwh - progress;
                if left <= 0 {
                    return None;
                }
                (
                    PowerValue::exact(*max_mw),
                    i64::from(crate::device::slots_for_energy(left, *max_mw, slot_ms)),
                )
            }
            Demand::PowerEnvelope { min_mw, max_mw } => {
                (PowerValue::exact(self.envelope_max(*min_mw, *max_mw)), 1)
            }
            Demand::PowerForecast { .. } => return None,
        };
        if slot >= need.deadline {
            return None;
        }
        let slack = i64::from(need.deadline - slot) - remaining_slots;
        if slack < 0 {
            return None;
        }
        let window = i64::from(need.deadline.saturating_sub(need.earliest_start)).max(1);
        let urgency = 1000 + 9000 * (window - slack).clamp(0, window) / window;
        let bid = (i64::from(need.bid_per_mille) * urgency / 1000).clamp(1, 1_000_000) as u32;
        Some(TimeslotRequest {
            request: self.seq + 1,
            priority: need.priority,
            earliest_start: slot,
            deadline: need.deadline,
            demand: Demand::PowerProfile {
                profile: alloc::vec![value],
                interruptible: true,
                min_on_slots: 0,
                min_off_slots: 0,
            },
            bid_per_mille: bid,
        })
    }

    /// What an elastic load asks for: the highest P90 of its own forecast over the next four
    /// slots, between its minimum and its maximum (its maximum when it has no forecast).
    fn envelope_max(&self, min_mw: i64, max_mw: i64) -> i64 {
        if self.predicted.is_empty() {
            return max_mw;
        }
        let p90 = self
            .predicted
            .iter()
            .take(4)
            .map(|v| v.p90_mw)
            .max()
            .unwrap_or(max_mw);
        p90.clamp(min_mw.max(1), max_mw)
    }

    /// Asks again for what a need still lacks, under a new request id.
    fn ask_rest(&mut self, key: RequestId) {
        let Some(t) = self.needs.get(&key) else {
            return;
        };
        let need = t.need.clone();
        let non_interruptible = matches!(
            need.demand,
            Demand::PowerProfile {
                interruptible: false,
                ..
            }
        );
        let req = match self.cfg.mode {
            AgentMode::PerSlot => {
                // Granted for the slot now running? Then the next one continues the run.
                let running = t.granted_at(self.slot) > 0;
                if t.started && non_interruptible && !running {
                    // A running job that lost its slot has failed.
                    self.needs.get_mut(&key).expect("present").state =
                        NeedState::Over(NeedEnd::Cut);
                    return;
                }
                self.per_slot_request(key, self.slot + 1, i64::from(running))
            }
            _ => {
                let next = self
                    .slot
                    .max(need.earliest_start)
                    .max(t.grants_end().min(need.deadline));
                let rest = match &need.demand {
                    Demand::PowerProfile {
                        profile,
                        interruptible,
                        min_on_slots,
                        min_off_slots,
                    } => {
                        if t.started && !interruptible {
                            self.needs.get_mut(&key).expect("present").state =
                                NeedState::Over(NeedEnd::Cut);
                            return;
                        }
                        let left: Vec<PowerValue> =
                            profile.iter().skip(t.progress as usize).copied().collect();
                        (!left.is_empty()).then_some(Demand::PowerProfile {
                            profile: left,
                            interruptible: *interruptible,
                            min_on_slots: *min_on_slots,
                            min_off_slots: *min_off_slots,
                        })
                    }
                    Demand::EnergyTarget {
                        energy_mwh,
                        min_mw,
                        max_mw,
                    } => {
                        let left = energy_mwh - t.progress;
                        (left > 0).then_some(Demand::EnergyTarget {
                            energy_mwh: left,
                            min_mw: *min_mw,
                            max_mw: *max_mw,
                        })
                    }
                    Demand::PowerEnvelope { min_mw, max_mw } => {
                        (next < need.deadline).then(|| Demand::PowerEnvelope {
                            min_mw: *min_mw,
                            max_mw: self.envelope_max(*min_mw, *max_mw),
                        })
                    }
                    Demand::PowerForecast { .. } => None,
                };
                rest.and_then(|d| {
                    let window = need.deadline.saturating_sub(next);
                    (window > 0 && d.min_duration(window, self.cfg.clock.slot_ms) <= window).then(
                        || TimeslotRequest {
                            request: self.seq + 1,
                            priority: need.priority,
                            earliest_start: next,
                            deadline: need.deadline,
                            demand: d,
                            bid_per_mille: need.bid_per_mille,
                        },
                    )
                })
            }
        };
        let Some(req) = req else {
            let t = self.needs.get_mut(&key).expect("present");
            if t.held.iter().all(|h| h.grant.end() <= self.slot) {
                t.state = NeedState::Over(if t.progress > 0 {
                    NeedEnd::Served
                } else {
                    NeedEnd::Refused
                });
            }
            return;
        };
        let retransmit = self.now.after_ms(self.cfg.retransmit_ms);
        let t = self.needs.get_mut(&key).expect("present");
        t.request = req.clone();
        t.state = NeedState::Asked;
        t.next_retransmit = retransmit;
        t.backoff_ms = self.cfg.retransmit_ms;
        self.alias.insert(req.request, key);
        self.send(Body::TimeslotRequest(req));
    }

    fn on_done(&mut self, request: RequestId) {
        let Some(&key) = self.alias.get(&request) else {
            return;
        };
        let from_slot = self.slot + 1;
        let Some(t) = self.needs.get_mut(&key) else {
            return;
        };
        let mut releases: Vec<RequestId> = t.held.iter().map(|h| h.request).collect();
        if matches!(t.state, NeedState::Asked | NeedState::Waiting) {
            releases.push(t.request.request);
        }
        t.state = NeedState::Over(NeedEnd::Served);
        for h in t.held.iter_mut() {
            h.grant
                .power_mw
                .truncate(from_slot.saturating_sub(h.grant.start) as usize);
        }
        if self.cfg.mode != AgentMode::Uncoordinated {
            releases.sort_unstable();
            releases.dedup();
            for request in releases {
                self.send(Body::Release(Release { request, from_slot }));
            }
        }
    }

    fn on_message(&mut self, env: Envelope) {
        if env.device != self.cfg.id || env.validate().is_err() || env.body.from_device() {
            return;
        }
        if !self.replay.accept(env.seq) {
            return;
        }
        self.last_heard = self.now;
        self.fallback_reported = false;
        match env.body {
            Body::Award(Award {
                request,
                version,
                grant,
                valid_until,
            }) => self.on_grant(request, version, grant, valid_until, None),
            Body::Instruction(Instruction {
                request,
                version,
                kind,
                grant,
                valid_until,
            }) => self.on_grant(request, version, grant, valid_until, Some(kind)),
            Body::Lease(Lease {
                valid_until,
                grants,
            }) => {
                for (request, version) in grants {
                    let Some(&key) = self.alias.get(&request) else {
                        continue;
                    };
                    let Some(t) = self.needs.get_mut(&key) else {
                        continue;
                    };
                    for h in t.held.iter_mut() {
                        if h.request == request && h.version == version {
                            h.valid_until = h.valid_until.max(valid_until);
                        }
                    }
                }
                self.actuate();
            }
            Body::Reject(r) => self.on_reject(r),
            Body::Offer(o) => {
                let Some(&key) = self.alias.get(&o.request) else {
                    return;
                };
                let Some(t) = self.needs.get(&key) else {
                    return;
                };
                let choice = match o.options.iter().position(|g| {
                    g.end() <= t.need.accept_until && g.start >= t.need.earliest_start
                }) {
                    Some(i) => CounterChoice::Accept { option: i as u8 },
                    None => CounterChoice::Withdraw,
                };
                self.send(Body::CounterBid(CounterBid {
                    request: o.request,
                    round: o.round,
                    choice,
                }));
            }
            _ => {}
        }
    }

    fn on_grant(
        &mut self,
        request: RequestId,
        version: u32,
        grant: Grant,
        valid_until: Slot,
        kind: Option<InstructionKind>,
    ) {
        let Some(&key) = self.alias.get(&request) else {
            return;
        };
        let Some(t) = self.needs.get_mut(&key) else {
            return;
        };
        let before: i64 = t
            .held
            .iter()
            .map(|h| h.grant.power_mw.iter().sum::<i64>())
            .sum();
        if kind == Some(InstructionKind::Revoke) && grant.power_mw.is_empty() {
            // Revoked outright: forget it, so that heartbeats stop naming it.
            let before_len = t.held.len();
            t.held
                .retain(|h| h.request != request || h.version >= version);
            let dropped = t.held.len() != before_len;
            let still_wanted = !matches!(t.state, NeedState::Over(_));
            if dropped {
                self.actuate();
                if still_wanted && self.cfg.mode == AgentMode::Negotiate {
                    self.ask_rest(key);
                }
            }
            return;
        }
        let holds = t.held.iter().any(|h| h.request == request);
        if !holds && matches!(t.state, NeedState::Over(_)) && kind != Some(InstructionKind::Revoke)
        {
            // A grant for a need already over (its release was lost, or the grant came
            // after the device gave up): hand it back rather than keep it booked. All of it,
            // this slot too: the device draws nothing under a grant it does not hold (the
            // coordinator keeps booked what an older version allowed until its lease ends).
            if self.cfg.mode != AgentMode::Uncoordinated {
                let from_slot = self.slot;
                self.send(Body::Release(Release { request, from_slot }));
            }
            return;
        }
        match t.held.iter_mut().find(|h| h.request == request) {
            Some(h) if version <= h.version => return, // duplicate or stale
            Some(h) => {
                h.version = version;
                h.grant = grant;
                h.valid_until = valid_until;
            }
            None if kind.is_some() && version > 1 && kind != Some(InstructionKind::Resume) => {
                // A change to a grant this device does not hold any more: nothing to follow.
                return;
            }
            None => t.held.push(Held {
                request,
                version,
                grant,
                valid_until,
            }),
        }
        if t.request.request == request && !matches!(t.state, NeedState::Over(_)) {
            t.state = NeedState::Granted;
        }
        let after: i64 = t
            .held
            .iter()
            .map(|h| h.grant.power_mw.iter().sum::<i64>())
            .sum();
        self.actuate();
        // A grant cut below what the need still wants: ask again for the rest.
        let cut = matches!(
            kind,
            Some(InstructionKind::Shed | InstructionKind::Revoke | InstructionKind::Scale)
        ) && after < before;
        if cut && self.cfg.mode == AgentMode::Negotiate {
            self.ask_rest(key);
        }
    }

    fn on_reject(&mut self, r: Reject) {
        let Some(&key) = self.alias.get(&r.request) else {
            return;
        };
        let Some(t) = self.needs.get_mut(&key) else {
            return;
        };
        if t.request.request != r.request
            || matches!(t.state, NeedState::Granted | NeedState::Over(_))
        {
            return;
        }
        if let Some(offer) = &r.best_offer
            && offer.end() <= t.need.accept_until
        {
            t.state = NeedState::Waiting;
            self.send(Body::CounterBid(CounterBid {
                request: r.request,
                round: 1,
                choice: CounterChoice::Accept { option: 0 },
            }));
            return;
        }
        if r.reason == RejectReason::NotHeld {
            // The coordinator lost track of it (an answer lost): ask again.
            if self.cfg.mode == AgentMode::Negotiate {
                self.ask_rest(key);
            }
            return;
        }
        let elastic = matches!(t.need.demand, Demand::PowerEnvelope { .. });
        t.state = if r.waiting || self.cfg.mode == AgentMode::PerSlot {
            NeedState::Waiting
        } else if elastic && self.cfg.mode == AgentMode::Negotiate {
            NeedState::Retry
        } else {
            NeedState::Over(NeedEnd::Refused)
        };
    }
}
