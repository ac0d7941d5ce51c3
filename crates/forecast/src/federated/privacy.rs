//! Differential privacy for federated rounds: clip each device's update, add Gaussian noise,
//! and account for the privacy spent.
//!
//! Each device clips its model change to L2 norm `clip` and adds its share of Gaussian noise
//! (variance `(noise_multiplier · clip)² / participants`), so the securely aggregated sum
//! carries noise of standard deviation `noise_multiplier · clip` while no single device (nor
//! the aggregator) sees a noise-free sum. This protects a whole device's contribution per
//! round (device-level DP). A round with Gaussian noise σ on a sum of sensitivity C is
//! ρ-zCDP with ρ = C²/(2σ²); rounds add up, and ρ-zCDP implies (ε, δ)-DP with
//! ε = ρ + 2·√(ρ·ln(1/δ)) (Bun & Steinke, 2016). No amplification by sampling is claimed:
//! every device takes part in every round.

use rand::Rng;

use crate::error::{ForecastError, Result};

/// Clipping and noise settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DpConfig {
    /// Largest L2 norm of one device's update.
    pub clip: f64,
    /// Noise standard deviation in units of `clip`.
    pub noise_multiplier: f64,
    /// The δ the reported ε is stated for.
    pub delta: f64,
}

impl Default for DpConfig {
    fn default() -> Self {
        Self {
            clip: 1.0,
            noise_multiplier: 1.0,
            delta: 1e-5,
        }
    }
}

impl DpConfig {
    /// Errors unless clip and noise are positive and δ is in (0, 1).
    pub fn check(&self) -> Result<()> {
        let ok = self.clip > 0.0
            && self.clip.is_finite()
            && self.noise_multiplier > 0.0
            && self.noise_multiplier.is_finite()
            && self.delta > 0.0
            && self.delta < 1.0;
        if ok {
            Ok(())
        } else {
            Err(ForecastError::InvalidParameter {
                name: "dp".into(),
                message: format!(
                    "clip and noise multiplier must be positive and delta in (0, 1); got clip {}, \
                     noise {}, delta {}",
                    self.clip, self.noise_multiplier, self.delta
                ),
            })
        }
    }
}

/// Scales `update` down to L2 norm at most `clip`; returns the norm before clipping.
pub fn clip(update: &mut [f64], clip: f64) -> f64 {
    let norm = update.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > clip {
        let f = clip / norm;
        update.iter_mut().for_each(|v| *v *= f);
    }
    norm
}

/// One standard normal draw (Box–Muller; the RNG is seeded by the caller).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// ρ (zCDP) of one round whose summed noise has standard deviation `sigma` for sensitivity `clip`.
pub fn round_rho(clip: f64, sigma: f64) -> f64 {
    clip * clip / (2.0 * sigma * sigma)
}

/// ε of (ε, δ)-DP implied by ρ-zCDP.
pub fn epsilon(rho: f64, delta: f64) -> f64 {
    rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn clipping_bounds_the_norm_and_keeps_small_updates() {
        let mut big = vec![3.0, 4.0];
        assert_eq!(clip(&mut big, 1.0), 5.0);
        assert!((big[0] - 0.6).abs() < 1e-12 && (big[1] - 0.8).abs() < 1e-12);
        let mut small = vec![0.1, 0.1];
        clip(&mut small, 1.0);
        assert_eq!(small, vec![0.1, 0.1]);
    }

    #[test]
    fn epsilon_grows_with_rounds_and_shrinks_with_noise() {
        let one = epsilon(round_rho(1.0, 1.0), 1e-5);
        let ten = epsilon(10.0 * round_rho(1.0, 1.0), 1e-5);
        let quiet = epsilon(round_rho(1.0, 4.0), 1e-5);
        assert!(ten > one && quiet < one);
        // ρ = 0.5: ε = 0.5 + 2·√(0.5·ln 1e5) ≈ 5.30.
        assert!((one - 5.298).abs() < 0.01, "{one}");
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<f64> = (0..20_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
