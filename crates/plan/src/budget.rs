//! Anytime limits: a schedule budget and/or a wall-clock deadline.
//!
//! "Schedules" counts complete schedules generated — each forward or backward
//! pass is one — the convention of Kolisch & Hartmann's tables, so results
//! compare with published figures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared counter of schedules spent against a limit and a deadline.
#[derive(Debug)]
pub struct Budget {
    max_schedules: u64,
    deadline: Option<Instant>,
    used: AtomicU64,
    timed_out: AtomicBool,
}

impl Budget {
    /// A budget of at most `schedules` schedules (unlimited if `None`) and at most
    /// `time` of wall clock from now (unlimited if `None`).
    pub fn new(schedules: Option<u64>, time: Option<Duration>) -> Self {
        Self {
            max_schedules: schedules.unwrap_or(u64::MAX),
            deadline: time.map(|t| Instant::now() + t),
            used: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
        }
    }

    /// Reserves `n` schedules; `false` (and nothing reserved) once the count or
    /// the time is exhausted.
    pub fn try_spend(&self, n: u64) -> bool {
        if self.time_over() {
            return false;
        }
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur.saturating_add(n) > self.max_schedules {
                return false;
            }
            match self.used.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Counts `n` schedules already generated, even past the limit (a pass that
    /// must complete, such as the first schedule of a run).
    pub fn spend_anyway(&self, n: u64) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }

    /// Schedules left under the count limit (`u64::MAX` if unlimited).
    pub fn remaining(&self) -> u64 {
        self.max_schedules.saturating_sub(self.used())
    }

    /// Schedules generated so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether the deadline has passed.
    pub fn time_over(&self) -> bool {
        if self.timed_out.load(Ordering::Relaxed) {
            return true;
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => {
                self.timed_out.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Whether no further schedule may be generated.
    pub fn exhausted(&self) -> bool {
        self.used() >= self.max_schedules || self.time_over()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_to_the_limit() {
        let b = Budget::new(Some(5), None);
        assert!(b.try_spend(3));
        assert!(!b.try_spend(3));
        assert!(b.try_spend(2));
        assert!(b.exhausted());
        assert_eq!(b.used(), 5);
    }

    #[test]
    fn zero_time_is_over_at_once() {
        let b = Budget::new(None, Some(Duration::ZERO));
        assert!(!b.try_spend(1));
    }
}
