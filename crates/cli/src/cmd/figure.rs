//! `powerslot figure` (being built).

/// Arguments of `powerslot figure`.
#[derive(clap::Args)]
pub(crate) struct Args {}

/// Runs the command.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("this command is being built")
}
