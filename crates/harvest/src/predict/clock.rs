//! Detecting a clock that moves: daylight saving, a logger reset to another time zone.
//!
//! The sun rises and sets a few minutes earlier or later from one day to the next; a clock that
//! moves makes *both* edges of the day jump by the same amount at once. Each complete day gives
//! its sunrise and sunset (where the trace first and last crosses a hundredth of its level,
//! interpolated between slot centres: that low, the crossing is set by the sun's height more than
//! by the clouds). A day whose two edges both sit at least half an hour off the median of the last
//! [`BASELINE_DAYS`] days, in the same direction and within half an hour of each other, moved the
//! clock by their mean, rounded to whole hours (whole slots when slots are longer or do not divide
//! an hour). The move is applied at once, so the next day is already read on the new clock, and
//! it is kept only if the next day with both edges confirms it; otherwise it is undone. A cloudy
//! morning delays only the sunrise and an overcast evening advances only the sunset, so weather
//! rarely passes the first test and hardly ever twice in a row; slow drift (the equation of
//! time, a crystal running fast) is followed by the median and never needs correcting, because
//! the predictors look back two weeks at most.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::num::round;

/// Valid days whose edges form the baseline.
const BASELINE_DAYS: usize = 7;
/// Valid days needed before any shift is looked for.
const MIN_BASELINE: usize = 3;

/// A move of the trace's clock, found at the end of a day and confirmed by the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub struct ClockShift {
    /// The first day (0-based, counted from the first day the forecaster saw) on the new clock.
    pub day: usize,
    /// How far the clock moved, in slots: +4 on 15-minute slots is a clock one hour later (spring
    /// forward: the sun rises at 07:00 instead of 06:00).
    pub slots: i32,
}

/// A shift applied but not yet confirmed.
#[derive(Debug, Clone, Copy)]
struct Tentative {
    day: usize,
    slots: i32,
    edges: (f64, f64),
}

/// The clock's offset against the first day, for each of the last days.
#[derive(Debug, Clone)]
pub(super) struct Clock {
    slots_per_hour: f64,
    /// Slots in one unit of shift: an hour, or a slot.
    step: i32,
    offset: i32,
    /// Offsets of the last `keep` days, the most recent last.
    offsets: VecDeque<i32>,
    keep: usize,
    /// Sunrise and sunset of recent valid days, in slots, with the offset of their day removed.
    edges: VecDeque<(f64, f64)>,
    tentative: Option<Tentative>,
    shifts: Vec<ClockShift>,
    day: usize,
}

impl Clock {
    /// A clock for `slots_per_day` slots that remembers the offsets of the last `keep` days.
    pub(super) fn new(slots_per_day: usize, keep: usize) -> Self {
        let whole_hours = slots_per_day >= 24 && slots_per_day.is_multiple_of(24);
        Self {
            slots_per_hour: slots_per_day as f64 / 24.0,
            step: if whole_hours {
                (slots_per_day / 24) as i32
            } else {
                1
            },
            offset: 0,
            offsets: VecDeque::with_capacity(keep + 1),
            keep,
            edges: VecDeque::with_capacity(BASELINE_DAYS + 1),
            tentative: None,
            shifts: Vec::new(),
            day: 0,
        }
    }

    /// The offset (slots) of the clock now against the first day's clock.
    pub(super) fn offset(&self) -> i32 {
        self.offset
    }

    /// The offsets of the last days (at most `keep`), the most recent last.
    pub(super) fn offsets(&self) -> &VecDeque<i32> {
        &self.offsets
    }

    /// Every confirmed shift so far.
    pub(super) fn shifts(&self) -> &[ClockShift] {
        &self.shifts
    }

    /// Takes a complete day: decides the offset it was recorded with, and the offset of the day
    /// before when that day's shift is now confirmed or undone.
    pub(super) fn end_of_day(&mut self, values: &[Option<f64>], threshold: f64) {
        let day = self.day;
        self.day += 1;
        let edges = day_edges(values, threshold, 2.0 * self.slots_per_hour);
        if let Some(t) = self.tentative {
            let Some(e) = edges else {
                // Not yet confirmed either way: the day stays on the tentative clock.
                self.push_offset();
                return;
            };
            self.tentative = None;
            let before = self.offset - t.slots;
            if self.shift_of(e, before) == Some(t.slots) {
                self.shifts.push(ClockShift {
                    day: t.day,
                    slots: t.slots,
                });
                self.push_edges(t.edges);
            } else {
                // Undone: every day since the tentative one goes back to the old clock.
                self.offset = before;
                let since = day - t.day;
                let n = self.offsets.len();
                for o in self.offsets.iter_mut().skip(n.saturating_sub(since)) {
                    *o = before;
                }
            }
        }
        if let Some(e) = edges {
            if self.tentative.is_none()
                && let Some(slots) = self.shift_of(e, self.offset)
            {
                self.offset += slots;
                self.tentative = Some(Tentative {
                    day,
                    slots,
                    edges: e,
                });
            } else {
                self.push_edges(e);
            }
        }
        self.push_offset();
    }

    /// The shift (slots) that day edges `e`, read on a clock at `offset`, show against the
    /// baseline; `None` for no clear shift.
    fn shift_of(&self, e: (f64, f64), offset: i32) -> Option<i32> {
        if self.edges.len() < MIN_BASELINE {
            return None;
        }
        let off = f64::from(offset);
        let dr = e.0 - off - median(self.edges.iter().map(|e| e.0));
        let ds = e.1 - off - median(self.edges.iter().map(|e| e.1));
        let half = 0.5 * self.slots_per_hour;
        if dr.abs() < half || ds.abs() < half || (dr > 0.0) != (ds > 0.0) || (dr - ds).abs() > half
        {
            return None;
        }
        let step = f64::from(self.step);
        let slots = round(0.5 * (dr + ds) / step) as i32 * self.step;
        (slots != 0).then_some(slots)
    }

