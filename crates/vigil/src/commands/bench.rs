//! `vigil bench`: placeholder.
use clap::Args;
/// Benchuate.
#[derive(Debug, Args)]
pub struct BenchArgs {}
/// Runs `vigil bench`.
pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    Ok(())
}
