//! `powerslot bench` (being built).

/// Subcommands of `powerslot bench`.
#[derive(clap::Subcommand)]
pub(crate) enum Bench {
    /// Placeholder while the command is built.
    Todo,
}

/// Runs the command.
pub(crate) fn run(_cmd: Bench) -> anyhow::Result<()> {
    anyhow::bail!("this command is being built")
}