    fn push_edges(&mut self, e: (f64, f64)) {
        let off = f64::from(self.offset);
        self.edges.push_back((e.0 - off, e.1 - off));
        if self.edges.len() > BASELINE_DAYS {
            self.edges.pop_front();
        }
    }

    fn push_offset(&mut self) {
        self.offsets.push_back(self.offset);
        if self.offsets.len() > self.keep {
            self.offsets.pop_front();
        }
    }
}

/// Sunrise and sunset of one day in slots (slot `i` is centred on `i + 0.5`): where the values
/// cross `threshold`, interpolated between the two slots around the crossing. `None` when the
/// day has no daylight above the threshold, a gap next to an edge, or less than `min_length`
/// slots between the edges.
fn day_edges(values: &[Option<f64>], threshold: f64, min_length: f64) -> Option<(f64, f64)> {
    // NaN or not positive: no edges to find.
    if threshold.is_nan() || threshold <= 0.0 {
        return None;
    }
    let above = |v: &Option<f64>| v.is_some_and(|x| x > threshold);
    let first = values.iter().position(above)?;
    let last = values.iter().rposition(above)?;
    let (before, after) = (values.get(first.checked_sub(1)?)?, values.get(last + 1)?);
    let (v, u) = (values[first]?, (*before)?);
    let rise = first as f64 - 0.5 + (threshold - u) / (v - u);
    let (v, u) = (values[last]?, (*after)?);
    let set = last as f64 + 0.5 + (v - threshold) / (v - u);
    (set - rise >= min_length).then_some((rise, set))
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::clear_day;
    use alloc::vec;

    fn day(spd: usize, rise: f64, set: f64) -> Vec<Option<f64>> {
        clear_day(spd, rise, set, 100.0)
            .into_iter()
            .map(Some)
            .collect()
    }

    #[test]
    fn edges_are_interpolated() {
        let (r, s) = day_edges(&day(96, 6.0, 18.0), 5.0, 8.0).unwrap();
        // 4·x·(1 − x) = 0.05 at x ≈ 0.0127: 6.15 h, i.e. slot 24.6 on 15-minute slots.
        assert!((r - 24.6).abs() < 0.1, "{r}");
        assert!((s - 71.4).abs() < 0.1, "{s}");
        let mut gap = day(96, 6.0, 18.0);
        gap[24] = None;
        assert_eq!(day_edges(&gap, 5.0, 8.0), None, "a gap next to the sunrise");
        assert_eq!(day_edges(&vec![Some(0.0); 96], 5.0, 8.0), None);
    }

    #[test]
    fn an_hour_forward_and_back_is_found_and_weather_is_not() {
        let mut clock = Clock::new(96, 30);
        let mut run = |rise: f64, set: f64| {
            clock.end_of_day(&day(96, rise, set), 1.0);
            clock.offset()
        };
        for _ in 0..5 {
            assert_eq!(run(6.0, 18.0), 0);
        }
        // A foggy morning: the sunrise crossing comes 90 minutes late, the sunset is as usual.
        assert_eq!(run(7.5, 18.0), 0);
        // Spring forward: both edges an hour later, applied at once and confirmed the next day.
        assert_eq!(run(7.0, 19.0), 4);
        for _ in 0..5 {
            assert_eq!(run(7.0, 19.0), 4);
        }
        // Back again.
        assert_eq!(run(6.0, 18.0), 0);
        assert_eq!(run(6.0, 18.0), 0);
        assert_eq!(
            clock.shifts(),
            &[
                ClockShift { day: 6, slots: 4 },
                ClockShift { day: 12, slots: -4 }
            ]
        );
        let offsets: Vec<i32> = clock.offsets().iter().copied().collect();
        assert_eq!(offsets, [0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 0, 0]);
    }

    #[test]
    fn a_shift_the_next_day_does_not_confirm_is_undone() {
        let mut clock = Clock::new(48, 30);
        for _ in 0..5 {
            clock.end_of_day(&day(48, 6.0, 18.0), 1.0);
        }
        // One odd day with both edges late (a shaded sensor, say), then the usual sun.
        clock.end_of_day(&day(48, 7.0, 19.0), 1.0);
        assert_eq!(clock.offset(), 2, "applied at once");
        clock.end_of_day(&day(48, 6.0, 18.0), 1.0);
        assert_eq!(clock.offset(), 0, "undone");
        let offsets: Vec<i32> = clock.offsets().iter().copied().collect();
        assert_eq!(offsets, [0; 7]);
        assert!(clock.shifts().is_empty());
    }

    #[test]
    fn shifts_are_whole_hours() {
        let mut clock = Clock::new(96, 30);
        for _ in 0..5 {
            clock.end_of_day(&day(96, 6.0, 18.0), 1.0);
        }
        // 80 minutes later: one hour.
        for _ in 0..2 {
            clock.end_of_day(&day(96, 7.33, 19.33), 1.0);
        }
        assert_eq!(clock.shifts(), &[ClockShift { day: 5, slots: 4 }]);
    }

    #[test]
    fn slow_drift_is_not_a_shift() {
        let mut clock = Clock::new(48, 30);
        for d in 0..100 {
            // Two minutes a day: 3.3 hours over the run, never a jump.
            let drift = d as f64 * 2.0 / 60.0;
            clock.end_of_day(&day(48, 6.0 + drift, 18.0 + drift), 1.0);
        }
        assert!(clock.shifts().is_empty(), "{:?}", clock.shifts());
    }
}
