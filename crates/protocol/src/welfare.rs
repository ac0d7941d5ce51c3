//! Welfare: the one yardstick every mechanism is measured with.
//!
//! **Definition.** A request's welfare is the value of the energy it is served:
//!
//! ```text
//! welfare = weight(class) × bid/1000 × energy served (kWh) × decay(delay)
//! decay(d) = 1 − ½ · d / L   for 0 ≤ d ≤ L,   0 for d > L (a deadline miss)
//! ```
//!
//! where `weight` is 1, 10, 100, 1000 for low, normal, high and critical
//! ([`crate::Priority::weight`]), `d` is how many slots the demand finishes after the earliest
//! it could have (its earliest start plus its duration at full power) and `L` is its
//! acceptable latency (with `L = 0`, `decay(0) = 1`). A power profile counts only when it runs
//! whole by its deadline; an energy target counts the energy delivered inside its window (its
//! delay is that of the slot it completes, or of the deadline when it does not); a power
//! envelope counts the energy granted in every slot with no delay. Uncontrollable load counts
//! nothing while it is served.
//!
//! **Lost load.** A run's welfare is the sum over its requests less the *value of lost load*
//! ([`value_of_lost_load`]) for every kWh the load nobody controls went without (a blackout
//! that the controllable loads' own share did not cover). That value is the critical class's,
//! so no allocation gains by emptying a battery into the households' own load.

use crate::device::Priority;

/// `decay(delay)` for a demand of acceptable latency `latency` (see the module docs).
pub fn decay(delay: u32, latency: u32) -> f64 {
    if delay > latency {
        0.0
    } else if latency == 0 {
        1.0
    } else {
        1.0 - 0.5 * f64::from(delay) / f64::from(latency)
    }
}

/// Value of one kWh served to `priority` bidding `bid_per_mille`, before decay.
pub fn value_per_kwh(priority: Priority, bid_per_mille: u32) -> f64 {
    priority.weight() as f64 * f64::from(bid_per_mille) / 1000.0
}

/// What a kWh the load nobody controls goes without costs a run's welfare: the value of a
/// critical kWh (see the module docs).
pub fn value_of_lost_load() -> f64 {
    value_per_kwh(Priority::Critical, 1000)
}

/// The welfare of `energy_kwh` served `delay` slots late, for a demand of acceptable
/// latency `latency`.
pub fn welfare(
    priority: Priority,
    bid_per_mille: u32,
    energy_kwh: f64,
    delay: u32,
    latency: u32,
) -> f64 {
    value_per_kwh(priority, bid_per_mille) * energy_kwh * decay(delay, latency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_over_the_latency_and_stops_past_it() {
        assert_eq!(decay(0, 4), 1.0);
        assert_eq!(decay(4, 4), 0.5);
        assert_eq!(decay(5, 4), 0.0);
        assert_eq!(decay(0, 0), 1.0);
        assert_eq!(decay(1, 0), 0.0);
        assert_eq!(welfare(Priority::High, 1000, 2.0, 0, 3), 200.0);
    }
}
