//! Protocol time. The machines never read a clock: the driver passes `now` into every call.
//!
//! [`Instant`] is milliseconds since an epoch the driver chooses (the simulator's start, or
//! the Unix epoch in the service). [`SlotClock`] maps instants to slots of the allocation
//! grid; every award, lease and budget is expressed in slots, so both ends of a link agree on
//! them even when their clocks drift by less than a slot.

use powerslot_core::Slot;
use serde::{Deserialize, Serialize};

/// A point in protocol time: milliseconds since the driver's epoch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Instant(pub u64);

impl Instant {
    /// The instant `ms` milliseconds later (saturating: time never wraps).
    pub fn after_ms(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// The allocation grid: slot `s` covers `[origin + s·slot_ms, origin + (s+1)·slot_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotClock {
    /// Start of slot 0.
    pub origin: Instant,
    /// Length of one slot in milliseconds (at least 1).
    pub slot_ms: u64,
}

impl SlotClock {
    /// A clock of `slot_ms`-long slots starting at `origin`.
    pub fn new(origin: Instant, slot_ms: u64) -> Self {
        Self {
            origin,
            slot_ms: slot_ms.max(1),
        }
    }

    /// The slot `now` falls in (slot 0 before the origin; saturates at `Slot::MAX`).
    pub fn slot_at(&self, now: Instant) -> Slot {
        let s = now.since(self.origin) / self.slot_ms;
        Slot::try_from(s).unwrap_or(Slot::MAX)
    }

    /// The instant `slot` starts.
    pub fn start_of(&self, slot: Slot) -> Instant {
        self.origin
            .after_ms(u64::from(slot).saturating_mul(self.slot_ms))
    }

    /// Slot length in hours (for energy).
    pub fn slot_hours(&self) -> f64 {
        self.slot_ms as f64 / 3_600_000.0
    }

    /// Energy in milliwatt-hours of `power_mw` held for one slot, rounded down.
    pub fn slot_energy_mwh(&self, power_mw: i64) -> i64 {
        // i128: power (≤ 10^13 mW) times slot length (≤ 10^10 ms) does not fit in i64.
        let e = i128::from(power_mw) * i128::from(self.slot_ms) / 3_600_000;
        i64::try_from(e).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_instants_agree() {
        let c = SlotClock::new(Instant(1_000), 60_000);
        assert_eq!(c.slot_at(Instant(0)), 0);
        assert_eq!(c.slot_at(Instant(1_000)), 0);
        assert_eq!(c.slot_at(Instant(60_999)), 0);
        assert_eq!(c.slot_at(Instant(61_000)), 1);
        assert_eq!(c.start_of(2), Instant(121_000));
        assert_eq!(c.slot_energy_mwh(60_000), 1_000); // 60 W for a minute is 1 Wh
        assert_eq!(c.slot_at(Instant(u64::MAX)), Slot::MAX);
    }
}
