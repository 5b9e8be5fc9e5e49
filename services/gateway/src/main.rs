use anyhow::Context as _;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bilipulse_runtime::telemetry::install_crypto_provider();
    let config = bilipulse_gateway::Config::parse();
    if config.check_config {
        config.access.token().context("reading --api-token-file")?;
        println!("{config:#?}");
        return Ok(());
    }
    let _telemetry = bilipulse_runtime::telemetry::init("bilipulse-gateway", &config.runtime.log)?;
    let shutdown = bilipulse_runtime::shutdown::Shutdown::on_signals()
        .context("installing signal handlers")?;
    bilipulse_gateway::run(config, shutdown).await?;
    Ok(())
}
