//! One module per subcommand: clap arguments and a `run` that calls the libraries.

pub(crate) mod bench;
pub(crate) mod day;
pub(crate) mod figure;
pub(crate) mod forecast;
pub(crate) mod harvest;
pub(crate) mod paper;
pub(crate) mod plan;
