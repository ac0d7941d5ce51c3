//! The allocation engine: an ascending ε-auction over the whole look-ahead horizon, then a
//! repair step that makes the allocation exactly feasible.
//!
//! Classes are served in strict order, critical first, each on what the classes above left.
//! Inside a class:
//!
//! 1. **Envelope minimums.** Elastic loads ([`Shape::Envelope`]) get their minimum in every
//!    slot of their window if it fits (in tie-break order), so that what is on stays on.
//! 2. **Auction.** Every deferrable demand ([`Shape::Fixed`] profiles, [`Shape::Energy`]
//!    targets) bids, through its proxy, for the option (start, and for energy targets a
//!    power level) that maximises its value minus the price of the slots it covers. Prices
//!    live on every (circuit, slot); where the bids overbook a circuit its price rises by
//!    `ε + step × overbooking`, and the proxies bid again — until no bid changes, or nothing
//!    is overbooked, or [`AuctionConfig::max_rounds`]. This is Bertsekas' auction with
//!    ascending prices, generalised from one object per bidder to paths through a tree and
//!    runs of slots; prices only rise, so it ends.
//! 3. **Repair.** Bids are placed for real in order of surplus (value minus price), each in
//!    its chosen option if that still fits every circuit on its path, else in the best
//!    option that does (the exact check of [`CapacityBook::check`]); what fits nowhere is
//!    returned with the binding circuit and slot and the best offer outside its terms (a
//!    later start, or less power for longer).
//! 4. **Envelopes share the rest** max-min fairly (progressive filling through the tree), up
//!    to their maximum.
//!
//! Values follow [`crate::welfare`]; prices are in the same unit (value per kWh). Only the
//! feasibility test is exact (integers); values and prices are `f64`, and ties go to the
//! lower tie-break key, so the result is deterministic.

use alloc::vec;
use alloc::vec::Vec;

use powerslot_core::Slot;

use crate::circuit::{Binding, CapacityBook, CircuitIx, CircuitTree};
use crate::device::{Priority, slots_for_energy};
use crate::welfare;

/// What a candidate needs, in the engine's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A run of fixed powers (a profile's P90), one per slot, not split.
    Fixed(alloc::vec::Vec<i64>),
    /// An energy target: one run at an even power between `min_mw` and `max_mw`.
    Energy {
        /// Energy needed, mWh.
        energy_mwh: i64,
        /// Lowest power when on.
        min_mw: i64,
        /// Highest power.
        max_mw: i64,
    },
    /// Between `min_mw` and `max_mw` in every slot of the window, or nothing.
    Envelope {
        /// Lowest useful power.
        min_mw: i64,
        /// Power wanted.
        max_mw: i64,
    },
}

/// One request to place.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Its class.
    pub priority: Priority,
    /// Its bid multiplier, per mille (after aging).
    pub bid_per_mille: u32,
    /// Lower wins ties (port number, then arrival).
    pub tiebreak: u64,
    /// The circuit it hangs from.
    pub circuit: CircuitIx,
    /// Earliest start as requested (delay counts from here).
    pub earliest: Slot,
    /// Deadline (exclusive).
    pub deadline: Slot,
    /// What it needs.
    pub shape: Shape,
}

impl Candidate {
    /// Slots needed at full power.
    pub fn min_len(&self, slot_ms: u64) -> u32 {
        match &self.shape {
            Shape::Fixed(p) => p.len() as u32,
            Shape::Energy {
                energy_mwh, max_mw, ..
            } => slots_for_energy(*energy_mwh, *max_mw, slot_ms),
            Shape::Envelope { .. } => self.deadline.saturating_sub(self.earliest),
        }
    }

    /// The seed's acceptable latency: slack between the earliest finish and the deadline.
    pub fn latency(&self, slot_ms: u64) -> u32 {
        self.deadline
            .saturating_sub(self.earliest)
            .saturating_sub(self.min_len(slot_ms))
    }
}

