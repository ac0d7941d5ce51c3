//! The simulated network: a seeded model of latency, jitter (which reorders), loss,
//! duplication, one partition and device churn. Every decision comes from one random
//! generator seeded by the run, so a run is reproduced by its seed.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::NetConfig;

/// What the network does with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost.
    Lost,
    /// Delivered once after this many ms.
    Once(u64),
    /// Delivered twice, after these many ms.
    Twice(u64, u64),
}

/// The network of one run.
#[derive(Debug)]
pub struct Network {
    cfg: NetConfig,
    rng: ChaCha8Rng,
    /// Per device: an offline window `[from_ms, to_ms)`, if it churns.
    offline: Vec<Option<(u64, u64)>>,
}

impl Network {
    /// A network for `devices` devices over a run of `run_ms`, seeded.
    pub fn new(cfg: NetConfig, devices: usize, run_ms: u64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00);
        let offline = (0..devices)
            .map(|_| {
                if cfg.churn > 0.0 && rng.random::<f64>() < cfg.churn {
                    let from = rng.random_range(0..run_ms.max(1));
                    let hours = rng.random_range(1..=3u64);
                    Some((from, from + hours * 3_600_000))
                } else {
                    None
                }
            })
            .collect();
        Self { cfg, rng, offline }
    }

    /// Whether the partition cuts everything at `now_ms`.
    pub fn partitioned(&self, now_ms: u64) -> bool {
        self.cfg
            .partition
            .is_some_and(|(start, len)| now_ms >= start * 60_000 && now_ms < (start + len) * 60_000)
    }

    /// Whether device `d` is offline (churned) at `now_ms`.
    pub fn offline(&self, d: usize, now_ms: u64) -> bool {
        self.offline
            .get(d)
            .copied()
            .flatten()
            .is_some_and(|(a, b)| now_ms >= a && now_ms < b)
    }

    /// Devices that churn during the run.
    pub fn churned(&self) -> usize {
        self.offline.iter().filter(|o| o.is_some()).count()
    }

    /// The fate of a message between device `d` and its coordinator, sent at `now_ms`.
    pub fn fate(&mut self, d: usize, now_ms: u64) -> Fate {
        if self.partitioned(now_ms) || self.offline(d, now_ms) {
            return Fate::Lost;
        }
        if self.cfg.loss > 0.0 && self.rng.random::<f64>() < self.cfg.loss {
            return Fate::Lost;
        }
        let lat = self.cfg.latency_ms;
        let first = lat + self.rng.random_range(0..=lat);
        if self.cfg.duplication > 0.0 && self.rng.random::<f64>() < self.cfg.duplication {
            let second = lat + self.rng.random_range(0..=lat * 4 + 1);
            Fate::Twice(first, second)
        } else {
            Fate::Once(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_partitions_and_churn_follow_the_configuration() {
        let cfg = NetConfig {
            latency_ms: 10,
            loss: 0.3,
            duplication: 0.1,
            partition: Some((10, 10)),
            churn: 0.5,
        };
        let mut n = Network::new(cfg, 1000, 86_400_000, 7);
        let lost = (0..10_000).filter(|_| n.fate(0, 0) == Fate::Lost).count() as f64 / 10_000.0;
        // Device 0 may be churned at time 0 only if its window starts at 0; use a device
        // that is online.
        let online = (0..1000).find(|&d| !n.offline(d, 0)).unwrap();
        let lost_online = (0..10_000)
            .filter(|_| n.fate(online, 0) == Fate::Lost)
            .count() as f64
            / 10_000.0;
        assert!((lost_online - 0.3).abs() < 0.03, "{lost_online}");
        assert!(lost >= lost_online - 0.03);
        assert_eq!(n.fate(online, 15 * 60_000), Fate::Lost);
        let churned = n.churned() as f64 / 1000.0;
        assert!((churned - 0.5).abs() < 0.06, "{churned}");
        // The same seed gives the same network.
        let mut a = Network::new(cfg, 10, 1000, 3);
        let mut b = Network::new(cfg, 10, 1000, 3);
        for _ in 0..100 {
            assert_eq!(a.fate(1, 0), b.fate(1, 0));
        }
    }
}
