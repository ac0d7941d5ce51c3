//! One module per subcommand: clap arguments and a `run` that calls the libraries.

pub(crate) mod bench;
pub(crate) mod figure;
pub(crate) mod forecast;
pub(crate) mod harvest;
pub(crate) mod paper;
pub(crate) mod plan;
pub(crate) mod simulate;

/// The worker threads a `--threads` option asks for: all cores when not given.
pub(crate) fn threads(option: Option<usize>) -> anyhow::Result<usize> {
    match option {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(t) => Ok(t),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}
