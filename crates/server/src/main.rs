//! `spoke`: parse the command line, set up logging, run the command, exit non-zero with a
//! readable message when anything fails.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hubspot::time::Clock;
use spoke_server::app::{self, Open};
use spoke_server::cli::settings::{self, check_unknown_variables, token_keys};
use spoke_server::cli::{
    Cli, Command, DeadLettersArgs, DeadLettersCommand, KeysCommand, PortalsArgs, PortalsCommand,
    RecordsArgs, RecordsCommand, SyncArgs, SyncCommand,
};
use spoke_server::oauth::vault::Keyring;
use spoke_server::ops::{self, dead_letters, keys, portals, records, sync};
use spoke_server::{http, telemetry, App};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match telemetry::init(&cli.log) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("spoke: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "spoke stopped");
            ExitCode::FAILURE
        }
    };
    // The exporter blocks while it sends what is left; off the runtime's worker threads.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}

async fn run(command: Command) -> anyhow::Result<()> {
    check_unknown_variables(std::env::vars().map(|(name, _)| name))?;
    let clock = Clock::system();
    match command {
        Command::Serve(args) => {
            let config = settings::serve(&args, env)?;
            let listener = TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("SPOKE_LISTEN: cannot listen on {}", config.listen))?;
            let app = App::build(config, clock).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            app.run(listener, shutdown).await
        }
        #[cfg(feature = "demo")]
        Command::Demo(args) => {
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            spoke_server::ops::demo::run(args, shutdown).await
        }
        Command::Migrate(args) => {
            app::open_store(&settings::database(&args), Open::CreateIfMissing).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Portals(args) => print_output(portals_command(args, clock)).await,
        Command::DeadLetters(args) => print_output(dead_letters_command(args)).await,
        Command::Records(args) => print_output(records_command(args)).await,
        Command::Sync(args) => print_output(sync_command(args, clock)).await,
        Command::Healthcheck(args) => ops::healthcheck::check(&args.listen).await,
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&http::admin_api_document())?
            );
            Ok(())
        }
        Command::Keys(args) => print_output(keys_command(args.command, clock)).await,
    }
}

/// `spoke portals …`: what it printed.
async fn portals_command(args: PortalsArgs, clock: Clock) -> anyhow::Result<String> {
    let database = settings::database(&args.database);
    let store = app::open_store(&database, Open::Existing).await?;
    Ok(match args.command {
        PortalsCommand::List => portals::list(store.as_ref()).await?,
        PortalsCommand::Show { portal_id } => portals::show(store.as_ref(), portal_id).await?,
        PortalsCommand::Uninstall { portal_id, hubspot } => {
            let install = settings::install(&hubspot, &env)?
                .context("SPOKE_HUBSPOT_CLIENT_ID: required to uninstall at HubSpot")?;
            portals::uninstall(store, &install, clock, portal_id).await?
        }
        PortalsCommand::Erase { portal_id, yes } => {
            portals::erase(store.as_ref(), &clock, portal_id, yes).await?
        }
    })
}

/// `spoke dead-letters …`: what it printed.
async fn dead_letters_command(args: DeadLettersArgs) -> anyhow::Result<String> {
    let database = settings::database(&args.database);
    let store = app::open_store(&database, Open::Existing).await?;
    Ok(match args.command {
        DeadLettersCommand::List {
            portal,
            sink,
            limit,
        } => dead_letters::list(store.as_ref(), portal, sink, limit).await?,
        DeadLettersCommand::Replay {
            id,
            portal,
            all,
            sink,
        } => {
            let which = dead_letters::which(id, portal, all)?;
            dead_letters::replay(store.as_ref(), which, sink).await?
        }
    })
}

/// `spoke records get …`: the record.
async fn records_command(args: RecordsArgs) -> anyhow::Result<String> {
    let database = settings::database(&args.database);
    let store = app::open_store(&database, Open::Existing).await?;
    let RecordsCommand::Get {
        portal_id,
        object_type,
        object_id,
    } = args.command;
    records::get(store.as_ref(), portal_id, &object_type, object_id).await
}

/// `spoke sync …`: what it printed. A backfill asked for in a terminal is watched to its
/// end.
async fn sync_command(args: SyncArgs, clock: Clock) -> anyhow::Result<String> {
    use std::io::IsTerminal;

    let database = settings::database(&args.database);
    let store = app::open_store(&database, Open::Existing).await?;
    match args.command {
        SyncCommand::Reconcile { portal } => {
            sync::reconcile(store.as_ref(), portal, clock.now_ms()).await
        }
        SyncCommand::Status { portal } => {
            sync::status(store.as_ref(), portal, clock.now_ms()).await
        }
        SyncCommand::Backfill {
            portal,
            object_type,
        } => {
            let now = clock.now_ms();
            let asked = sync::backfill(store.as_ref(), portal, object_type.as_deref(), now).await?;
            if !std::io::stdout().is_terminal() {
                return Ok(asked);
            }
            print!("{asked}");
            sync::watch(store.as_ref(), portal, &clock).await
        }
    }
}

/// `spoke keys …`: a new key entry, or what the rotation did.
async fn keys_command(command: KeysCommand, clock: Clock) -> anyhow::Result<String> {
    Ok(match command {
        KeysCommand::Generate { id } => format!("{}\n", Keyring::generate_entry(&id)),
        KeysCommand::Rotate { database } => {
            let ring = token_keys(env)?;
            let database = settings::database(&database);
            let store = app::open_store(&database, Open::Existing).await?;
            keys::rotate(store.as_ref(), &ring, &clock).await?
        }
    })
}

/// Prints what an operator command produced.
async fn print_output(
    output: impl std::future::Future<Output = anyhow::Result<String>>,
) -> anyhow::Result<()> {
    print!("{}", output.await?);
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// SIGTERM (orchestrators) or Ctrl-C starts a graceful shutdown.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on Unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