/// Where and how much a candidate is placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// First slot.
    pub start: Slot,
    /// Power per slot from `start`, mW.
    pub powers: Vec<i64>,
}

impl Placement {
    /// One past the last slot.
    pub fn end(&self) -> Slot {
        self.start + self.powers.len() as Slot
    }
}

/// The answer for one candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Booked in the capacity book.
    Placed(Placement),
    /// Not placed: where it binds, and the best placement outside its terms (not booked).
    Unplaced {
        /// The first circuit and slot that refused its preferred option (`None` when its
        /// window lies outside the horizon).
        binding: Option<Binding>,
        /// A later start or less power that would fit now.
        best_offer: Option<Placement>,
    },
}

/// Tuning of the auction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuctionConfig {
    /// Slot length, ms (for energy and durations).
    pub slot_ms: u64,
    /// Most bidding rounds per class.
    pub max_rounds: u32,
    /// Price step per unit of overbooking, as a fraction of the class's value per kWh.
    pub step: f64,
    /// Minimum price step, same unit.
    pub epsilon: f64,
    /// Most distinct power levels an energy target bids with (its maximum, then lower levels
    /// that run longer).
    pub energy_levels: usize,
}

impl AuctionConfig {
    /// Defaults for a grid of `slot_ms` slots.
    pub fn new(slot_ms: u64) -> Self {
        Self {
            slot_ms,
            // Ten rounds, then the repair: measured on the neighbourhood (200 and 1,000
            // devices), twenty rounds earned 0.4–1 % more welfare for twice the rounds.
            max_rounds: 10,
            step: 0.5,
            epsilon: 0.01,
            energy_levels: 4,
        }
    }
}

/// What a batch produced.
#[derive(Clone, Debug, Default)]
pub struct AuctionResult {
    /// One outcome per candidate, in the candidates' order.
    pub outcomes: Vec<Outcome>,
    /// Per candidate, the bidding round in which its bid last changed (1 if its first bid
    /// stood).
    pub rounds: Vec<u32>,
    /// Bidding rounds run, summed over the classes.
    pub iterations: u32,
}

/// One way of running a candidate: a length and its powers.
#[derive(Clone, Debug)]
struct Variant {
    len: u32,
    /// Constant power for energy targets; `None` for fixed profiles (see `Prep::fixed`).
    level: Option<i64>,
    kwh: f64,
}

/// A candidate ready for bidding.
struct Prep<'a> {
    path: &'a [CircuitIx],
    /// First allowed start.
    lo: Slot,
    /// One past the last allowed end.
    hi: Slot,
    min_len: u32,
    latency: u32,
    earliest: Slot,
    vpk: f64,
    variants: Vec<Variant>,
    fixed: Option<&'a [i64]>,
}

impl Prep<'_> {
    fn powers(&self, v: usize) -> Vec<i64> {
        (0..self.variants[v].len as usize)
            .map(|k| self.power(v, k))
            .collect()
    }

    /// Power of variant `v` in its `k`-th slot.
    #[inline]
    fn power(&self, v: usize, k: usize) -> i64 {
        match self.variants[v].level {
            Some(q) => q,
            None => self.fixed.map_or(0, |f| f[k]),
        }
    }

    /// Σ power × path price of option (`v`, `start`) from the window's price prefix sums
    /// ([`price_prefix`]), in mW × price; × slot hours ÷ 10⁶ gives the cost.
    fn cost(&self, v: usize, start: Slot, prefix: &[f64]) -> f64 {
        let var = &self.variants[v];
        let off = (start - self.lo) as usize;
        match (var.level, self.fixed) {
            (Some(q), _) => q as f64 * (prefix[off + var.len as usize] - prefix[off]),
            (None, Some(f)) => f
                .iter()
                .enumerate()
                .map(|(k, &pw)| pw as f64 * (prefix[off + k + 1] - prefix[off + k]))
                .sum::<f64>(),
            (None, None) => 0.0,
        }
    }

    fn value(&self, v: usize, start: Slot) -> f64 {
        let var = &self.variants[v];
        let finish = start + var.len;
        let delay = finish.saturating_sub(self.earliest + self.min_len);
        self.vpk * var.kwh * welfare::decay(delay, self.latency)
    }

    /// Every (variant, start) inside the window and the horizon.
    fn options(&self) -> impl Iterator<Item = (usize, Slot)> + '_ {
        self.variants.iter().enumerate().flat_map(move |(v, var)| {
            let last = self.hi.saturating_sub(var.len);
            (self.lo..=last)
                .filter(move |_| self.hi >= self.lo + var.len)
                .map(move |s| (v, s))
        })
    }
}

