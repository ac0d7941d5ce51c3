//! `powerslot plan` (being built).

/// Arguments of `powerslot plan`.
#[derive(clap::Args)]
pub(crate) struct Args {}

/// Runs the command.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("this command is being built")
}
