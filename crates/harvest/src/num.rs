//! Float rounding without `std` (core has no `f64::floor`): exact for the magnitudes used here
//! (|x| < 2^53), saturating beyond.

/// Largest integer not above `x`.
pub(crate) fn floor(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t > x { t - 1.0 } else { t }
}

/// Smallest integer not below `x`.
pub(crate) fn ceil(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t < x { t + 1.0 } else { t }
}

/// Nearest integer, halves away from zero (as C's `round`).
pub(crate) fn round(x: f64) -> f64 {
    if x >= 0.0 {
        floor(x + 0.5)
    } else {
        ceil(x - 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_std() {
        for &x in &[
            -2.5,
            -2.0,
            -1.7,
            -0.5,
            -0.2,
            0.0,
            0.2,
            0.5,
            1.5,
            2.0,
            2.49,
            1e12 + 0.5,
        ] {
            assert_eq!(floor(x), x.floor(), "floor {x}");
            assert_eq!(ceil(x), x.ceil(), "ceil {x}");
            assert_eq!(round(x), x.round(), "round {x}");
        }
    }
}
