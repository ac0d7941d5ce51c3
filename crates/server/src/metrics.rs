//! Counters the coordinator keeps for `/metrics` (Prometheus text format 0.0.4).
//!
//! Plain atomics: the coordinator's loop increments them, the HTTP handler reads them, and
//! neither waits for the other.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a frame was refused; each has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The tag does not match the key of the device named: spoofed or damaged.
    BadSignature,
    /// Signed, but published under another device's topic.
    TopicMismatch,
    /// Not a registered device.
    UnknownDevice,
    /// Larger than the maximum frame.
    TooLarge,
    /// Does not decode.
    Malformed,
    /// A protocol version not spoken here.
    Version,
    /// A value out of range.
    Invalid,
    /// A sequence number seen before (a replay, or an MQTT QoS 1 redelivery).
    Replay,
    /// Over the device's message rate.
    RateLimited,
    /// A message only coordinators send.
    WrongDirection,
    /// A class above the device's registration.
    PriorityNotAllowed,
}

impl Refusal {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Refusal; 11] = [
        Refusal::BadSignature,
        Refusal::TopicMismatch,
        Refusal::UnknownDevice,
        Refusal::TooLarge,
        Refusal::Malformed,
        Refusal::Version,
        Refusal::Invalid,
        Refusal::Replay,
        Refusal::RateLimited,
        Refusal::WrongDirection,
        Refusal::PriorityNotAllowed,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::BadSignature => "bad_signature",
            Refusal::TopicMismatch => "topic_mismatch",
            Refusal::UnknownDevice => "unknown_device",
            Refusal::TooLarge => "too_large",
            Refusal::Malformed => "malformed",
            Refusal::Version => "version",
            Refusal::Invalid => "invalid",
            Refusal::Replay => "replay",
            Refusal::RateLimited => "rate_limited",
            Refusal::WrongDirection => "wrong_direction",
            Refusal::PriorityNotAllowed => "priority_not_allowed",
        }
    }
}

