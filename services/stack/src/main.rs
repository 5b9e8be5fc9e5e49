//! `bilipulse-stack`: see the library's documentation.

use std::process::ExitCode;

use bilipulse_stack::config::{Cli, Command, UpArgs};
use bilipulse_stack::{StackError, remote};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let result = match Cli::parse().command {
        Command::Up(args) => return up(*args).await,
        Command::Scale(s) => remote::scale(&s).await,
        Command::Ps(c) => remote::processes(&c).await.map(|l| remote::table(&l)),
    };
    match result {
        Ok(out) => {
            println!("{}", out.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("bilipulse-stack: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let _telemetry = bilipulse_runtime::telemetry::init("bilipulse-stack", &args.log)?;
    let stop = bilipulse_runtime::shutdown::Shutdown::on_signals()?;
    // SIGHUP (the terminal closed) stops the stack as SIGTERM does.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let on_hup = stop.clone();
    tokio::spawn(async move {
        if hup.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "shutdown requested");
            on_hup.trigger();
        }
    });
    match bilipulse_stack::up::run(args, stop.token().clone()).await {
        Ok(()) | Err(StackError::Interrupted) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!(error = %e, "the stack could not start");
            eprintln!("bilipulse-stack: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
