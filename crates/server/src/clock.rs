//! Protocol time for the running system.
//!
//! The machines never read a clock; the service passes them `now`. At speed 1 protocol time
//! is Unix time in milliseconds, so slot 0 starts at the Unix epoch and 15-minute slots start
//! on the quarter hours of the wall clock: a coordinator and its agents agree on the grid by
//! agreeing on the slot length alone. The demo and the tests run in **compressed time**: from
//! a start instant on, protocol time runs `speed` times faster than the wall clock (every
//! process that shares a site must be given the same start and speed; the coordinator keeps
//! them in its ledger).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use powerslot_protocol::Instant;

/// Maps wall-clock time to protocol time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clock {
    start_unix_ms: u64,
    speed: f64,
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Clock {
    /// Protocol time is Unix time.
    pub fn realtime() -> Self {
        Self {
            start_unix_ms: 0,
            speed: 1.0,
        }
    }

    /// From `start_unix_ms` on, protocol time runs `speed` times faster than the wall clock
    /// (`speed` is clamped to at least 1e-3).
    pub fn compressed(start_unix_ms: u64, speed: f64) -> Self {
        Self {
            start_unix_ms,
            speed: if speed.is_finite() {
                speed.max(1e-3)
            } else {
                1.0
            },
        }
    }

    /// The instant protocol time starts running at `speed`.
    pub fn start_unix_ms(&self) -> u64 {
        self.start_unix_ms
    }

    /// How much faster than the wall clock protocol time runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Protocol time at a Unix instant.
    pub fn at_unix_ms(&self, unix_ms: u64) -> Instant {
        let since = unix_ms.saturating_sub(self.start_unix_ms) as f64;
        Instant(self.start_unix_ms + (since * self.speed) as u64)
    }

    /// Protocol time now.
    pub fn now(&self) -> Instant {
        self.at_unix_ms(unix_ms())
    }

    /// Wall-clock time until protocol instant `at` (zero if it has passed).
    pub fn until(&self, at: Instant) -> Duration {
        let ms = at.since(self.now()) as f64 / self.speed;
        Duration::from_micros((ms * 1000.0) as u64)
    }

    /// Wall-clock length of `protocol_ms` protocol milliseconds.
    pub fn real(&self, protocol_ms: u64) -> Duration {
        Duration::from_micros((protocol_ms as f64 * 1000.0 / self.speed) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_time_runs_faster_from_its_start() {
        let c = Clock::compressed(1_000, 60.0);
        assert_eq!(c.at_unix_ms(1_000), Instant(1_000));
        assert_eq!(c.at_unix_ms(2_000), Instant(61_000));
        assert_eq!(c.at_unix_ms(500), Instant(1_000)); // before the start, time stands
        assert_eq!(c.real(60_000), Duration::from_secs(1));
        let r = Clock::realtime();
        assert_eq!(r.at_unix_ms(123_456), Instant(123_456));
    }
}