/// Prices per (circuit, slot) over the book's window, kept only for the circuits on some
/// bidder's path: a batch's bidders hang from a few circuits of a tree that may have one per
/// house, and a row per circuit of a large tree cost more to zero each round than the
/// auction itself.
struct Prices {
    origin: Slot,
    len: usize,
    /// Row of each circuit in `lambda`, or [`Prices::NO_ROW`] where no bidder's path passes.
    row: Vec<u32>,
    /// The circuit of each row.
    nodes: Vec<CircuitIx>,
    lambda: Vec<f64>,
}

impl Prices {
    const NO_ROW: u32 = u32::MAX;

    fn new(nodes: usize, book: &CapacityBook, preps: &[Prep]) -> Self {
        let mut row = vec![Self::NO_ROW; nodes];
        let mut on_paths = Vec::new();
        for p in preps {
            for &n in p.path {
                if row[n as usize] == Self::NO_ROW {
                    row[n as usize] = on_paths.len() as u32;
                    on_paths.push(n);
                }
            }
        }
        let len = book.horizon() as usize;
        Self {
            origin: book.origin(),
            len,
            row,
            lambda: vec![0.0; on_paths.len() * len],
            nodes: on_paths,
        }
    }

    /// Index of (node, slot) in `lambda`, if the node has a row.
    #[inline]
    fn index(&self, node: CircuitIx, slot: Slot) -> Option<usize> {
        let r = self.row[node as usize];
        (r != Self::NO_ROW).then(|| r as usize * self.len + (slot - self.origin) as usize)
    }

    #[inline]
    fn at(&self, node: CircuitIx, slot: Slot) -> f64 {
        self.index(node, slot).map_or(0.0, |i| self.lambda[i])
    }

    fn path_price(&self, path: &[CircuitIx], slot: Slot) -> f64 {
        path.iter().map(|&n| self.at(n, slot)).sum()
    }
}

fn kwh(power_mw: i64, slots: u32, slot_ms: u64) -> f64 {
    power_mw as f64 * f64::from(slots) * slot_ms as f64 / 3.6e12
}

