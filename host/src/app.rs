//! The main service: `streamsum-host --app guest_summer.wasm`.
//!
//! Starts the embedded broker (or connects to `--broker`), loads the summer plugin,
//! and runs one shard per chunk partition until SIGINT or SIGTERM. This is Gazette's
//! `summer` consumer process plus, by default, a one-node broker in the same process
//! (its shards read and append in process, with no gRPC hop).
//!
//! Data directory layout: `broker/` (journals of the embedded broker),
//! `shards/<id>/` (each shard's RocksDB), `plugin-cache/` (precompiled components).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tokio::sync::watch;

use crate::cluster::directory::EtcdDirectory;
use crate::cluster::shards::{ShardMember, DEFAULT_SHARD_LIMIT};
use crate::cluster::ClusterArgs;
use crate::consumer::directory::FixedDirectory;
use crate::consumer::shardspace::Source;
use crate::consumer::{
    recovery_log_for, run_shard, shard_id_for, DeclaredShard, FixedAssignments, RunShard, ShardEnv, ShardHost, ShardList,
    ShardSpec, StatusSnapshot,
};
use crate::journal::defaults::{DEFAULT_PARTITIONS, MESSAGE_TYPE, PREFIX};
use crate::journal::{JournalClient, LabelSelector, LabelSet};
use crate::runtime::{plugin_watch, ComponentCache, PluginEngine, Reloader, SummerPlugin};
use crate::service::control::Control;
use crate::service::shard_api::ShardApi;
use crate::service::{EmbeddedBroker, EmbeddedOptions, GrpcJournalClient, HostServer, HostServices};

/// Arguments of the main service.
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// The summer plugin: a wasm32-wasip2 component implementing the `summer` world.
    #[arg(long, env = "STREAMSUM_APP")]
    pub app: Option<PathBuf>,
    /// Run only the shards, against this broker (e.g. http://127.0.0.1:8080) instead of
    /// starting the embedded broker.
    #[arg(long, env = "STREAMSUM_BROKER")]
    pub broker: Option<String>,
    /// Directory for journals (embedded broker), shard stores and the plugin cache.
    #[arg(long, env = "STREAMSUM_DATA_DIR", default_value = "streamsum-data")]
    pub data_dir: PathBuf,
    /// Address the embedded broker serves gRPC on.
    #[arg(long, env = "STREAMSUM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Chunk partitions the embedded broker creates on first start.
    #[arg(long, env = "STREAMSUM_PARTITIONS", default_value_t = DEFAULT_PARTITIONS, value_parser = crate::flags::partitions)]
    pub partitions: usize,
    /// A transaction consumes at least this long once it has a message (e.g. 0, 50ms).
    #[arg(long, env = "STREAMSUM_MIN_TXN_DURATION", default_value = "0s", value_parser = crate::flags::txn_duration)]
    pub min_txn_duration: Duration,
    /// A transaction stops consuming after this long (e.g. 1s).
    #[arg(long, env = "STREAMSUM_MAX_TXN_DURATION", default_value = "1s", value_parser = crate::flags::txn_duration)]
    pub max_txn_duration: Duration,
    /// Benchmarks only: every shard runs the summer's logic compiled into the host
    /// instead of the --app plugin (the baseline the wasm summer is measured against).
    #[cfg(feature = "native-summer")]
    #[arg(long, hide = true)]
    pub native_summer: bool,
    /// Guest limits, fuel, the shard failure threshold and per-shard plugins.
    #[command(flatten)]
    pub sandbox: crate::sandbox::SandboxArgs,
    /// Write a snapshot of a shard's store to its recovery log after this many log
    /// bytes (0: never), so playback starts there instead of at the log's beginning.
    #[arg(long, env = "STREAMSUM_SNAPSHOT_EVERY_BYTES", default_value_t = 8 << 20)]
    pub snapshot_every_bytes: u64,
    /// Hot standbys per shard: N processes may stand by for each shard, tailing its
    /// recovery log into their own store, in N slots held through the log's registers;
    /// a further process stays IDLE for that shard until a slot frees up. A standby
    /// takes over once the primary is silent for --lease; a shard with no live primary
    /// is taken over at once. 0: no standbys (every process takes shards over).
    /// Every process of a deployment should use the same value.
    #[arg(long, env = "STREAMSUM_HOT_STANDBYS", default_value_t = 0)]
    pub hot_standbys: usize,
    /// How long a primary may be silent before its hot standbys take over (e.g. 2s); a
    /// primary also checks this often that it has not been fenced, even when idle.
    #[arg(long, env = "STREAMSUM_LEASE", default_value = "2s", value_parser = crate::flags::parse_duration)]
    pub lease: Duration,
    /// Address of the HTTP listener for /metrics (Prometheus), /api/status and the status
    /// page at / (port 0 picks a free port).
    #[arg(long, env = "STREAMSUM_METRICS_LISTEN", default_value = "127.0.0.1:9090")]
    pub metrics_listen: SocketAddr,
    /// Membership of a cluster (`--etcd`): this process is then a shard host serving
    /// the shards the allocator assigns it, its `Shard` and `Control` services on
    /// --listen, and reads and appends journals through --broker.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Most shards (primaries and standbys) this host holds in a cluster (0: none;
    /// the host then drains).
    #[arg(long, env = "STREAMSUM_SHARD_LIMIT", default_value_t = DEFAULT_SHARD_LIMIT)]
    pub shard_limit: u32,
}

