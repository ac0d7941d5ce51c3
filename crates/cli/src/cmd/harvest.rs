//! `powerslot harvest` (being built).

/// Subcommands of `powerslot harvest`.
#[derive(clap::Subcommand)]
pub(crate) enum Harvest {
    /// Placeholder while the command is built.
    Todo,
}

/// Runs the command.
pub(crate) fn run(_cmd: Harvest) -> anyhow::Result<()> {
    anyhow::bail!("this command is being built")
}
