//! Minimal `vigil` entry point for the vision branch; replaced by the real one at merge.
mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Vigil (vision commands only on this branch)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse image files: faces, masks, embeddings, liveness. Safe while the server runs.
    Analyze(commands::analyze::AnalyzeArgs),
    /// Evaluate detection or mask accuracy on labelled test images. Safe while the server runs.
    Eval(commands::eval::EvalArgs),
    /// Measure model latency per engine and thread count. Safe while the server runs (numbers skewed if busy).
    Bench(commands::bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Bench(args) => commands::bench::run(args),
    }
}