fn prepare<'a>(
    tree: &'a CircuitTree,
    book: &CapacityBook,
    now: Slot,
    c: &'a Candidate,
    cfg: &AuctionConfig,
) -> Prep<'a> {
    let min_len = c.min_len(cfg.slot_ms);
    let mut variants = Vec::new();
    let mut fixed = None;
    match &c.shape {
        Shape::Fixed(p) => {
            let energy: i64 = p.iter().sum();
            variants.push(Variant {
                len: p.len() as u32,
                level: None,
                kwh: kwh(energy, 1, cfg.slot_ms),
            });
            fixed = Some(p.as_slice());
        }
        Shape::Energy {
            energy_mwh,
            min_mw,
            max_mw,
        } => {
            // Lengths from the shortest (full power) to the longest at which the even power
            // is still at least the minimum, spread over `energy_levels` choices.
            let shortest = min_len.max(1);
            let window = c.deadline.saturating_sub(c.earliest.max(now));
            let longest = slots_for_energy(*energy_mwh, (*min_mw).max(1), cfg.slot_ms)
                .min(window.max(shortest));
            let levels = cfg.energy_levels.max(1) as u32;
            let mut last_len = 0;
            for k in 0..levels {
                let len = if levels == 1 {
                    shortest
                } else {
                    shortest + (longest.saturating_sub(shortest)) * k / (levels - 1)
                };
                if len == last_len || len == 0 {
                    continue;
                }
                last_len = len;
                // Even power over `len` slots, rounded up so the target is met.
                let per_slot_ms = i128::from(cfg.slot_ms.max(1)) * i128::from(len);
                let q = (i128::from(*energy_mwh) * 3_600_000 + per_slot_ms - 1) / per_slot_ms;
                let q = i64::try_from(q).unwrap_or(i64::MAX).clamp(*min_mw, *max_mw);
                variants.push(Variant {
                    len,
                    level: Some(q),
                    kwh: *energy_mwh as f64 / 1e6,
                });
            }
        }
        Shape::Envelope { .. } => {}
    }
    Prep {
        path: tree.path(c.circuit),
        lo: c.earliest.max(now).max(book.origin()),
        hi: c.deadline.min(book.end()),
        min_len,
        latency: c.latency(cfg.slot_ms),
        earliest: c.earliest,
        vpk: welfare::value_per_kwh(c.priority, c.bid_per_mille),
        variants,
        fixed,
    }
}

/// Best (variant, start, surplus) under `prices`, scanning every option; ties go to the
/// earlier start, then the shorter run.
fn best_response(
    p: &Prep,
    prices: &Prices,
    slot_ms: u64,
    scratch: &mut Vec<f64>,
) -> Option<(usize, Slot, f64)> {
    if p.hi <= p.lo {
        return None;
    }
    let to_kwh = slot_ms as f64 / 3.6e12;
    price_prefix(p, prices, scratch);
    let mut best: Option<(usize, Slot, f64)> = None;
    for (v, s) in p.options() {
        let surplus = p.value(v, s) - p.cost(v, s, scratch) * to_kwh;
        if best.is_none_or(|(_, _, b)| surplus > b + 1e-12) {
            best = Some((v, s, surplus));
        }
    }
    best
}

/// The path's price per slot of `p`'s window as prefix sums into `out` (`out[k]` is the sum
/// over the first `k` slots), for [`Prep::cost`].
fn price_prefix(p: &Prep, prices: &Prices, out: &mut Vec<f64>) {
    out.clear();
    out.push(0.0);
    let mut acc = 0.0;
    for s in p.lo..p.hi {
        acc += prices.path_price(p.path, s);
        out.push(acc);
    }
}

