//! `bilipulse-benchplot`: the PNG chart of `deploy/bench.sh`'s figures.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = bilipulse_benchplot::Args::parse();
    bilipulse_benchplot::run(&args)?;
    Ok(())
}
