//! Helpers of the cluster suite (`tests/cluster_*.rs`): an etcd, a plain broker and
//! shard hosts that join the cluster (`--etcd`), each a separate process killed with
//! SIGKILL when its guard drops (also when a test panics); a watched copy of the
//! consumer keyspace to wait on (members, assignments and the replica statuses their
//! holders write into them); and each host's own view of its shards through its
//! `Control` service.
//!
//! Nothing here sleeps for a fixed time: waits follow etcd's watch, or poll a host's
//! status (a process's state has no push signal) with a deadline and a message that
//! says what was awaited and what was seen last.
#![allow(dead_code)]

pub mod brokers;
pub mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use streamsum_cluster::allocator::keys::{parse_assignment_key, parse_member_key, ASSIGNMENTS_PREFIX, MEMBERS_PREFIX};
use streamsum_cluster::etcd::{KeySpace, Snapshot};
use streamsum_cluster::testing::EtcdServer;
use streamsum_host::cluster::values::ConsumerValue;
use streamsum_host::consumer::directory::ReplicaCode;
use streamsum_host::journal::JournalClient;
use streamsum_host::service::control::{pb, ControlClient};
use streamsum_host::service::GrpcJournalClient;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

use crate::support::{describe, host_bin, strip_ansi, wasm};

/// The summer's consumer root (`DEFAULT_CONSUMER_ROOT`).
pub const ROOT: &str = "/streamsum/consumers/stream-sum";
/// Generous bound of every wait: two cores are shared with other builds and tests.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// How often a host's own shard status is polled.
const POLL: Duration = Duration::from_millis(5);

/// A child process with its log, killed with SIGKILL when dropped.
struct Guarded {
    /// The process, until it is reaped.
    child: Option<Child>,
    /// Its stderr.
    log: PathBuf,
}

impl Guarded {
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `limit` for a clean exit (SIGKILL and a panic after).
    async fn terminate(&mut self, what: &str, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap_or_else(|| panic!("{what} is not running"));
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let began = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if began.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not exit within {limit:?} of SIGTERM:\n{}", self.log_text());
            }
            // A child's exit has no async signal in std: poll briefly.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Reads `child`'s stdout until every prefix in `wanted` printed a line; returns
/// their rest in order and keeps draining stdout (a later line must not hit a closed
/// pipe). Panics with `log` if the process exits first.
fn read_addresses(child: &mut Child, log: &Path, what: &str, wanted: &[&str]) -> Vec<String> {
    let mut found: Vec<Option<String>> = vec![None; wanted.len()];
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        for (slot, prefix) in found.iter_mut().zip(wanted) {
            if let Some(rest) = line.strip_prefix(prefix) {
                *slot = Some(rest.trim().to_string());
            }
        }
        if found.iter().all(Option::is_some) {
            std::thread::spawn(move || lines.for_each(drop));
            return found.into_iter().flatten().collect();
        }
    }
    let status = child.wait().unwrap();
    panic!("{what} exited ({status}) before serving:\n{}", strip_ansi(&std::fs::read_to_string(log).unwrap_or_default()));
}

/// A fresh log file name under `dir`.
fn unique_log(dir: &Path, what: &str) -> PathBuf {
    (0..).map(|i| dir.join(format!("{what}-{i}.log"))).find(|p| !p.exists()).unwrap()
}

