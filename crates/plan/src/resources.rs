//! Remaining capacity per slot, for schedule generation with time-varying capacity.
//!
//! [`Availability`] keeps, for every slot materialised so far, how much of each
//! resource is still free. Slots are materialised lazily from the capacity
//! profiles, so no horizon has to be guessed up front; [`Availability::reset`]
//! restores the capacities with one copy, so one buffer serves thousands of
//! schedules.
//!
//! Slots are kept up to the longest supported horizon
//! ([`powerslot_core::limits::horizon_for`]) and no further: a task that would end
//! past it is placed there without reserving anything, so the pass ends, and the
//! validator names the task that runs past the horizon. Memory therefore never
//! follows a number written in the instance, only the horizon a schedule reaches.

use powerslot_core::Slot;
use powerslot_core::limits::horizon_for;

use crate::problem::Problem;

/// Free capacity per (slot, resource), slot-major.
#[derive(Clone, Debug)]
pub struct Availability {
    m: usize,
    free: Vec<i64>,
    base: Vec<i64>,
    capacity: Vec<powerslot_core::CapacityProfile>,
    /// Slots beyond this are never materialised.
    limit: usize,
}

impl Availability {
    /// Full capacity everywhere, with `hint` slots materialised up front.
    pub fn new(p: &Problem<'_>, hint: usize) -> Self {
        let mut a = Self {
            m: p.m,
            free: Vec::new(),
            base: Vec::new(),
            capacity: p.capacity.clone(),
            limit: horizon_for(p.m) as usize,
        };
        a.ensure(hint.max(16));
        a
    }

    /// Number of slots materialised.
    pub fn len(&self) -> usize {
        self.base.len() / self.m
    }

    /// Whether no slot is materialised (never true after `new`).
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }

    /// Makes slots `0..slots` addressable (at most up to the horizon limit).
    #[inline]
    pub fn ensure(&mut self, slots: usize) {
        let have = self.len();
        let slots = slots.min(self.limit);
        if slots <= have {
            return;
        }
        let want = slots.max(have * 2).min(self.limit);
        self.base.reserve((want - have) * self.m);
        self.free.reserve((want - have) * self.m);
        for s in have..want {
            for k in 0..self.m {
                let c = self.capacity[k].at(s as Slot);
                self.base.push(c);
                self.free.push(c);
            }
        }
    }

    /// Restores full capacity in every materialised slot.
    pub fn reset(&mut self) {
        self.free.copy_from_slice(&self.base);
    }

    /// Free amount of resource `k` in `slot` (materialising it if needed); 0 past
    /// the horizon limit.
    pub fn free(&mut self, slot: Slot, k: usize) -> i64 {
        self.ensure(slot as usize + 1);
        self.free
            .get(slot as usize * self.m + k)
            .copied()
            .unwrap_or(0)
    }

    /// Earliest start `>= from` at which `demand` fits for `duration` slots, or the
    /// first start whose run would pass the horizon limit (the validator then
    /// refuses the schedule). Terminates because `t` only grows.
    #[inline]
    pub fn earliest_fit(&mut self, demand: &[(usize, i64)], duration: u32, from: Slot) -> Slot {
        let d = duration as usize;
        let mut t = from as usize;
        'outer: loop {
            if t + d > self.limit {
                return t as Slot;
            }
            self.ensure(t + d);
            // Scan backwards so a failure at slot s lets us jump past it.
            let mut s = t + d;
            while s > t {
                s -= 1;
                let row = &self.free[s * self.m..s * self.m + self.m];
                if demand.iter().any(|&(k, q)| row[k] < q) {
                    t = s + 1;
                    continue 'outer;
                }
            }
            return t as Slot;
        }
    }

    /// Latest start `s` with `s + duration <= latest_finish` and `s >= earliest`
    /// at which `demand` fits, if any.
    #[inline]
    pub fn latest_fit(
        &mut self,
        demand: &[(usize, i64)],
        duration: u32,
        earliest: Slot,
        latest_finish: Slot,
    ) -> Option<Slot> {
        let d = duration as usize;
        let lf = (latest_finish as usize).min(self.limit);
        if lf < d + earliest as usize {
            return None;
        }
        self.ensure(lf);
        let mut t = lf - d;
        loop {
            // Scan forwards so a failure at slot s lets us jump to end before it.
            let (free, m) = (&self.free, self.m);
            let blocked = (t..t + d).find(|&s| {
                let row = &free[s * m..s * m + m];
                demand.iter().any(|&(k, q)| row[k] < q)
            });
            match blocked {
                None => return Some(t as Slot),
                Some(s) if s < d + earliest as usize => return None,
                Some(s) => t = s - d,
            }
        }
    }

    /// Takes `demand` for `duration` slots from `start`.
    #[inline]
    pub fn reserve(&mut self, demand: &[(usize, i64)], start: Slot, duration: u32) {
        let (s0, s1) = (
            start as usize,
            (start as usize + duration as usize).min(self.limit),
        );
        self.ensure(s1);
        for s in s0..s1 {
            let row = &mut self.free[s * self.m..s * self.m + self.m];
            for &(k, q) in demand {
                row[k] -= q;
            }
        }
    }

    /// Gives `demand` back for `duration` slots from `start`.
    #[inline]
    pub fn unreserve(&mut self, demand: &[(usize, i64)], start: Slot, duration: u32) {
        let (s0, s1) = (
            start as usize,
            (start as usize + duration as usize).min(self.limit),
        );
        for s in s0..s1 {
            let row = &mut self.free[s * self.m..s * self.m + self.m];
            for &(k, q) in demand {
                row[k] += q;
            }
        }
    }
}