impl AppArgs {
    /// Whether shards run the native summer (`--native-summer`, benchmark builds only).
    pub fn native_summer(&self) -> bool {
        #[cfg(feature = "native-summer")]
        return self.native_summer;
        #[cfg(not(feature = "native-summer"))]
        false
    }
}

/// Runs the service until SIGINT or SIGTERM.
///
/// # Errors
/// A missing or invalid plugin, an unusable data directory, a port in use, a broker
/// with no chunk partitions.
pub async fn run(args: AppArgs) -> anyhow::Result<()> {
    let service = tokio::select! {
        service = Service::start(&args) => service?,
        r = crate::shutdown::signal() => return r,
    };
    let ops = match crate::ops::OpsServer::start(args.metrics_listen, service.status_source()).await {
        Ok(ops) => ops,
        Err(e) => {
            service.stop().await?;
            return Err(e);
        }
    };
    println!("metrics listening on {}", ops.url());
    if let Some(url) = service.broker_url() {
        println!("broker listening on {url}");
    }
    if let Some(url) = service.host_url() {
        println!("shard host listening on {url}");
    }
    let mut lost = service.member.as_ref().map(|m| m.lost());
    let lease_lost = async {
        match lost.as_mut() {
            Some(rx) => {
                let _ = rx.wait_for(|lost| *lost).await;
            }
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = crate::shutdown::signal() => r,
        _ = lease_lost => Err(anyhow::anyhow!("lost this shard host's etcd lease (etcd unreachable for longer than --etcd-lease?): its shards are moving to other hosts")),
    };
    tracing::info!("shutting down");
    ops.stop().await;
    service.stop().await?;
    result
}

/// Most standby slots per shard (each is a register of the shard's recovery log).
pub const MAX_HOT_STANDBYS: usize = 64;

/// How long [`Service::stop`] waits for the shards to finish before aborting them.
pub use crate::consumer::SHARD_STOP_GRACE;

/// A running service: the embedded broker (unless `--broker`) and the shards.
pub struct Service {
    /// The embedded broker, if this process runs one.
    broker: Option<EmbeddedBroker>,
    /// How the shards reach journals.
    client: Arc<dyn JournalClient>,
    /// Runs the shards assigned to this process (embedded: one per chunk partition).
    shards: ShardHost,
    /// Their status, kept current by the shard host.
    shard_list: ShardList,
    /// Set to true to stop the plugin watcher.
    shutdown: watch::Sender<bool>,
    /// This process's cluster membership (`--etcd`).
    member: Option<Arc<ShardMember>>,
    /// The `Shard` and `Control` services of a cluster's shard host.
    host_server: Option<HostServer>,
}

impl Service {
    /// Loads the plugin, starts the broker (or connects to `--broker`) and the shards.
    ///
    /// # Errors
    /// See [`run`].
    pub async fn start(args: &AppArgs) -> anyhow::Result<Service> {
        let app = args.app.clone().context("no plugin given: pass --app guest_summer.wasm (or a subcommand; see --help)")?;
        if args.max_txn_duration.is_zero() || args.min_txn_duration > args.max_txn_duration {
            bail!(
                "--max-txn-duration must be > 0 and >= --min-txn-duration (got min {:?}, max {:?})",
                args.min_txn_duration,
                args.max_txn_duration
            );
        }
        args.sandbox.limits()?;
        if args.hot_standbys > MAX_HOT_STANDBYS {
            bail!("--hot-standbys must be at most {MAX_HOT_STANDBYS} (got {})", args.hot_standbys);
        }
        if args.lease < Duration::from_millis(100) {
            bail!("--lease must be at least 100ms (got {:?})", args.lease);
        }
        create_dir(&args.data_dir)?;
        let engine = PluginEngine::with_fuel(args.sandbox.guest_fuel.is_some()).map_err(|e| anyhow::anyhow!("starting the wasm engine: {e:#}"))?;
        let cache = ComponentCache::new(engine, args.data_dir.join("plugin-cache"));
        let plugin = SummerPlugin::load_file(&cache, &app).await?;
        tracing::info!(plugin = %app.display(), version = %plugin.version().as_str(), cached = ?plugin.cache_outcome(), took = ?plugin.compile_time(), "plugin loaded");
        // Hot reload (issue 7): the shards follow the reloader's current version.
        let reloader = Arc::new(Reloader::new(cache.clone(), plugin.clone()));
        let shard_list: ShardList = Arc::default();
        let app_path = std::path::absolute(&app).unwrap_or_else(|_| app.clone());
        let control = Control::new(reloader.clone(), app_path, shard_list.clone());
        let me = crate::service::local_process_id();

        if args.cluster.etcd.is_some() {
            return Self::start_member(args, cache, plugin, reloader, shard_list, control, app).await;
        }
        let mut directory = None;
        let (broker, client): (Option<EmbeddedBroker>, Arc<dyn JournalClient>) = match &args.broker {
            Some(url) => (None, Arc::new(GrpcJournalClient::new(url)?)),
            None => {
                let listener = tokio::net::TcpListener::bind(args.listen)
                    .await
                    .with_context(|| format!("binding --listen {}", args.listen))?;
                let endpoint = format!("http://{}", listener.local_addr().context("listener address")?);
                let fixed = Arc::new(FixedDirectory::new(me.clone(), endpoint, shard_list.clone()));
                directory = Some(fixed.clone());
                let shards = ShardApi::new(fixed, shard_list.clone(), me.clone()).into_server();
                let opts = EmbeddedOptions { partitions: args.partitions, ..EmbeddedOptions::default() };
                let host = HostServices { control: control.into_server(), shards };
                let broker = EmbeddedBroker::start_with_host(&args.data_dir.join("broker"), listener, opts, Some(host)).await?;
                let client = Arc::new(broker.client());
                (Some(broker), client)
            }
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut plugins = BTreeMap::new();
        for (shard, path) in args.sandbox.app_for()? {
            let other = SummerPlugin::load_file(&cache, &path).await.with_context(|| format!("--app-for {shard}"))?;
            tracing::info!(%shard, plugin = %path.display(), version = %other.version().as_str(), "plugin loaded for one shard");
            plugins.insert(shard, other);
        }
        let client = crate::ops::MeteredClient::wrap(client);
        let (shards, declared) = start_shards(args, client.clone(), plugin, plugins, &reloader, shard_list.clone()).await?;
        if let Some(directory) = directory {
            directory.declare(declared);
        }
        plugin_watch::spawn(reloader, app, shutdown_rx).context("watching --app for new versions")?;
        Ok(Service { broker, client, shards, shard_list, shutdown, member: None, host_server: None })
    }

    /// A cluster's shard host (`--etcd`): joins the cluster, serves `Shard` and
    /// `Control` on --listen, and runs the shards the allocator assigns it.
    async fn start_member(
        args: &AppArgs,
        cache: ComponentCache,
        plugin: SummerPlugin,
        reloader: Arc<Reloader>,
        shard_list: ShardList,
        control: Control,
        app: PathBuf,
    ) -> anyhow::Result<Service> {
        let Some(url) = &args.broker else {
            bail!("--etcd makes this process a cluster's shard host: give --broker, the URL of one of the cluster's brokers (streamsum-host broker --etcd ...)");
        };
        let client: Arc<dyn JournalClient> = Arc::new(GrpcJournalClient::new(url)?);
        let listener =
            tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding --listen {}", args.listen))?;
        let endpoint = format!("http://{}", listener.local_addr().context("listener address")?);
        let member = ShardMember::join(&args.cluster, &endpoint, args.shard_limit, args.sandbox.max_shard_failures).await?;
        let shards = ShardApi::new(Arc::new(EtcdDirectory::new(member.clone())), shard_list.clone(), member.process_id()).into_server();
        let host_server = HostServer::start(listener, HostServices { control: control.into_server(), shards })?;
        let mut plugins = BTreeMap::new();
        for (shard, path) in args.sandbox.app_for()? {
            let other = SummerPlugin::load_file(&cache, &path).await.with_context(|| format!("--app-for {shard}"))?;
            plugins.insert(shard, other);
        }
        let client = crate::ops::MeteredClient::wrap(client);
        let all = list_retrying(&*client, LabelSelector::default()).await?;
        let envs = Arc::new(ShardEnvs {
            publishable: Arc::new(all.iter().map(|j| j.spec.name.clone()).collect()),
            member: Some(member.clone()),
            ..ShardEnvs::new(args, client.clone(), plugin, plugins, &reloader)?
        });
        let reporter = member.clone();
        let run: RunShard = Arc::new(move |spec: ShardSpec, status: Arc<crate::consumer::ShardStatus>, stop| {
            let env = envs.env_for(&spec.id);
            crate::metrics::register_shard(&spec.id);
            let report = reporter.clone().report(spec.id.clone(), status.clone(), stop.clone());
            Box::pin(async move {
                tokio::join!(run_shard(spec, env, status, stop), report);
            })
        });
        let assignments: Arc<dyn crate::consumer::ShardAssignments> = member.clone();
        let shards = ShardHost::start(assignments, run, shard_list.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        plugin_watch::spawn(reloader, app, shutdown_rx).context("watching --app for new versions")?;
        Ok(Service { broker: None, client, shards, shard_list, shutdown, member: Some(member), host_server: Some(host_server) })
    }

    /// The URL of a cluster shard host's `Shard` and `Control` services.
    pub fn host_url(&self) -> Option<String> {
        self.host_server.as_ref().map(HostServer::url)
    }

    /// The embedded broker's URL, if this process runs one.
    pub fn broker_url(&self) -> Option<String> {
        self.broker.as_ref().map(|b| b.url())
    }

    /// The journal client the shards use.
    pub fn client(&self) -> Arc<dyn JournalClient> {
        self.client.clone()
    }

    /// The shards' current status, in shard order.
    pub fn shards(&self) -> Vec<StatusSnapshot> {
        self.shard_list.read().unwrap_or_else(|p| p.into_inner()).iter().map(|s| s.snapshot()).collect()
    }

    /// What the status page and `/metrics` read: these shards and journals.
    pub fn status_source(&self) -> Arc<crate::ops::StatusSource> {
        let source = crate::ops::StatusSource::new();
        source.attach(self.shard_list.clone(), self.client.clone());
        source
    }

    /// Stops the shards (abandoning transactions in flight), then the broker.
    ///
    /// # Errors
    /// The broker failed to shut down cleanly.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.shards.stop().await;
        if let Some(member) = &self.member {
            member.leave().await;
        }
        if let Some(server) = self.host_server {
            server.stop(crate::service::SHUTDOWN_GRACE).await;
        }
        if let Some(broker) = self.broker {
            broker.shutdown().await?;
        }
        Ok(())
    }
}

/// Lists the chunk partitions (retrying while the broker is unreachable) and starts a
/// shard for each: the embedded default's fixed assignment. Returns the shard host
/// and the shards as declared (what `Shard/List` reports).
async fn start_shards(
    args: &AppArgs,
    client: Arc<dyn JournalClient>,
    plugin: SummerPlugin,
    plugins: BTreeMap<String, SummerPlugin>,
    reloader: &Arc<Reloader>,
    list: ShardList,
) -> anyhow::Result<(ShardHost, Vec<DeclaredShard>)> {
    let all = list_retrying(&*client, LabelSelector::default()).await?;
    let chunk_type = LabelSelector::including(LabelSet::from_pairs([(MESSAGE_TYPE, "stream_sum.Chunk")]));
    let partitions: Vec<String> =
        all.iter().filter(|j| chunk_type.matches(&j.spec.labels)).map(|j| j.spec.name.clone()).collect();
    if partitions.is_empty() {
        bail!("the broker has no chunk partitions (journals labelled {MESSAGE_TYPE}=stream_sum.Chunk)");
    }
    let ids: BTreeSet<String> = partitions.iter().map(|p| shard_id_for(p)).collect();
    if let Some(unknown) = plugins.keys().find(|s| !ids.contains(*s)) {
        bail!("--app-for names shard {unknown}, which does not exist (shards: {})", ids.into_iter().collect::<Vec<_>>().join(", "));
    }
    let declared: Vec<DeclaredShard> = partitions
        .into_iter()
        .map(|source| DeclaredShard {
            id: shard_id_for(&source),
            sources: vec![Source { journal: source, min_offset: 0 }],
            recovery_log_prefix: format!("{PREFIX}recovery-logs"),
            min_txn_duration: args.min_txn_duration,
            max_txn_duration: args.max_txn_duration,
            hot_standbys: args.hot_standbys as u32,
            ..DeclaredShard::default()
        })
        .collect();
    let specs: Vec<ShardSpec> = declared.iter().map(|d| d.runtime(args.sandbox.max_shard_failures)).collect();
    let envs = ShardEnvs {
        publishable: Arc::new(all.iter().map(|j| j.spec.name.clone()).collect()),
        ..ShardEnvs::new(args, client, plugin, plugins, reloader)?
    };
    let envs = Arc::new(envs);
    let run: RunShard = Arc::new(move |spec: ShardSpec, status, stop| {
        let env = envs.env_for(&spec.id);
        crate::metrics::register_shard(&spec.id);
        Box::pin(run_shard(spec, env, status, stop))
    });
    Ok((ShardHost::start(Arc::new(FixedAssignments::new(specs)), run, list), declared))
}

/// What every shard of this process runs with; [`ShardEnvs::env_for`] makes one
/// shard's [`ShardEnv`].
struct ShardEnvs {
    client: Arc<dyn JournalClient>,
    /// The `--app` plugin.
    plugin: SummerPlugin,
    /// Shards given their own plugin (`--app-for`).
    plugins: BTreeMap<String, SummerPlugin>,
    reloader: Arc<Reloader>,
    limits: crate::runtime::Limits,
    /// Each shard's store is `<shards_dir>/<id>`.
    shards_dir: PathBuf,
    publishable: Arc<BTreeSet<String>>,
    snapshot_every: u64,
    hot_standbys: usize,
    lease: Duration,
    native_summer: bool,
    /// A cluster's shard host: roles and recovery logs come from its assignments.
    member: Option<Arc<ShardMember>>,
}

impl ShardEnvs {
    /// What `args` say, publishing to no journal and outside any cluster.
    fn new(
        args: &AppArgs,
        client: Arc<dyn JournalClient>,
        plugin: SummerPlugin,
        plugins: BTreeMap<String, SummerPlugin>,
        reloader: &Arc<Reloader>,
    ) -> anyhow::Result<Self> {
        Ok(ShardEnvs {
            client,
            plugin,
            plugins,
            reloader: reloader.clone(),
            limits: args.sandbox.limits()?,
            shards_dir: args.data_dir.join("shards"),
            publishable: Arc::default(),
            snapshot_every: args.snapshot_every_bytes,
            hot_standbys: args.hot_standbys,
            lease: args.lease,
            native_summer: args.native_summer(),
            member: None,
        })
    }

    fn env_for(&self, id: &str) -> ShardEnv {
        // A shard given its own plugin (--app-for) keeps it: hot reloads of --app are
        // for the other shards.
        let own = self.plugins.get(id).cloned();
        let reloader = if own.is_some() || self.native_summer { None } else { Some(self.reloader.clone()) };
        // A cluster's replica follows its assignment, not the log's standby registers.
        let (role, recovery_log, hot_standbys) = match &self.member {
            Some(m) => (Some(m.role(id)), m.recovery_log(id).unwrap_or_else(|| recovery_log_for(id)), 0),
            None => (None, recovery_log_for(id), self.hot_standbys),
        };
        ShardEnv {
            client: self.client.clone(),
            plugin: own.unwrap_or_else(|| self.plugin.clone()),
            limits: self.limits.clone(),
            db_dir: self.shards_dir.join(id),
            publishable: self.publishable.clone(),
            recovery_log,
            snapshot_every: self.snapshot_every,
            hot_standbys,
            lease: self.lease,
            native_summer: self.native_summer,
            reloader,
            role,
        }
    }
}

/// Lists journals, retrying with backoff while the broker is unreachable.
async fn list_retrying(client: &dyn JournalClient, selector: LabelSelector) -> anyhow::Result<Vec<crate::journal::JournalInfo>> {
    let mut backoff = crate::consumer::source::Backoff::default();
    loop {
        match client.list(selector.clone()).await {
            Ok(list) => return Ok(list),
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "cannot list journals; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e).context("listing journals"),
        }
    }
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create --data-dir {}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"").with_context(|| format!("--data-dir {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}
