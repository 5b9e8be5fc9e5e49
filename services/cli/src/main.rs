use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    bilipulse_runtime::telemetry::install_crypto_provider();
    let cli = bilipulse::Cli::parse();
    match bilipulse::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
