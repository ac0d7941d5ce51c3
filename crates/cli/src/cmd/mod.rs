//! One module per subcommand: clap arguments and a `run` that calls the libraries.

pub(crate) mod agent;
pub(crate) mod bench;
pub(crate) mod day;
pub(crate) mod day_inputs;
pub(crate) mod demo;
pub(crate) mod figure;
pub(crate) mod forecast;
pub(crate) mod harvest;
pub(crate) mod load;
pub(crate) mod paper;
pub(crate) mod plan;
pub(crate) mod serve;
pub(crate) mod simulate;

use anyhow::{Result, bail};

/// Worker threads for `--threads`: at least 1, and at most the machine's
/// parallelism (more only adds start-up cost and memory; a note says so).
/// `None` means all of them.
pub(crate) fn threads(requested: Option<usize>) -> Result<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match requested {
        None => Ok(cores),
        Some(0) => bail!("--threads must be at least 1 (this machine has {cores} cores)"),
        Some(t) if t > cores => {
            eprintln!("note: --threads {t} is more than the {cores} cores here; using {cores}");
            Ok(cores)
        }
        Some(t) => Ok(t),
    }
}

/// Checks that `value` of `option` lies in `min..=max`, naming both in the error.
pub(crate) fn in_range<T: PartialOrd + std::fmt::Display>(
    option: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T> {
    if value < min || value > max {
        bail!("{option} must be between {min} and {max}, got {value}");
    }
    Ok(value)
}

/// Checks that a floating-point `value` of `option` is finite and in `min..=max`.
pub(crate) fn finite_in(option: &str, value: f64, min: f64, max: f64) -> Result<f64> {
    if !value.is_finite() || value < min || value > max {
        bail!("{option} must be a number between {min} and {max}, got {value}");
    }
    Ok(value)
}

/// Checks that a floating-point `value` of `option` is finite, above 0 and at most `max`.
pub(crate) fn positive(option: &str, value: f64, max: f64) -> Result<f64> {
    if !(value.is_finite() && value > 0.0 && value <= max) {
        bail!("{option} must be a number above 0 and at most {max}, got {value}");
    }
    Ok(value)
}
