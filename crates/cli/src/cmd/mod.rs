//! One module per subcommand: clap arguments and a `run` that calls the libraries.

pub(crate) mod agent;
pub(crate) mod bench;
pub(crate) mod demo;
pub(crate) mod figure;
pub(crate) mod forecast;
pub(crate) mod harvest;
pub(crate) mod load;
pub(crate) mod paper;
pub(crate) mod plan;
pub(crate) mod serve;
