//! Draws the figures `deploy/bench.sh` writes (one JSON object per line) as a PNG chart, so that
//! `docs/` shows the comparison with the peers as a picture next to the table.
//!
//! Inputs: `target/bench/decode.jsonl` (`deploy/bench.sh decode`), one line per (mode,
//! connections, client) with `msgs_per_cpu_s`: one group of bars per case, one bar per client,
//! bilipulse's labelled with its ratio to the best peer; or, with `--windows`,
//! `target/bench/windows.jsonl` (`deploy/bench.sh windows`): events per CPU-second of each
//! counting system, alone and with its store, and whether its windows were right.

pub mod figures;
pub mod plot;

use std::path::PathBuf;

pub use figures::{DecodeFigure, FiguresError, WindowsFigure, read_figures};
pub use plot::{Bar, BarChart, PlotError, draw_bars};

/// The font `--font` defaults to: DejaVu Sans as Debian installs it.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Flags of `bilipulse-benchplot`.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub struct Args {
    /// The decode figures (JSON lines from `deploy/bench.sh decode`).
    #[arg(
        long,
        default_value = "target/bench/decode.jsonl",
        env = "BILIPULSE_BENCH_DECODE"
    )]
    pub decode: PathBuf,

    /// Draw the windowed-counting figures (JSON lines from `deploy/bench.sh windows`) instead.
    #[arg(long, env = "BILIPULSE_BENCH_WINDOWS")]
    pub windows: Option<PathBuf>,

    /// Where to write the PNG.
    #[arg(
        long,
        default_value = "docs/bench-decode.png",
        env = "BILIPULSE_BENCH_PNG"
    )]
    pub out: PathBuf,

    /// A TrueType font for the labels (Debian: fonts-dejavu-core).
    #[arg(
        long,
        default_value = DEFAULT_FONT,
        env = "BILIPULSE_BENCH_FONT"
    )]
    pub font: PathBuf,

    /// A line under the title: the machine and the date of the run.
    #[arg(long, default_value = "", env = "BILIPULSE_BENCH_CAPTION")]
    pub caption: String,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum BenchPlotError {
    /// The figures could not be read.
    #[error(transparent)]
    Figures(#[from] FiguresError),
    /// Drawing or writing the PNG failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// Reads the figures and draws the chart.
pub fn run(args: &Args) -> Result<(), BenchPlotError> {
    let chart = match &args.windows {
        Some(path) => figures::windows_chart(&read_figures::<WindowsFigure>(path)?),
        None => figures::decode_chart(&read_figures::<DecodeFigure>(&args.decode)?),
    };
    draw_bars(&chart, &args.font, &args.caption, &args.out)?;
    Ok(())
}
