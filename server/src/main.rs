//! `edgesketch-server`: parse the command line, start logging, hand over to the library.

use clap::Parser;
use edgesketch_server::auth::{Auth, hash_token};
use edgesketch_server::config::{Cli, Command};
use edgesketch_server::engine::system_clock;
use edgesketch_server::{AppState, demo, run, shutdown_signal};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; stdout carries what scripts read (`listening on …`, the demo's report).
    // Colours only on a terminal: a log file or journal would get the escape codes.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_env("EDGESKETCH_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.server).await,
        Command::Demo(demo) => demo::run_demo(cli.server, demo).await,
        Command::HashToken { token } => {
            println!("{}", hash_token(&token));
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgesketch-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: edgesketch_server::config::ServerConfig) -> Result<(), String> {
    let auth = match (&config.tenants, config.open) {
        (Some(_), true) => {
            return Err("--open and --tenants exclude each other: give one".into());
        }
        (Some(path), false) => Auth::from_file(path)?,
        (None, true) => Auth::open(),
        (None, false) => {
            return Err(
                "give --tenants <file> (tenants and hashed tokens; see docs/OPERATIONS.md), or --open for a local server without authentication".into(),
            );
        }
    };
    // The store first (its integrity check may take a while on a large file), then the port:
    // nobody connects to a server that is not ready to answer.
    let listen = config.listen;
    let state = AppState::open(config, auth, system_clock())?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "edgesketch-server listening");
    // Tests and scripts read this line to learn the port of --listen 127.0.0.1:0.
    println!("listening on http://{addr}");
    run(listener, state, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}
