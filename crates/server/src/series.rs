//! Time series over slots for the dashboard and any other reader of the API: a circuit's
//! budget, allocation and measured load, past and planned on one axis; a device's measured
//! power against its forecasts; forecast accuracy against persistence.
//!
//! The past comes from the ledger (what each slot had as it passed, telemetry, forecasts,
//! every budget published), the planned horizon from the coordinator's live capacity book.
//! The functions here only combine rows that were read already, so they are pure and tested
//! on their own.

use std::collections::BTreeMap;

use powerslot_core::Slot;
use serde::Serialize;

use crate::ledger::{AwardRow, ForecastRow};

/// One slot of a circuit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CircuitSlot {
    /// The slot.
    pub slot: Slot,
    /// Capacity the budget gave, mW (`None` for a past slot the coordinator did not run
    /// through).
    pub capacity_mw: Option<i64>,
    /// Power granted, mW (past: as the slot had it; ahead: booked so far).
    pub committed_mw: Option<i64>,
    /// Power its devices reported drawing, summed, mW (`None`: nobody reported).
    pub measured_mw: Option<i64>,
    /// The lowest capacity any budget published within a horizon before it forecast for
    /// this slot, mW: with `budget_high_mw`, the band in which the budget's forecast moved.
    pub budget_low_mw: Option<i64>,
    /// The highest such capacity, mW.
    pub budget_high_mw: Option<i64>,
}

/// A circuit's series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CircuitSeries {
    /// The circuit.
    pub circuit: String,
    /// Its rating, mW.
    pub rating_mw: i64,
    /// The current slot: slots before it are past, it and later ones planned.
    pub now_slot: Slot,
    /// Slot length, ms (slot `s` starts at protocol time `s × slot_ms`).
    pub slot_ms: u64,
    /// The slots asked for.
    pub slots: Vec<CircuitSlot>,
}

/// The band of capacities that the budgets in `published` (first slot, values with the last
/// holding on, oldest first) forecast for `slot`, clipped to `[0, rating]`; only budgets
/// published starting at most `lookback` slots before `slot` count.
pub fn budget_band(
    published: &[(Slot, Vec<i64>)],
    slot: Slot,
    lookback: u32,
    rating_mw: i64,
) -> Option<(i64, i64)> {
    let mut band: Option<(i64, i64)> = None;
    for (from, values) in published {
        if *from > slot || slot - from > lookback || values.is_empty() {
            continue;
        }
        let k = ((slot - from) as usize).min(values.len() - 1);
        let v = values[k].clamp(0, rating_mw);
        band = Some(band.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    }
    band
}

/// What one circuit's series is made of.
#[derive(Clone, Debug, Default)]
pub struct CircuitRows {
    /// Past slots as they passed: slot → (capacity, committed), mW.
    pub past: BTreeMap<Slot, (i64, i64)>,
    /// The live book from the current slot on: first slot, capacity and committed per slot.
    pub plan_from: Slot,
    /// Capacity per slot ahead, mW.
    pub plan_capacity: Vec<i64>,
    /// Committed per slot ahead, mW.
    pub plan_committed: Vec<i64>,
    /// Measured power summed over the circuit's devices: slot → mW.
    pub measured: BTreeMap<Slot, i64>,
    /// Budgets published (see [`budget_band`]).
    pub published: Vec<(Slot, Vec<i64>)>,
}

/// The slots `[from, to)` of a circuit: the past from the ledger's rows, the current slot
/// and later from the live book (which wins where both have a slot).
pub fn circuit_slots(
    rows: &CircuitRows,
    from: Slot,
    to: Slot,
    lookback: u32,
    rating_mw: i64,
) -> Vec<CircuitSlot> {
    (from..to)
        .map(|slot| {
            let planned = slot
                .checked_sub(rows.plan_from)
                .map(|k| k as usize)
                .filter(|&k| k < rows.plan_capacity.len());
            let (capacity_mw, committed_mw) = match planned {
                Some(k) => (
                    Some(rows.plan_capacity[k]),
                    rows.plan_committed.get(k).copied(),
                ),
                None => match rows.past.get(&slot) {
                    Some(&(c, u)) => (Some(c), Some(u)),
                    None => (None, None),
                },
            };
            let band = budget_band(&rows.published, slot, lookback, rating_mw);
            CircuitSlot {
                slot,
                capacity_mw,
                committed_mw,
                measured_mw: rows.measured.get(&slot).copied(),
                budget_low_mw: band.map(|b| b.0),
                budget_high_mw: band.map(|b| b.1),
            }
        })
        .collect()
}

/// One slot of a device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceSlot {
    /// The slot.
    pub slot: Slot,
    /// What it reported drawing, mW.
    pub measured_mw: Option<i64>,
    /// Its forecast for this slot made one slot before (P50), mW.
    pub forecast_p50_mw: Option<i64>,
    /// The same forecast's P90, mW.
    pub forecast_p90_mw: Option<i64>,
    /// Power its grants allow in this slot (each grant as last stored), mW.
    pub granted_mw: i64,
}

/// Forecast accuracy of one device over a window of slots.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    /// The device.
    pub device: String,
    /// Slots in the window.
    pub window_slots: u32,
    /// Slots compared (a forecast, the measurement and the one before it all known).
    pub compared: u32,
    /// Mean absolute error of the one-slot-ahead P50 forecast, mW.
    pub mae_mw: Option<f64>,
    /// Mean absolute error of persistence (the last measurement as the forecast), mW, over
    /// the same slots: the baseline a forecaster has to beat.
    pub persistence_mae_mw: Option<f64>,
}