/// Places a batch of candidates into `book` (see the module docs). `now` is the first slot
/// that may still be granted.
pub fn allocate(
    tree: &CircuitTree,
    book: &mut CapacityBook,
    now: Slot,
    cands: &[Candidate],
    cfg: &AuctionConfig,
) -> AuctionResult {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; cands.len()];
    let mut rounds = vec![1u32; cands.len()];
    let mut iterations = 0;
    let mut classes: Vec<Priority> = cands.iter().map(|c| c.priority).collect();
    classes.sort_unstable_by(|a, b| b.cmp(a));
    classes.dedup();
    for class in classes {
        let mut members: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].priority == class)
            .collect();
        members.sort_by_key(|&i| (cands[i].tiebreak, i));
        let (envelopes, jobs): (Vec<usize>, Vec<usize>) = members
            .iter()
            .partition(|&&i| matches!(cands[i].shape, Shape::Envelope { .. }));
        // 1. Envelope minimums.
        let mut env_windows = Vec::new();
        for &i in &envelopes {
            let c = &cands[i];
            let Shape::Envelope { min_mw, .. } = c.shape else {
                continue;
            };
            let lo = c.earliest.max(now).max(book.origin());
            let hi = c.deadline.min(book.end());
            if hi <= lo {
                outcomes[i] = Some(Outcome::Unplaced {
                    binding: None,
                    best_offer: None,
                });
                continue;
            }
            let mins = vec![min_mw; (hi - lo) as usize];
            match book.check(tree.path(c.circuit), lo, &mins) {
                Ok(()) => {
                    book.add(tree.path(c.circuit), lo, &mins);
                    env_windows.push((i, lo, hi));
                }
                Err(b) => {
                    outcomes[i] = Some(Outcome::Unplaced {
                        binding: Some(b),
                        best_offer: None,
                    });
                }
            }
        }
        // 2. Auction among the class's deferrable demands.
        let preps: Vec<Prep> = jobs
            .iter()
            .map(|&i| prepare(tree, book, now, &cands[i], cfg))
            .collect();
        let mut prices = Prices::new(tree.len(), book, &preps);
        let mut demand = vec![0i64; prices.lambda.len()];
        let mut choice: Vec<Option<(usize, Slot, f64)>> = vec![None; jobs.len()];
        let mut scratch = Vec::new();
        let vref = welfare::value_per_kwh(class, 1000);
        let mut dirty = vec![true; jobs.len()];
        for round in 1..=cfg.max_rounds {
            iterations += 1;
            let mut changed = false;
            for (k, p) in preps.iter().enumerate() {
                if !dirty[k] {
                    continue;
                }
                let new = best_response(p, &prices, cfg.slot_ms, &mut scratch);
                let same = match (&new, &choice[k]) {
                    (Some((v, s, _)), Some((v0, s0, _))) => v == v0 && s == s0,
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    changed = true;
                    rounds[jobs[k]] = round;
                }
                choice[k] = new;
            }
            if !changed && round > 1 {
                break;
            }
            // Demand on every (circuit, slot) the bids touch, on top of what is booked.
            demand.fill(0);
            for (k, p) in preps.iter().enumerate() {
                if let Some((v, s, _)) = choice[k] {
                    for off in 0..p.variants[v].len as usize {
                        let (pw, slot) = (p.power(v, off), s + off as Slot);
                        for &n in p.path {
                            if let Some(i) = prices.index(n, slot) {
                                demand[i] = demand[i].saturating_add(pw);
                            }
                        }
                    }
                }
            }
            let mut over = Vec::new();
            for (i, &d) in demand.iter().enumerate() {
                if d == 0 {
                    continue;
                }
                let node = prices.nodes[i / prices.len];
                let slot = prices.origin + (i % prices.len) as Slot;
                let free = book.headroom(node, slot).max(0);
                if d > free {
                    let excess = (d - free) as f64 / (free.max(1) as f64).max(d as f64);
                    prices.lambda[i] += vref * (cfg.epsilon + cfg.step * excess);
                    over.push((node, slot));
                }
            }
            if over.is_empty() {
                break;
            }
            // Only bidders whose window and path meet a price that moved bid again.
            for (k, p) in preps.iter().enumerate() {
                dirty[k] = over
                    .iter()
                    .any(|&(n, s)| s >= p.lo && s < p.hi && p.path.contains(&n));
            }
        }
        // 3. Repair: place for real, by surplus.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by(|&a, &b| {
            let sa = choice[a].map_or(f64::NEG_INFINITY, |c| c.2);
            let sb = choice[b].map_or(f64::NEG_INFINITY, |c| c.2);
            sb.partial_cmp(&sa)
                .unwrap_or(core::cmp::Ordering::Equal)
                .then(cands[jobs[a]].tiebreak.cmp(&cands[jobs[b]].tiebreak))
                .then(a.cmp(&b))
        });
        for k in order {
            let p = &preps[k];
            let i = jobs[k];
            if let Some((v, s, _)) = choice[k] {
                let pw = p.powers(v);
                if book.check(p.path, s, &pw).is_ok() {
                    book.add(p.path, s, &pw);
                    outcomes[i] = Some(Outcome::Placed(Placement {
                        start: s,
                        powers: pw,
                    }));
                    continue;
                }
            }
            outcomes[i] = Some(place_best_feasible(p, &prices, book, cfg.slot_ms));
        }
        // 4. Envelopes share what is left, max-min fair through the tree.
        let placed = fill_envelopes(tree, book, cands, &env_windows);
        for (i, placement) in placed {
            outcomes[i] = Some(Outcome::Placed(placement));
        }
    }
    AuctionResult {
        outcomes: outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Unplaced {
                    binding: None,
                    best_offer: None,
                })
            })
            .collect(),
        rounds,
        iterations,
    }
}

