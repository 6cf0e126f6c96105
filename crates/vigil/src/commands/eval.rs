//! `vigil eval`: placeholder.
use clap::Args;
/// Evaluate.
#[derive(Debug, Args)]
pub struct EvalArgs {}
/// Runs `vigil eval`.
pub fn run(_args: EvalArgs) -> anyhow::Result<()> {
    Ok(())
}