/// Each forecast's first value, by the slot it is for: the one-slot-ahead forecasts.
pub fn one_step(forecasts: &[ForecastRow]) -> BTreeMap<Slot, (i64, i64)> {
    forecasts
        .iter()
        .filter_map(|f| {
            let p50 = *f.p50_mw.first()?;
            let p90 = f.p90_mw.first().copied().unwrap_or(p50);
            Some((f.from_slot, (p50, p90)))
        })
        .collect()
}

/// Rolling accuracy over `[from, to)`: the one-step forecast and persistence, compared on
/// the same slots.
pub fn accuracy(
    device: &str,
    measured: &BTreeMap<Slot, i64>,
    forecast: &BTreeMap<Slot, (i64, i64)>,
    from: Slot,
    to: Slot,
) -> Accuracy {
    let (mut n, mut err, mut err_p) = (0u32, 0f64, 0f64);
    for slot in from.max(1)..to {
        let (Some(m), Some(prev), Some((p50, _))) = (
            measured.get(&slot),
            measured.get(&(slot - 1)),
            forecast.get(&slot),
        ) else {
            continue;
        };
        n += 1;
        err += (p50 - m).abs() as f64;
        err_p += (prev - m).abs() as f64;
    }
    let mean = |e: f64| (n > 0).then(|| e / f64::from(n));
    Accuracy {
        device: device.into(),
        window_slots: to.saturating_sub(from),
        compared: n,
        mae_mw: mean(err),
        persistence_mae_mw: mean(err_p),
    }
}

/// The slots `[from, to)` of a device.
pub fn device_slots(
    measured: &BTreeMap<Slot, i64>,
    forecast: &BTreeMap<Slot, (i64, i64)>,
    awards: &[AwardRow],
    from: Slot,
    to: Slot,
) -> Vec<DeviceSlot> {
    (from..to)
        .map(|slot| DeviceSlot {
            slot,
            measured_mw: measured.get(&slot).copied(),
            forecast_p50_mw: forecast.get(&slot).map(|f| f.0),
            forecast_p90_mw: forecast.get(&slot).map(|f| f.1),
            granted_mw: awards.iter().map(|a| a.record.grant.at(slot)).sum(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_band_spans_what_was_published_for_a_slot() {
        // Published at slots 10 and 12; the later one forecast less for slot 13.
        let published = vec![(10, vec![5_000, 5_000, 4_000]), (12, vec![3_000, 2_500])];
        assert_eq!(budget_band(&published, 9, 96, 10_000), None);
        assert_eq!(
            budget_band(&published, 10, 96, 10_000),
            Some((5_000, 5_000))
        );
        // Slot 12: 4,000 from the first, 3,000 from the second.
        assert_eq!(
            budget_band(&published, 12, 96, 10_000),
            Some((3_000, 4_000))
        );
        // The last value holds on: slot 20 gets 4,000 and 2,500.
        assert_eq!(
            budget_band(&published, 20, 96, 10_000),
            Some((2_500, 4_000))
        );
        // Only budgets published within the lookback count; ratings clip.
        assert_eq!(budget_band(&published, 20, 8, 10_000), Some((2_500, 2_500)));
        assert_eq!(budget_band(&published, 10, 96, 1_000), Some((1_000, 1_000)));
    }

    #[test]
    fn circuit_slots_join_the_past_and_the_plan() {
        let rows = CircuitRows {
            past: BTreeMap::from([(3, (900, 400)), (4, (900, 500))]),
            plan_from: 5,
            plan_capacity: vec![800, 800],
            plan_committed: vec![600, 100],
            measured: BTreeMap::from([(4, 450)]),
            published: vec![(3, vec![900, 900, 800])],
        };
        let s = circuit_slots(&rows, 2, 8, 96, 1_000);
        assert_eq!(s.len(), 6);
        assert_eq!((s[0].capacity_mw, s[0].budget_low_mw), (None, None));
        assert_eq!(
            (s[1].capacity_mw, s[1].committed_mw),
            (Some(900), Some(400))
        );
        assert_eq!(s[2].measured_mw, Some(450));
        assert_eq!(
            (s[3].capacity_mw, s[3].committed_mw),
            (Some(800), Some(600))
        );
        assert_eq!(s[3].budget_high_mw, Some(800));
        assert_eq!((s[5].capacity_mw, s[5].measured_mw), (None, None));
    }

    #[test]
    fn accuracy_compares_forecast_and_persistence_on_the_same_slots() {
        let measured = BTreeMap::from([(1, 100), (2, 300), (3, 300), (5, 700)]);
        let forecast = BTreeMap::from([(2, (250, 400)), (3, (310, 400)), (5, (0, 0))]);
        let a = accuracy("d", &measured, &forecast, 0, 6);
        // Slot 2: |250-300| = 50 against |100-300| = 200; slot 3: 10 against 0; slot 5 has
        // no measurement before it.
        assert_eq!(a.compared, 2);
        assert_eq!(a.mae_mw, Some(30.0));
        assert_eq!(a.persistence_mae_mw, Some(100.0));
        assert_eq!(a.window_slots, 6);
        let none = accuracy("d", &measured, &BTreeMap::new(), 0, 6);
        assert_eq!((none.compared, none.mae_mw), (0, None));
    }
}
