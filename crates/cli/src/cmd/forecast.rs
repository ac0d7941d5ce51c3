//! `powerslot forecast` (being built).

/// Subcommands of `powerslot forecast`.
#[derive(clap::Subcommand)]
pub(crate) enum Forecast {
    /// Placeholder while the command is built.
    Todo,
}

/// Runs the command.
pub(crate) fn run(_cmd: Forecast) -> anyhow::Result<()> {
    anyhow::bail!("this command is being built")
}
