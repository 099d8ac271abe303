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
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

pub use crate::chunker::ChunkerArgs;
use crate::journal::defaults::DEFAULT_PARTITIONS;
use crate::ops::logging::{LogFormat, LogLevel};
use crate::service::{gazctl, EmbeddedBroker, EmbeddedOptions, DEFAULT_MAX_APPEND_BYTES};

/// streamsum-host: journals, a Gazette-compatible broker, shards and a wasm plugin runtime.
#[derive(Debug, Parser)]
#[command(name = "streamsum-host", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Log filter in tracing-subscriber EnvFilter syntax (e.g. `warn,streamsum_host=debug`);
    /// overrides RUST_LOG and --log-level.
    #[arg(long, env = "STREAMSUM_LOG", global = true)]
    pub log: Option<String>,
    /// Least severe level logged, unless --log or RUST_LOG say otherwise.
    #[arg(long, env = "STREAMSUM_LOG_LEVEL", value_enum, default_value_t = LogLevel::Info, global = true)]
    pub log_level: LogLevel,
    /// Log lines as text or as JSON objects, one per line.
    #[arg(long, env = "STREAMSUM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// A TOML file of settings: top-level keys are the main service's long flag names,
    /// `[broker]`, `[chunker]` and `[journals]` tables the subcommands'. The command line
    /// and environment variables take precedence over it.
    #[arg(long, env = "STREAMSUM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The main service (used when no subcommand is given).
    #[command(flatten)]
    pub app: crate::app::AppArgs,
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
    /// Run the chunker job: publish streams of chunks, verify the summer's sums.
    ///
    /// Exits non-zero, with one line naming the worker and stream, on any wrong,
    /// missing, duplicated or late sum.
    Chunker(ChunkerArgs),
    /// Hot reload of the summer plugin of a running host.
    Plugins(crate::service::control_cli::PluginsArgs),
    /// List a running host's shards: status, plugin version, progress.
    Shards(crate::service::control_cli::ShardsArgs),
    /// Print the main service's effective configuration (and the subcommands') as TOML,
    /// with where each value came from.
    PrintConfig(crate::app::AppArgs),
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
    #[arg(long, env = "BROKER_PARTITIONS", default_value_t = DEFAULT_PARTITIONS, value_parser = crate::flags::partitions)]
    pub partitions: usize,
    /// Largest single append accepted, in bytes.
    #[arg(long, env = "BROKER_MAX_APPEND_BYTES", default_value_t = DEFAULT_MAX_APPEND_BYTES)]
    pub max_append_bytes: usize,
    /// Membership of a cluster (`--etcd`): journals are then specs in etcd (apply them
    /// with `journals apply`; --partitions creates none), served by the brokers the
    /// allocator assigns them to; any broker lists them all and proxies the others.
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
    /// Most journals this broker serves in a cluster.
    #[arg(long, env = "BROKER_JOURNAL_LIMIT", default_value_t = crate::cluster::brokers::DEFAULT_JOURNAL_LIMIT)]
    pub journal_limit: u32,
}

/// The binary's entry point: applies `--config FILE`, parses the command line (clap
/// prints usage errors and exits 2), and runs the command.
///
/// # Errors
/// An unusable configuration file, or whatever the command fails with.
pub fn main() -> anyhow::Result<()> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    crate::ops::config::apply_file(&argv, &Cli::command())?;
    let matches = Cli::command().try_get_matches_from(&argv).unwrap_or_else(|e| e.exit());
    if let Some(("print-config", sub)) = matches.subcommand() {
        print!("{}", crate::ops::config::render(&Cli::command(), sub));
        return Ok(());
    }
    main_with(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()))
}

/// Sets up logging and a runtime, and runs the chosen command.
///
/// # Errors
/// Whatever the command fails with, with context.
pub fn main_with(cli: Cli) -> anyhow::Result<()> {
    crate::ops::logging::init(cli.log.as_deref(), cli.log_format, cli.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Some(Command::Broker(args)) => run_broker(args).await,
            Some(Command::Journals(args)) => gazctl::run(args).await,
            Some(Command::Chunker(args)) => crate::chunker::run(args).await,
            Some(Command::Plugins(args)) => crate::service::control_cli::run_plugins(args).await,
            Some(Command::Shards(args)) => crate::service::control_cli::run_shards(args).await,
            Some(Command::PrintConfig(_)) => Ok(()), // Handled by `main` before logging starts.
            None => crate::app::run(cli.app).await,
        }
    })
}

/// `streamsum-host broker`: serve until SIGINT or SIGTERM, then shut down cleanly.
pub async fn run_broker(args: BrokerArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;
    let opts = EmbeddedOptions { partitions: args.partitions, max_append_bytes: args.max_append_bytes, ..Default::default() };
    if args.cluster.etcd.is_some() {
        return run_cluster_broker(args, listener, opts).await;
    }
    let broker = EmbeddedBroker::start(&args.data_dir, listener, opts).await?;
    println!("broker listening on {}", broker.url());
    crate::shutdown::signal().await?;
    tracing::info!("shutting down");
    broker.shutdown().await
}

/// `streamsum-host broker --etcd URL`: a member of the brokers' cluster.
async fn run_cluster_broker(args: BrokerArgs, listener: tokio::net::TcpListener, opts: EmbeddedOptions) -> anyhow::Result<()> {
    let endpoint = format!("http://{}", listener.local_addr().context("listener address")?);
    let storage = EmbeddedBroker::open_storage(&args.data_dir).await?;
    let member = crate::cluster::brokers::BrokerMember::join(&args.cluster, &endpoint, args.journal_limit, storage.clone()).await?;
    let routing = crate::service::Routing { routes: member.routes(), catalog: member.catalog(), replicator: Some(member.replicator()) };
    let broker = EmbeddedBroker::serve(storage, listener, opts, None, Some(routing))?;
    println!("broker listening on {}", broker.url());
    let mut lost = member.lost();
    let result = tokio::select! {
        r = crate::shutdown::signal() => r,
        _ = lost.wait_for(|lost| *lost) => Err(anyhow::anyhow!("lost this broker's etcd lease (etcd unreachable for longer than --etcd-lease?): its journals are being re-assigned")),
    };
    tracing::info!("shutting down");
    let stopped = broker.shutdown().await;
    member.leave().await;
    result.and(stopped)
}
