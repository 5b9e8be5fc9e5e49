use anyhow::Context as _;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bilipulse_runtime::telemetry::install_crypto_provider();
    let config = bilipulse_windower::Config::parse();
    if config.runtime.check_config {
        println!("{config:#?}");
        return Ok(());
    }
    let _telemetry = bilipulse_runtime::telemetry::init("bilipulse-windower", &config.runtime.log)?;
    let shutdown = bilipulse_runtime::shutdown::Shutdown::on_signals()
        .context("installing signal handlers")?;
    bilipulse_windower::run(config, shutdown).await?;
    Ok(())
}
