use anyhow::Context as _;
use clap::Parser;

/// mimalloc instead of glibc's malloc: at tens of thousands of connections, glibc's arenas keep
/// the memory of the frames a subscribe burst allocated and freed (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bilipulse_runtime::telemetry::install_crypto_provider();
    let config = bilipulse_gateway::Config::parse();
    if config.runtime.check_config {
        config.access.token().context("reading --api-token-file")?;
        println!("{config:#?}");
        return Ok(());
    }
    let _telemetry = bilipulse_runtime::telemetry::init("bilipulse-gateway", &config.runtime.log)?;
    raise_open_files_limit();
    let shutdown = bilipulse_runtime::shutdown::Shutdown::on_signals()
        .context("installing signal handlers")?;
    bilipulse_gateway::run(config, shutdown).await?;
    Ok(())
}

/// Every client holds a socket: raises the soft open-files limit to the hard limit (often 1024
/// soft on a 1 M hard limit), and logs what the limit is, which bounds the clients held.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open files limit"),
    }
}