/// An etcd, a broker with `partitions` chunk partitions, and a watched copy of the
/// consumer keyspace. Hosts are started separately ([`ShardHost::start`]) and should
/// be declared after the cluster, so that they are killed before it.
pub struct Cluster {
    /// Stops the keyspace's watch (also when dropped).
    _watch: watch::Sender<bool>,
    /// The test's own copy of everything under [`ROOT`].
    keyspace: KeySpace<ConsumerValue>,
    /// `http://127.0.0.1:<port>` of the broker.
    pub broker_url: String,
    /// The broker.
    broker: Guarded,
    /// The etcd (killed on drop, after the broker).
    pub etcd: EtcdServer,
    /// Every process's data directory (removed last).
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts etcd and a broker with `partitions` chunk partitions (and their
    /// recovery logs and the sums journal), and loads and watches the keyspace.
    pub async fn start(partitions: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let etcd = EtcdServer::start().await.unwrap_or_else(|e| panic!("{e}"));
        let broker_dir = dir.path().join("broker");
        std::fs::create_dir_all(&broker_dir).unwrap();
        let log = unique_log(&broker_dir, "broker");
        let mut child = Command::new(host_bin())
            .args(["broker", "--partitions", &partitions.to_string(), "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&broker_dir)
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("starting streamsum-host broker");
        let url = read_addresses(&mut child, &log, "the broker", &["broker listening on "]).remove(0);
        let broker = Guarded { child: Some(child), log };
        let decode = |key: &str, value: &[u8]| ConsumerValue::decode(ROOT, key, value);
        let keyspace = KeySpace::load(etcd.client().await, ROOT, decode).await.expect("loading the consumer keyspace");
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(keyspace.clone().watch(stopped));
        Cluster { _watch: stop, keyspace, broker_url: url, broker, etcd, dir }
    }

    /// A directory for `what` under the test's temporary directory.
    pub fn path(&self, what: &str) -> PathBuf {
        self.dir.path().join(what)
    }

    /// The cluster as etcd says now.
    pub fn view(&self) -> View {
        View::of(&self.keyspace.snapshot())
    }

    /// Waits (up to `limit`) until `ready` holds for the keyspace, and returns that
    /// view; panics naming `what` and showing the last view.
    pub async fn until(&self, what: &str, limit: Duration, mut ready: impl FnMut(&View) -> bool) -> View {
        let waited = tokio::time::timeout(limit, self.keyspace.wait_until(|s| ready(&View::of(s)))).await;
        match waited {
            Ok(snapshot) => View::of(&snapshot),
            Err(_) => panic!("not within {limit:?}: {what}; etcd last showed {:#?}", self.view()),
        }
    }

    /// Declares `shards` shards (`chunks-part-NNN`, one per chunk partition) with
    /// `hot_standbys` standbys through `shards apply` on the host at `endpoint`.
    pub fn apply_shards(&self, endpoint: &str, shards: usize, hot_standbys: u32) {
        let file = self.path("shards.yaml");
        std::fs::write(&file, shard_set(shards, hot_standbys)).unwrap();
        let out = run(Command::new(host_bin()).args(["shards", "apply", "--broker", endpoint]).arg(&file));
        assert!(out.status.success(), "shards apply: {}", describe(&out));
    }

    /// A journal client of the broker.
    pub fn journals(&self) -> GrpcJournalClient {
        GrpcJournalClient::new(&self.broker_url).unwrap()
    }

    /// Write heads of the chunk partitions, by the id of the shard reading each.
    pub async fn partition_heads(&self) -> BTreeMap<String, i64> {
        let journals = self.journals().list(Default::default()).await.expect("listing journals");
        journals.into_iter().filter_map(|j| j.spec.name.strip_prefix("examples/stream-sum/chunks/").map(|p| (format!("chunks-{p}"), j.write_head))).collect()
    }
}

/// gazctl's shard set of `shards` shards, each reading its chunk partition.
pub fn shard_set(shards: usize, hot_standbys: u32) -> String {
    let mut yaml =
        format!("common:\n  recovery_log_prefix: examples/stream-sum/recovery-logs\n  max_txn_duration: 1s\n  hot_standbys: {hot_standbys}\nshards:\n");
    for i in 0..shards {
        yaml.push_str(&format!("- id: {}\n  sources: [journal: examples/stream-sum/chunks/part-{i:03}]\n", shard_id(i)));
    }
    yaml
}

/// The id of the shard of chunk partition `i`.
pub fn shard_id(i: usize) -> String {
    format!("chunks-part-{i:03}")
}

fn run(cmd: &mut Command) -> Output {
    cmd.env_remove("RUST_BACKTRACE").output().expect("running streamsum-host")
}

/// One assignment of a shard, as etcd holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    /// The holder's id (`--id`; every host is in zone `local`).
    pub member: String,
    /// 0: primary; others: standbys.
    pub slot: u32,
    /// The status its holder last wrote (IDLE until then).
    pub code: ReplicaCode,
    /// The etcd revision of its last change.
    pub mod_revision: i64,
}

/// Members and assignments under [`ROOT`] at one revision.
#[derive(Clone, Debug)]
pub struct View {
    /// The revision.
    pub revision: i64,
    /// Announced members, by id.
    pub members: BTreeSet<String>,
    /// Each assigned shard's replicas, by slot.
    pub replicas: BTreeMap<String, Vec<Replica>>,
}

impl View {
    /// The view of `snapshot`.
    pub fn of(snapshot: &Snapshot<ConsumerValue>) -> View {
        let members = snapshot.prefixed(&format!("{ROOT}{MEMBERS_PREFIX}")).filter_map(|(key, _)| parse_member_key(ROOT, key).ok()).map(|m| m.suffix).collect();
        let mut replicas: BTreeMap<String, Vec<Replica>> = BTreeMap::new();
        for (key, kv) in snapshot.prefixed(&format!("{ROOT}{ASSIGNMENTS_PREFIX}")) {
            let Ok(a) = parse_assignment_key(ROOT, key) else { continue };
            let code = kv.decoded.replica().map_or(ReplicaCode::Idle, |r| r.code);
            let replica = Replica { member: a.member_suffix, slot: a.slot, code, mod_revision: kv.mod_revision };
            replicas.entry(a.item_id).or_default().push(replica);
        }
        for r in replicas.values_mut() {
            r.sort_by_key(|r| r.slot);
        }
        View { revision: snapshot.revision(), members, replicas }
    }

    /// The member holding slot 0 of `shard`, once it reports PRIMARY.
    pub fn primary(&self, shard: &str) -> Option<&str> {
        let replicas = self.replicas.get(shard)?;
        replicas.iter().find(|r| r.slot == 0 && r.code == ReplicaCode::Primary).map(|r| r.member.as_str())
    }

    /// The members holding other slots of `shard` that report STANDBY.
    pub fn standbys(&self, shard: &str) -> Vec<&str> {
        let replicas = self.replicas.get(shard).map(Vec::as_slice).unwrap_or_default();
        replicas.iter().filter(|r| r.slot > 0 && r.code == ReplicaCode::Standby).map(|r| r.member.as_str()).collect()
    }

    /// Whether `shard` has exactly `standbys + 1` assignments: a PRIMARY in slot 0 and
    /// a STANDBY in every other slot.
    pub fn served(&self, shard: &str, standbys: usize) -> bool {
        let held = self.replicas.get(shard).map_or(0, Vec::len);
        held == standbys + 1 && self.primary(shard).is_some() && self.standbys(shard).len() == standbys
    }

    /// Whether exactly `shards` shards are assigned, each [`View::served`].
    pub fn all_served(&self, shards: usize, standbys: usize) -> bool {
        self.replicas.len() == shards && self.replicas.keys().all(|s| self.served(s, standbys))
    }

    /// Shard → member holding its slot 0 (whatever its status).
    pub fn placement(&self) -> BTreeMap<String, String> {
        let slot0 = |rs: &Vec<Replica>| rs.iter().find(|r| r.slot == 0).map(|r| r.member.clone());
        self.replicas.iter().filter_map(|(s, rs)| slot0(rs).map(|m| (s.clone(), m))).collect()
    }

    /// The shards whose PRIMARY is `member`.
    pub fn primaries_of(&self, member: &str) -> Vec<String> {
        self.replicas.keys().filter(|s| self.primary(s) == Some(member)).cloned().collect()
    }

    /// Whether `member` holds any assignment.
    pub fn holds_any(&self, member: &str) -> bool {
        self.replicas.values().flatten().any(|r| r.member == member)
    }
}

/// A shard host of the cluster (`--etcd`, `--broker`), killed with SIGKILL on drop.
pub struct ShardHost {
    /// Its member id (`--id`).
    pub id: String,
    /// Its data directory: the shards' stores are in `shards/<shard id>`.
    pub dir: PathBuf,
    /// `http://127.0.0.1:<port>` of its `Shard` and `Control` services.
    pub endpoint: String,
    /// `http://127.0.0.1:<port>` of its status page.
    pub metrics: String,
    /// The process.
    proc: Guarded,
    /// A lazily connected client of its `Control` service.
    control: ControlClient<Channel>,
}

impl ShardHost {
    /// Starts shard host `id` over `<cluster dir>/<id>` with an etcd lease of `lease`
    /// and `extra` flags, and waits until it serves.
    pub fn start(cluster: &Cluster, id: &str, lease: &str, extra: &[&str]) -> ShardHost {
        let dir = cluster.path(id);
        std::fs::create_dir_all(&dir).unwrap();
        let log = unique_log(&dir, "host");
        let mut child = Command::new(host_bin())
            .arg("--app")
            .arg(wasm("guest_summer.wasm"))
            .args(["--broker", &cluster.broker_url, "--etcd", &cluster.etcd.endpoint(), "--etcd-lease", lease, "--id", id])
            .arg("--data-dir")
            .arg(&dir)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("STREAMSUM_CRASH_AT")
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("starting streamsum-host");
        let what = format!("shard host {id}");
        let mut found = read_addresses(&mut child, &log, &what, &["metrics listening on ", "shard host listening on "]);
        let endpoint = found.remove(1);
        let metrics = found.remove(0);
        let control = ControlClient::new(Endpoint::from_shared(endpoint.clone()).unwrap().connect_lazy());
        ShardHost { id: id.to_string(), dir, endpoint, metrics, proc: Guarded { child: Some(child), log }, control }
    }

    /// Its log so far, without colour codes.
    pub fn log_text(&self) -> String {
        self.proc.log_text()
    }

    /// Lines of its log that contain every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.log_text().lines().filter(|l| needles.iter().all(|n| l.contains(n))).map(String::from).collect()
    }

    /// SIGKILL, and reaps it.
    pub fn kill9(&mut self) {
        self.proc.kill9();
    }

    /// SIGTERM, and waits for it to exit cleanly (status 0).
    pub async fn stop(&mut self) {
        let status = self.proc.terminate(&format!("shard host {}", self.id), DEADLINE).await;
        assert!(status.success(), "shard host {} exited with {status} after SIGTERM:\n{}", self.id, self.log_text());
    }

    /// The store directory of `shard` on this host.
    pub fn store(&self, shard: &str) -> PathBuf {
        self.dir.join("shards").join(shard)
    }

    /// Its own shards as it reports them (`Control/ListShards`), by id.
    pub async fn shards(&self) -> BTreeMap<String, pb::ShardInfo> {
        let mut control = self.control.clone();
        let listed = control.list_shards(pb::ListShardsRequest {}).await;
        let listed = listed.unwrap_or_else(|e| panic!("ListShards on {} ({}): {e}", self.id, self.endpoint));
        listed.into_inner().shards.into_iter().map(|s| (s.id.clone(), s)).collect()
    }

    /// Polls its shards (every few milliseconds, up to `limit`) until `ready` holds;
    /// returns them then, and when. Panics naming `what` and showing the last listing.
    pub async fn until(
        &self,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut(&BTreeMap<String, pb::ShardInfo>) -> bool,
    ) -> (BTreeMap<String, pb::ShardInfo>, SystemTime) {
        let began = Instant::now();
        loop {
            let shards = self.shards().await;
            if ready(&shards) {
                return (shards, SystemTime::now());
            }
            assert!(began.elapsed() < limit, "not within {limit:?} on {}: {what}; it last listed {shards:#?}", self.id);
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A running chunker job (2 workers), killed with SIGKILL when dropped.
pub struct Job {
    /// The process.
    proc: Guarded,
    /// Streams in all.
    pub streams: u32,
}

impl Job {
    /// Starts `streamsum-host chunker` against the cluster's broker: 2 workers, each
    /// with `streams` streams of `chunks` chunks, and `extra` flags.
    pub fn start(cluster: &Cluster, streams: u32, chunks: u32, extra: &[&str]) -> Job {
        let dir = cluster.path("chunker");
        std::fs::create_dir_all(&dir).unwrap();
        let log = unique_log(&dir, "chunker");
        let child = crate::support::chunker(&cluster.broker_url, &dir.join("cache"))
            .args(["--streams", &streams.to_string(), "--chunks", &chunks.to_string(), "--workers", "2"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("starting the chunker");
        Job { proc: Guarded { child: Some(child), log }, streams: 2 * streams }
    }

    /// Whether it has exited.
    pub fn done(&mut self) -> bool {
        self.proc.child.as_mut().is_none_or(|c| c.try_wait().unwrap().is_some())
    }

    /// Waits (up to `limit`) and asserts that the job verified every stream (it exits
    /// non-zero on a wrong, missing, duplicated or late sum); returns its report.
    pub async fn succeeds(mut self, limit: Duration) -> String {
        let began = Instant::now();
        let status = loop {
            if let Some(status) = self.proc.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.proc.child = None;
                break status;
            }
            assert!(began.elapsed() < limit, "the chunker did not finish within {limit:?}:\n{}", self.proc.log_text());
            // A child's exit has no async signal in std: poll.
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let log = self.proc.log_text();
        assert!(status.success(), "the chunker failed ({status}):\n{log}");
        let want = format!("chunker report: 2 workers, {} streams verified", self.streams);
        assert!(log.contains(&want), "{want:?} not in:\n{log}");
        log
    }
}
