//! Secure aggregation by pairwise masks, after Bonawitz et al. (CCS 2017), without their
//! second (self-mask and secret-sharing) layer.
//!
//! Every pair of devices `a < b` shares a seed for the round (in a deployment it comes from a
//! key agreement; the aggregator never sees it). Device `a` adds the pseudo-random stream of the
//! seed to its update and `b` subtracts it, so in the sum over all devices every mask cancels
//! and the aggregator learns the total only. Updates are fixed-point numbers in wrapping 64-bit
//! arithmetic, where the cancellation is exact (floating-point masks would not cancel).
//!
//! If a device drops out after masking, its partners' masks no longer cancel. Each survivor
//! then reveals the seed it shared with the dropped device (only that one), the aggregator
//! regenerates those masks and removes them, and the round completes with the survivors' sum.
//! What this simplified protocol does not cover: a device that was declared dropped but whose
//! masked update arrives late could be unmasked; the full protocol's self-masks prevent that.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{ForecastError, Result};

/// Fractional bits of the fixed-point encoding (resolution 2^-24 ≈ 6e-8).
const FRACTION_BITS: i32 = 24;

/// Largest magnitude that survives encoding (and summing a few hundred updates) without wrap.
const MAX_ABS: f64 = (1u64 << 54) as f64 / (1u64 << FRACTION_BITS) as f64;

/// Encodes reals as fixed-point two's-complement words.
pub fn encode(values: &[f64]) -> Result<Vec<u64>> {
    values
        .iter()
        .enumerate()
        .map(|(index, &v)| {
            if !v.is_finite() || v.abs() >= MAX_ABS {
                return Err(ForecastError::NonFinite {
                    what: "update to aggregate".into(),
                    index,
                    value: v,
                });
            }
            Ok((v * f64::from(1u32 << FRACTION_BITS)).round() as i64 as u64)
        })
        .collect()
}

/// Decodes a (summed) fixed-point vector.
pub fn decode(words: &[u64]) -> Vec<f64> {
    words
        .iter()
        .map(|&w| w as i64 as f64 / f64::from(1u32 << FRACTION_BITS))
        .collect()
}

/// splitmix64: mixes the round secret and the pair into an independent seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn mask_stream(seed: u64) -> impl Iterator<Item = u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    std::iter::repeat_with(move || rng.next_u64())
}

/// The devices' side of one round: who takes part and the pairwise seeds they agreed on.
#[derive(Debug, Clone)]
pub struct MaskingRound {
    secret: u64,
    participants: Vec<usize>,
}

impl MaskingRound {
    /// A round among `participants` (device ids); `secret` stands for the outcome of the
    /// pairwise key agreements and stays with the devices.
    pub fn new(secret: u64, participants: Vec<usize>) -> Self {
        Self {
            secret,
            participants,
        }
    }

    /// Devices taking part when the masks were set up.
    pub fn participants(&self) -> &[usize] {
        &self.participants
    }

    fn pair_seed(&self, a: usize, b: usize) -> u64 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        mix(self.secret ^ mix(((lo as u64) << 32) ^ hi as u64))
    }

    /// What device `device` sends: its encoded update plus all its pairwise masks.
    pub fn mask(&self, device: usize, encoded: &[u64]) -> Vec<u64> {
        let mut out = encoded.to_vec();
        for &other in self.participants.iter().filter(|&&o| o != device) {
            let stream = mask_stream(self.pair_seed(device, other));
            for (w, m) in out.iter_mut().zip(stream) {
                *w = if device < other {
                    w.wrapping_add(m)
                } else {
                    w.wrapping_sub(m)
                };
            }
        }
        out
    }

    /// Dropout recovery: the seed survivor `survivor` shared with the dropped device `dropped`.
    pub fn reveal(&self, survivor: usize, dropped: usize) -> u64 {
        self.pair_seed(survivor, dropped)
    }
}

/// The aggregator's result of one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Sum of the survivors' encoded updates (masks removed).
    pub sum: Vec<u64>,
    /// Pairwise masks removed after dropouts.
    pub recovered_masks: usize,
}

/// Sums masked updates `(device, words)`; for every participant in `round_participants` that
/// sent nothing, asks each survivor (through `reveal(survivor, dropped)`) for the shared seed.
pub fn aggregate(
    round_participants: &[usize],
    masked: &[(usize, Vec<u64>)],
    reveal: impl Fn(usize, usize) -> u64,
) -> Result<Aggregate> {
    let len = masked
        .first()
        .map(|(_, w)| w.len())
        .ok_or_else(|| ForecastError::Federated {
            round: 0,
            message: "no device sent an update".into(),
        })?;
    if let Some((d, w)) = masked.iter().find(|(_, w)| w.len() != len) {
        return Err(ForecastError::Federated {
            round: 0,
            message: format!(
                "device {d} sent {} values, expected {len} (models must share a shape)",
                w.len()
            ),
        });
    }
    let mut sum = vec![0u64; len];
    for (_, words) in masked {
        for (s, w) in sum.iter_mut().zip(words) {
            *s = s.wrapping_add(*w);
        }
    }
    let survivors: Vec<usize> = masked.iter().map(|(d, _)| *d).collect();
    let dropped = round_participants.iter().filter(|d| !survivors.contains(d));
    let mut recovered_masks = 0;
    for &gone in dropped {
        for &alive in &survivors {
            let stream = mask_stream(reveal(alive, gone));
            for (s, m) in sum.iter_mut().zip(stream) {
                // Undo what the survivor applied for this pair.
                *s = if alive < gone {
                    s.wrapping_sub(m)
                } else {
                    s.wrapping_add(m)
                };
            }
            recovered_masks += 1;
        }
    }
    Ok(Aggregate {
        sum,
        recovered_masks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_masked_update_reveals_nothing_obvious() {
        let round = MaskingRound::new(99, vec![0, 1, 2]);
        let update = encode(&[1.0, 1.0, 1.0, 1.0]).expect("finite");
        let masked = round.mask(0, &update);
        assert!(masked.iter().all(|w| !update.contains(w)));
    }

    #[test]
    fn non_finite_updates_are_refused() {
        assert!(encode(&[f64::NAN]).is_err());
        assert!(encode(&[1e300]).is_err());
    }

    proptest! {
        #[test]
        fn masks_cancel_with_and_without_dropouts(
            updates in prop::collection::vec(prop::collection::vec(-1e4f64..1e4, 5), 2..7),
            secret in any::<u64>(),
            drop_mask in any::<u8>(),
        ) {
            let n = updates.len();
            let round = MaskingRound::new(secret, (0..n).collect());
            // Keep device 0 so at least one survives.
            let alive: Vec<usize> = (0..n).filter(|&d| d == 0 || drop_mask & (1 << d) == 0).collect();
            let masked: Vec<(usize, Vec<u64>)> = alive
                .iter()
                .map(|&d| (d, round.mask(d, &encode(&updates[d]).unwrap())))
                .collect();
            let agg = aggregate(round.participants(), &masked, |a, b| round.reveal(a, b)).unwrap();
            let got = decode(&agg.sum);
            for k in 0..5 {
                let want: f64 = alive.iter().map(|&d| updates[d][k]).sum();
                prop_assert!((got[k] - want).abs() < 1e-5, "{} vs {}", got[k], want);
            }
            prop_assert_eq!(agg.recovered_masks, (n - alive.len()) * alive.len());
        }
    }
}
