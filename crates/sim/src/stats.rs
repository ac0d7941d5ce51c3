//! Means and Student-t confidence intervals for paired differences.

/// Two-sided 97.5 % quantiles of Student's t for 1–30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The 0.975 quantile of Student's t with `df` degrees of freedom (table up to
/// 30, Cornish–Fisher expansion beyond, accurate to 1e-4 there).
pub fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    if df <= T975.len() {
        return T975[df - 1];
    }
    let z = 1.959_963_984_540_054_f64;
    let n = df as f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * n)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * n * n * n)
}

/// Arithmetic mean (NaN for no values).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Half-width of the 95 % t-interval of the mean of `xs` (NaN for fewer than two values).
pub fn ci95_half_width(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    t975(n - 1) * (var / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        assert_eq!(t975(1), 12.706);
        assert!((t975(40) - 2.0211).abs() < 1e-3);
        assert!((t975(99) - 1.9842).abs() < 1e-3);
        assert!((t975(1000) - 1.9623).abs() < 1e-3);
    }

    #[test]
    fn interval_of_known_sample() {
        // Mean 2, sample sd 1, n = 4: half-width t(3) · 1/2 = 1.591.
        let xs = [1.0, 2.0, 3.0, 2.0];
        let sd = (2.0f64 / 3.0).sqrt();
        assert!((ci95_half_width(&xs) - 3.182 * sd / 2.0).abs() < 1e-9);
        assert_eq!(mean(&xs), 2.0);
        assert!(ci95_half_width(&[1.0]).is_nan());
    }
}