/// Upper bounds of the latency histogram's buckets, seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The coordinator's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Frames received on the site's `up` topics.
    pub frames_in: AtomicU64,
    /// Frames published to devices.
    pub frames_out: AtomicU64,
    /// Frames that could not be queued for publishing (the client's queue was full).
    pub publish_dropped: AtomicU64,
    refused: [AtomicU64; 11],
    /// Requests received (from the machine's counters).
    pub requests: AtomicU64,
    /// Grants made.
    pub awards: AtomicU64,
    /// Rejects sent.
    pub rejects: AtomicU64,
    /// Ledger transactions committed.
    pub ledger_writes: AtomicU64,
    /// Ledger transactions that failed.
    pub ledger_write_errors: AtomicU64,
    /// Total time spent committing, µs.
    pub ledger_write_us: AtomicU64,
    /// 1 while the last ledger write succeeded.
    pub ledger_ok: AtomicU64,
    /// 1 while connected to the broker.
    pub mqtt_connected: AtomicU64,
    /// Registered devices.
    pub devices: AtomicU64,
    /// Live grants.
    pub live_awards: AtomicU64,
    /// Requests waiting for capacity.
    pub waiting: AtomicU64,
    /// The current slot.
    pub slot: AtomicU64,
    latency_buckets: [AtomicU64; 12],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Counts a refused frame.
    pub fn refuse(&self, why: Refusal) {
        let i = Refusal::ALL
            .iter()
            .position(|r| *r == why)
            .expect("every reason is listed");
        self.refused[i].fetch_add(1, Relaxed);
    }

    /// Refused frames for one reason.
    pub fn refused(&self, why: Refusal) -> u64 {
        let i = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.refused[i].load(Relaxed)
    }

    /// Refused frames, every reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Records one request-to-award latency.
    pub fn observe_latency(&self, seconds: f64) {
        for (b, le) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            if seconds <= le {
                b.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// The Prometheus exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let counter = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let gauge = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        counter(
            &mut s,
            "powerslot_frames_received_total",
            "Frames received from devices.",
            self.frames_in.load(Relaxed),
        );
        counter(
            &mut s,
            "powerslot_frames_sent_total",
            "Frames published to devices.",
            self.frames_out.load(Relaxed),
        );
        counter(
            &mut s,
            "powerslot_publish_dropped_total",
            "Frames not published because the MQTT client's queue was full.",
            self.publish_dropped.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP powerslot_frames_refused_total Frames refused, by reason (spoofed, replayed, oversized, ...).\n# TYPE powerslot_frames_refused_total counter"
        );
        for r in Refusal::ALL {
            let _ = writeln!(
                s,
                "powerslot_frames_refused_total{{reason=\"{}\"}} {}",
                r.name(),
                self.refused(r)
            );
        }
        counter(
            &mut s,
            "powerslot_requests_total",
            "Timeslot requests received (not counting retransmissions).",
            self.requests.load(Relaxed),
        );
        counter(
            &mut s,
            "powerslot_awards_total",
            "Grants made.",
            self.awards.load(Relaxed),
        );
        counter(
            &mut s,
            "powerslot_rejects_total",
            "Rejects sent.",
            self.rejects.load(Relaxed),
        );
        counter(
            &mut s,
            "powerslot_ledger_writes_total",
            "Ledger transactions committed.",
            self.ledger_writes.load(Relaxed),
        );
        counter(
            &mut s,
            "powerslot_ledger_write_errors_total",
            "Ledger transactions that failed (nothing they held was announced).",
            self.ledger_write_errors.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP powerslot_ledger_write_seconds_total Time spent committing to the ledger.\n# TYPE powerslot_ledger_write_seconds_total counter\npowerslot_ledger_write_seconds_total {}",
            self.ledger_write_us.load(Relaxed) as f64 / 1e6
        );
        gauge(
            &mut s,
            "powerslot_ledger_ok",
            "1 while the last ledger write succeeded.",
            self.ledger_ok.load(Relaxed),
        );
        gauge(
            &mut s,
            "powerslot_mqtt_connected",
            "1 while connected to the broker.",
            self.mqtt_connected.load(Relaxed),
        );
        gauge(
            &mut s,
            "powerslot_devices",
            "Registered devices.",
            self.devices.load(Relaxed),
        );
        gauge(
            &mut s,
            "powerslot_live_awards",
            "Grants running or ahead.",
            self.live_awards.load(Relaxed),
        );
        gauge(
            &mut s,
            "powerslot_waiting_requests",
            "Requests waiting for capacity.",
            self.waiting.load(Relaxed),
        );
        gauge(
            &mut s,
            "powerslot_slot",
            "The current slot.",
            self.slot.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP powerslot_request_to_award_seconds From a request's arrival to its award's publication.\n# TYPE powerslot_request_to_award_seconds histogram"
        );
        for (b, le) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(
                s,
                "powerslot_request_to_award_seconds_bucket{{le=\"{le}\"}} {}",
                b.load(Relaxed)
            );
        }
        let n = self.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "powerslot_request_to_award_seconds_bucket{{le=\"+Inf\"}} {n}\npowerslot_request_to_award_seconds_sum {}\npowerslot_request_to_award_seconds_count {n}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_refusals_and_latencies() {
        let m = Metrics::default();
        m.refuse(Refusal::Replay);
        m.refuse(Refusal::Replay);
        m.refuse(Refusal::BadSignature);
        m.observe_latency(0.2);
        let text = m.render();
        assert!(text.contains("powerslot_frames_refused_total{reason=\"replay\"} 2"));
        assert!(text.contains("powerslot_frames_refused_total{reason=\"bad_signature\"} 1"));
        assert!(text.contains("powerslot_request_to_award_seconds_bucket{le=\"0.1\"} 0"));
        assert!(text.contains("powerslot_request_to_award_seconds_bucket{le=\"0.25\"} 1"));
        assert_eq!(m.refused_total(), 3);
    }
}
