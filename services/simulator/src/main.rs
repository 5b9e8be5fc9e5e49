//! `bilipulse-sim`: runs the Bilibili stand-in until Ctrl-C (or SIGTERM), or measures its own
//! throughput with `--bench-seconds`.

use anyhow::Context;
use clap::Parser;

/// Command line of `bilipulse-sim`.
#[derive(Debug, Parser)]
#[command(
    name = "bilipulse-sim",
    version,
    about = "A protocol-faithful stand-in for Bilibili's live servers"
)]
struct Cli {
    #[command(flatten)]
    sim: bilipulse_sim::SimConfig,

    /// Log format: text or json.
    #[arg(long, env = "BILIPULSE_SIM_LOG_FORMAT", default_value = "text")]
    log_format: String,

    /// Instead of serving, generate+render+compress this many virtual seconds of the
    /// configured traffic without sockets and print the achieved rate (JSON).
    #[arg(long, env = "BILIPULSE_SIM_BENCH_SECONDS")]
    bench_seconds: Option<f64>,

    /// Parse every flag and environment variable, print the effective configuration and exit
    /// (0 when valid).
    #[arg(long)]
    check_config: bool,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.check_config {
        println!("{:#?}", cli.sim);
        return Ok(());
    }
    init_logging(&cli.log_format);
    if let Some(secs) = cli.bench_seconds {
        let report =
            bilipulse_sim::bench::run(&cli.sim, secs, &[(false, cli.sim.default_protover)])
                .context("benchmark")?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let sim = bilipulse_sim::start(cli.sim)
        .await
        .context("starting the simulator")?;
    println!("{}", sim.http_base());
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