/// The best option that fits, by surplus at the final prices; else the binding of the most
/// valuable option and the best offer outside the candidate's terms.
fn place_best_feasible(
    p: &Prep,
    prices: &Prices,
    book: &mut CapacityBook,
    slot_ms: u64,
) -> Outcome {
    let to_kwh = slot_ms as f64 / 3.6e12;
    let mut prefix = Vec::new();
    price_prefix(p, prices, &mut prefix);
    let mut opts: Vec<(f64, usize, Slot)> = p
        .options()
        .map(|(v, s)| (p.value(v, s) - p.cost(v, s, &prefix) * to_kwh, v, s))
        .collect();
    opts.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(core::cmp::Ordering::Equal)
            .then(a.2.cmp(&b.2))
            .then(a.1.cmp(&b.1))
    });
    let mut first_binding = None;
    for &(_, v, s) in &opts {
        let pw = p.powers(v);
        match book.check(p.path, s, &pw) {
            Ok(()) => {
                book.add(p.path, s, &pw);
                return Outcome::Placed(Placement {
                    start: s,
                    powers: pw,
                });
            }
            Err(b) => {
                if first_binding.is_none() {
                    first_binding = Some(b);
                }
            }
        }
    }
    // Nothing inside the terms: the earliest fit after the deadline, full power first, then
    // the lower levels of an energy target.
    let mut best_offer = None;
    'outer: for v in 0..p.variants.len() {
        let pw = p.powers(v);
        let len = pw.len() as Slot;
        let from = p.lo.max(p.hi.saturating_sub(len).saturating_add(1));
        let mut s = from;
        while s + len <= book.end() {
            if book.check(p.path, s, &pw).is_ok() {
                best_offer = Some(Placement {
                    start: s,
                    powers: pw,
                });
                break 'outer;
            }
            s += 1;
        }
    }
    Outcome::Unplaced {
        binding: first_binding,
        best_offer,
    }
}

/// The most valuable option of one candidate that fits the book as it is (nothing is booked;
/// no prices). Envelopes are probed at their minimum.
pub fn probe(
    tree: &CircuitTree,
    book: &CapacityBook,
    now: Slot,
    c: &Candidate,
    cfg: &AuctionConfig,
) -> Option<Placement> {
    if let Shape::Envelope { min_mw, .. } = c.shape {
        let lo = c.earliest.max(now).max(book.origin());
        let hi = c.deadline.min(book.end());
        if hi <= lo {
            return None;
        }
        let mins = vec![min_mw; (hi - lo) as usize];
        return book
            .check(tree.path(c.circuit), lo, &mins)
            .ok()
            .map(|()| Placement {
                start: lo,
                powers: mins,
            });
    }
    let p = prepare(tree, book, now, c, cfg);
    let mut best: Option<(f64, usize, Slot)> = None;
    for (v, s) in p.options() {
        let value = p.value(v, s);
        if best.is_some_and(|(b, _, _)| value <= b) {
            continue;
        }
        if book.check(p.path, s, &p.powers(v)).is_ok() {
            best = Some((value, v, s));
        }
    }
    best.map(|(_, v, s)| Placement {
        start: s,
        powers: p.powers(v),
    })
}

