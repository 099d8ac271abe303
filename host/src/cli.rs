//! Command-line arguments of `streamsum-host` and their dispatch.
//!
//! Every flag also reads an environment variable, as Gazette's commands do. Each
//! subcommand is one variant of [`Command`] with its own args struct and one `run_*`
//! function, so adding a subcommand (`chunker`, `shards`, `plugins`) is a variant, a
//! struct and a match arm. With no subcommand the host runs its main service
//! (`--app X.wasm`, added by the runtime).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::journal::defaults::DEFAULT_PARTITIONS;
use crate::service::{gazctl, EmbeddedBroker, EmbeddedOptions, DEFAULT_MAX_APPEND_BYTES};

/// streamsum-host: journals, a Gazette-compatible broker, shards and a wasm plugin runtime.
#[derive(Debug, Parser)]
#[command(name = "streamsum-host", version, about)]
pub struct Cli {
    /// Log filter (tracing-subscriber EnvFilter syntax).
    #[arg(long, env = "STREAMSUM_LOG", default_value = "info", global = true)]
    pub log: String,
    /// What to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker alone: journals in a data directory, served over gRPC.
    Broker(BrokerArgs),
    /// A small gazctl: list, read, append and apply journals on any broker.
    Journals(gazctl::JournalsArgs),
}

/// Arguments of `streamsum-host broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Directory holding the journals.
    #[arg(long, env = "BROKER_DATA_DIR", default_value = "streamsum-data")]
    pub data_dir: PathBuf,
    /// Address to serve gRPC on (port 0 picks a free port).
    #[arg(long, env = "BROKER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Chunk partitions of the stream-sum journals created on first start.
    #[arg(long, env = "BROKER_PARTITIONS", default_value_t = DEFAULT_PARTITIONS)]
    pub partitions: usize,
    /// Largest single append accepted, in bytes.
    #[arg(long, env = "BROKER_MAX_APPEND_BYTES", default_value_t = DEFAULT_MAX_APPEND_BYTES)]
    pub max_append_bytes: usize,
}

/// Parses arguments, sets up logging and a runtime, and runs the chosen command.
///
/// # Errors
/// Whatever the command fails with, with context.
pub fn main_with(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log).context("--log filter")?)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Some(Command::Broker(args)) => run_broker(args).await,
            Some(Command::Journals(args)) => gazctl::run(args).await,
            None => anyhow::bail!("no command given: try `streamsum-host broker` or `streamsum-host --help`"),
        }
    })
}

/// `streamsum-host broker`: serve until SIGINT or SIGTERM, then shut down cleanly.
pub async fn run_broker(args: BrokerArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;
    let opts = EmbeddedOptions { partitions: args.partitions, max_append_bytes: args.max_append_bytes, ..Default::default() };
    let broker = EmbeddedBroker::start(&args.data_dir, listener, opts).await?;
    println!("broker listening on {}", broker.url());
    shutdown_signal().await?;
    tracing::info!("shutting down");
    broker.shutdown().await
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
