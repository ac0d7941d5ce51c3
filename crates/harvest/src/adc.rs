//! Reading the battery level through a d-bit ADC on a linear voltage/charge scale.

use crate::error::{HarvestError, Result};
use crate::num::round;

/// A d-bit ADC measuring battery voltage, mapped linearly onto `[B_min, B_max]`:
/// `x_max = 2^d − 1`, `x_min = round(v_min / v_max · x_max)`, `x = round(v / v_max · x_max)`,
/// `B = B_min + (B_max − B_min)/(x_max − x_min) · (x − x_min)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adc {
    bits: u8,
    v_min: f64,
    v_max: f64,
    b_min: f64,
    b_max: f64,
}

impl Adc {
    /// An ADC of `bits` (1..=24) bits; the battery is at `b_min` at `v_min` volts and at `b_max`
    /// at `v_max` volts.
    pub fn new(bits: u8, v_min: f64, v_max: f64, b_min: f64, b_max: f64) -> Result<Self> {
        if !(1..=24).contains(&bits) {
            return Err(HarvestError::InvalidParameter {
                name: "bits",
                value: f64::from(bits),
                reason: "ADC resolution must be 1..=24 bits",
            });
        }
        if !(v_min.is_finite() && v_max.is_finite() && 0.0 <= v_min && v_min < v_max) {
            return Err(HarvestError::InvalidParameter {
                name: "v_min",
                value: v_min,
                reason: "need 0 <= v_min < v_max, both finite",
            });
        }
        if !(b_min.is_finite() && b_max.is_finite() && b_min < b_max) {
            return Err(HarvestError::InvalidParameter {
                name: "B_min",
                value: b_min,
                reason: "need B_min < B_max, both finite",
            });
        }
        let adc = Self {
            bits,
            v_min,
            v_max,
            b_min,
            b_max,
        };
        if adc.x_min() >= adc.x_max() {
            return Err(HarvestError::InvalidParameter {
                name: "v_min",
                value: v_min,
                reason: "v_min rounds to the top ADC code; no levels are left",
            });
        }
        Ok(adc)
    }

    /// Highest code `2^d − 1`.
    pub fn x_max(&self) -> u32 {
        (1u32 << self.bits) - 1
    }

    /// Code of the empty battery, `round(v_min / v_max · x_max)`.
    pub fn x_min(&self) -> u32 {
        round(self.v_min / self.v_max * f64::from(self.x_max())) as u32
    }

    /// Number of distinguishable battery levels `x_max − x_min + 1`: the L of the DP scheduler.
    pub fn levels(&self) -> u32 {
        self.x_max() - self.x_min() + 1
    }

    /// The code read at voltage `v` (clamped to `0..=x_max`; NaN reads 0).
    pub fn read(&self, v: f64) -> u32 {
        let x = round(v / self.v_max * f64::from(self.x_max()));
        if x.is_nan() || x <= 0.0 {
            0
        } else {
            (x as u32).min(self.x_max())
        }
    }

    /// Battery level for code `x` (codes below `x_min` give values below `B_min`).
    pub fn level(&self, x: u32) -> f64 {
        let span = f64::from(self.x_max() - self.x_min());
        self.b_min + (self.b_max - self.b_min) / span * (f64::from(x) - f64::from(self.x_min()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_bit_adc_over_a_lipo() {
        // 10 bits, 3.0 V empty, 4.2 V full, 300..2000 mAh.
        let adc = Adc::new(10, 3.0, 4.2, 300.0, 2000.0).unwrap();
        assert_eq!(adc.x_max(), 1023);
        assert_eq!(adc.x_min(), 731); // round(3.0/4.2·1023) = round(730.71)
        assert_eq!(adc.levels(), 293);
        assert_eq!(adc.read(4.2), 1023);
        assert_eq!(adc.read(3.0), 731);
        assert_eq!(adc.read(5.0), 1023);
        assert_eq!(adc.read(-1.0), 0);
        assert!((adc.level(1023) - 2000.0).abs() < 1e-9);
        assert!((adc.level(731) - 300.0).abs() < 1e-9);
        let mid = adc.level(adc.read(3.6));
        assert!((mid - 1150.0).abs() < 10.0, "{mid}");
    }

    #[test]
    fn rejects_bad_adc() {
        assert!(Adc::new(0, 3.0, 4.2, 0.0, 1.0).is_err());
        assert!(Adc::new(10, 4.2, 3.0, 0.0, 1.0).is_err());
        assert!(Adc::new(10, 3.0, 4.2, 1.0, 1.0).is_err());
        assert!(Adc::new(1, 3.9, 4.2, 0.0, 1.0).is_err());
    }
}
