//! `spoke-sim serve`: the HubSpot simulator on its own.

use clap::{Parser, Subcommand};
use spoke_sim::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "spoke-sim",
    version,
    about = "A HubSpot simulator: CRM API with rate limits, signed webhooks with retries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the CRM API, the webhook dispatcher and the `/_sim/` admin API.
    Serve(Settings),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPOKE_SIM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Command::Serve(settings) = Cli::parse().command;
    let listener = tokio::net::TcpListener::bind(&settings.listen).await?;
    let running = spoke_sim::start(settings, listener, hubspot::time::Clock::system()).await?;
    tracing::info!(addr = %running.addr, "listening");
    println!("spoke-sim listening on {}", running.base_url());
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}