/// Progressive filling of envelopes above their (already booked) minimums, slot by slot:
/// every unfrozen envelope rises by the same amount until it reaches its maximum or a
/// circuit above it is full. Returns each envelope's placement (minimum plus share).
fn fill_envelopes(
    tree: &CircuitTree,
    book: &mut CapacityBook,
    cands: &[Candidate],
    windows: &[(usize, Slot, Slot)],
) -> Vec<(usize, Placement)> {
    let mut result: Vec<(usize, Placement)> = windows
        .iter()
        .map(|&(i, lo, hi)| {
            let Shape::Envelope { min_mw, .. } = cands[i].shape else {
                unreachable!("only envelopes have windows here")
            };
            (
                i,
                Placement {
                    start: lo,
                    powers: vec![min_mw; (hi - lo) as usize],
                },
            )
        })
        .collect();
    if windows.is_empty() {
        return result;
    }
    let lo = windows.iter().map(|w| w.1).min().unwrap_or(0);
    let hi = windows.iter().map(|w| w.2).max().unwrap_or(0);
    for slot in lo..hi {
        // (result index, room left to its maximum)
        let mut active: Vec<(usize, i64)> = windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.1 <= slot && slot < w.2)
            .map(|(r, w)| {
                let Shape::Envelope { min_mw, max_mw } = cands[w.0].shape else {
                    unreachable!("only envelopes have windows here")
                };
                (r, max_mw - min_mw)
            })
            .filter(|&(_, room)| room > 0)
            .collect();
        while !active.is_empty() {
            // Headroom per circuit divided among the active envelopes below it.
            let mut count = alloc::collections::BTreeMap::<CircuitIx, i64>::new();
            for &(r, _) in &active {
                for &n in tree.path(cands[windows[r].0].circuit) {
                    *count.entry(n).or_default() += 1;
                }
            }
            let mut step = active.iter().map(|a| a.1).min().unwrap_or(0);
            for (&n, &k) in &count {
                step = step.min(book.headroom(n, slot).max(0) / k);
            }
            if step > 0 {
                for a in active.iter_mut() {
                    let (r, ref mut room) = *a;
                    let path = tree.path(cands[windows[r].0].circuit);
                    book.add(path, slot, &[step]);
                    let off = (slot - result[r].1.start) as usize;
                    result[r].1.powers[off] += step;
                    *room -= step;
                }
            }
            // Freeze what reached its maximum, and everything under a circuit with less
            // than one milliwatt per envelope left.
            let full: Vec<CircuitIx> = count
                .iter()
                .filter(|&(&n, &k)| book.headroom(n, slot).max(0) < k)
                .map(|(&n, _)| n)
                .collect();
            let before = active.len();
            active.retain(|&(r, room)| {
                room > 0
                    && !tree
                        .path(cands[windows[r].0].circuit)
                        .iter()
                        .any(|n| full.contains(n))
            });
            if step == 0 && active.len() == before {
                break;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::CircuitSpec;

    fn site(rating: i64) -> CircuitTree {
        CircuitTree::single("site", rating).unwrap()
    }

    fn job(tb: u64, p: Priority, powers: Vec<i64>, earliest: Slot, deadline: Slot) -> Candidate {
        Candidate {
            priority: p,
            bid_per_mille: 1000,
            tiebreak: tb,
            circuit: 0,
            earliest,
            deadline,
            shape: Shape::Fixed(powers),
        }
    }

    #[test]
    fn flexible_jobs_move_out_of_the_way_of_tight_ones() {
        // 10 kW site, 4 slots. A flexible 8 kW job (window 4) arrives with a tight 8 kW job
        // (window 1, slot 0). Greedy by arrival would put the flexible one at slot 0.
        let t = site(10_000_000);
        let mut b = CapacityBook::new(&t, 0, 8);
        let cands = vec![
            job(0, Priority::Normal, vec![8_000_000], 0, 4),
            job(1, Priority::Normal, vec![8_000_000], 0, 1),
        ];
        let r = allocate(&t, &mut b, 0, &cands, &AuctionConfig::new(900_000));
        let starts: Vec<Slot> = r
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Placed(p) => p.start,
                _ => panic!("both fit: {o:?}"),
            })
            .collect();
        assert_eq!(starts[1], 0);
        assert!(starts[0] >= 1);
        assert!(b.overbooked().is_empty());
    }

    #[test]
    fn higher_classes_go_first_and_refusals_name_the_binding() {
        let t = site(10_000_000);
        let mut b = CapacityBook::new(&t, 0, 4);
        let cands = vec![
            job(0, Priority::Low, vec![6_000_000; 2], 0, 2),
            job(1, Priority::High, vec![6_000_000; 2], 0, 2),
        ];
        let r = allocate(&t, &mut b, 0, &cands, &AuctionConfig::new(900_000));
        assert!(matches!(r.outcomes[1], Outcome::Placed(_)));
        match &r.outcomes[0] {
            Outcome::Unplaced {
                binding: Some(bd),
                best_offer: Some(offer),
            } => {
                assert_eq!(bd.circuit, 0);
                assert_eq!(bd.committed_mw, 6_000_000);
                assert_eq!(offer.start, 2); // right after the high job
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn energy_targets_take_less_power_for_longer_when_that_is_what_fits() {
        // An EV wants 4 kWh in 4 × 15-min slots (max 16 kW, min 2 kW) on a 5 kW feeder: it
        // can only have 4 kW over the whole window.
        let t = site(5_000_000);
        let mut b = CapacityBook::new(&t, 0, 4);
        let ev = Candidate {
            priority: Priority::Normal,
            bid_per_mille: 1000,
            tiebreak: 0,
            circuit: 0,
            earliest: 0,
            deadline: 4,
            shape: Shape::Energy {
                energy_mwh: 4_000_000,
                min_mw: 2_000_000,
                max_mw: 16_000_000,
            },
        };
        let r = allocate(&t, &mut b, 0, &[ev], &AuctionConfig::new(900_000));
        match &r.outcomes[0] {
            Outcome::Placed(p) => {
                assert_eq!(p.powers.len(), 4);
                assert!(p.powers.iter().all(|&x| x == 4_000_000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn envelopes_share_fairly_under_every_circuit() {
        let t = CircuitTree::new(vec![
            CircuitSpec {
                name: "site".into(),
                parent: None,
                rating_mw: 9_000,
            },
            CircuitSpec {
                name: "a".into(),
                parent: Some("site".into()),
                rating_mw: 2_000,
            },
            CircuitSpec {
                name: "b".into(),
                parent: Some("site".into()),
                rating_mw: 9_000,
            },
        ])
        .unwrap();
        let a = t.index_of("a").unwrap();
        let bb = t.index_of("b").unwrap();
        let mut book = CapacityBook::new(&t, 0, 2);
        let env = |tb, circuit| Candidate {
            priority: Priority::Normal,
            bid_per_mille: 1000,
            tiebreak: tb,
            circuit,
            earliest: 0,
            deadline: 1,
            shape: Shape::Envelope {
                min_mw: 100,
                max_mw: 5_000,
            },
        };
        let cands = vec![env(0, a), env(1, bb), env(2, bb)];
        let r = allocate(&t, &mut book, 0, &cands, &AuctionConfig::new(60_000));
        let got: Vec<i64> = r
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Placed(p) => p.powers[0],
                _ => 0,
            })
            .collect();
        // Circuit a caps its one envelope at 2 W; the two on b split the remaining 7 W.
        assert_eq!(got, vec![2_000, 3_500, 3_500]);
        assert!(book.overbooked().is_empty());
    }
}
