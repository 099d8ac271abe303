//! Helpers of the crash suite (`tests/crash_*.rs`): the broker, the shards and the
//! chunker as three separate `streamsum-host` processes, hard kills, and the final
//! exactly-once check of the sums journal.
//!
//! This is the local equivalent of Gazette's crash tests (`test/integration`,
//! reference §7): the chunker fails on a wrong, duplicated or late (past its SLA) sum,
//! so a chunker run that succeeds across crashes proves exactly-once delivery with a
//! bounded recovery time; the sums journal is then re-read committed to check that
//! every stream has exactly one Sum.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use futures::StreamExt;
use streamsum_host::journal::{ApplyChange, JournalClient, LabelSelector, LabelSet, ReadRequest};
use streamsum_host::service::GrpcJournalClient;
use streamsum_host::store::ShardDb;

use crate::support::{describe, wasm};

pub use crate::support::{host_bin, strip_ansi, sums_per_stream};

/// The sums journal.
pub const SUMS: &str = "examples/stream-sum/sums";
/// Chunk partitions of every crash test.
pub const PARTITIONS: usize = 4;

/// A `streamsum-host` process whose stderr goes to a log file.
pub struct Proc {
    /// The process.
    child: Option<Child>,
    /// Its log.
    pub log: PathBuf,
}

impl Proc {
    /// The log so far, without terminal colour codes.
    pub fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// SIGKILL, then reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `limit` for it to exit by itself.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let waited = tokio::time::timeout(limit, async {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    return status;
                }
                // A child's exit has no async signal in std; poll briefly.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        match waited {
            Ok(status) => Some(status),
            Err(_) => {
                self.child = Some(child);
                None
            }
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts `streamsum-host broker` over `dir` on `listen`; returns it and its URL.
pub fn start_broker(dir: &Path, listen: &str) -> (Proc, String) {
    std::fs::create_dir_all(dir).unwrap();
    let log = unique_log(dir, "broker");
    let mut child = Command::new(host_bin())
        .args(["broker", "--partitions", &PARTITIONS.to_string(), "--listen", listen])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("starting streamsum-host broker");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        if let Some(url) = line.unwrap().strip_prefix("broker listening on ") {
            return (Proc { child: Some(child), log }, url.trim().to_string());
        }
    }
    let status = child.wait().unwrap();
    panic!("the broker exited ({status}) before serving:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
}

/// Starts a shards-only process (`--broker url`) over `dir` with `extra` arguments
/// and `env` variables.
pub fn start_shards(url: &str, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let (mut cmd, log) = shards_command(url, dir, extra, env);
    let child = cmd.stdout(Stdio::null()).spawn().expect("starting streamsum-host shards");
    Proc { child: Some(child), log }
}

/// [`start_shards`], also returning the URL of the process's ops server (`/api/status`).
pub fn start_shards_with_ops(url: &str, dir: &Path, extra: &[&str]) -> (Proc, String) {
    let (mut cmd, log) = shards_command(url, dir, extra, &[]);
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("starting streamsum-host shards");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if let Some(ops) = line.unwrap().strip_prefix("metrics listening on ") {
            let ops = ops.trim().to_string();
            std::thread::spawn(move || lines.for_each(drop)); // Keep its stdout open.
            return (Proc { child: Some(child), log }, ops);
        }
    }
    let status = child.wait().unwrap();
    panic!(
        "the shards process exited ({status}) before serving:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// The body of `GET path` on the ops server at `base` (`http://host:port`).
pub fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://").expect("an http:// URL");
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting to the ops server");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// The command of a shards-only process and its log file.
fn shards_command(url: &str, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Command, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let log = unique_log(dir, "shards");
    let mut cmd = Command::new(host_bin());
    cmd.arg("--app")
        .arg(wasm("guest_summer.wasm"))
        .args(["--broker", url])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env("STREAMSUM_METRICS_LISTEN", "127.0.0.1:0")
        .env_remove("STREAMSUM_CRASH_AT")
        .env("STREAMSUM_METRICS_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stderr(File::create(&log).unwrap());
    (cmd, log)
}

/// A fresh log file name under `dir`.
fn unique_log(dir: &Path, what: &str) -> PathBuf {
    (0..).map(|i| dir.join(format!("{what}-{i}.log"))).find(|p| !p.exists()).unwrap()
}

/// A running chunker job.
pub struct Chunker {
    /// The process.
    child: Child,
    /// Its stderr.
    log: PathBuf,
    /// Streams in all (per worker × 2 workers).
    pub streams: u32,
}

impl Chunker {
    /// Starts `streamsum-host chunker` against `url`: 2 workers, each with `streams`
    /// streams of `chunks` chunks.
    pub fn start(url: &str, dir: &Path, streams: u32, chunks: u32) -> Chunker {
        Chunker::start_with(url, dir, streams, chunks, &[])
    }

    /// As [`Chunker::start`], with more chunker flags (e.g. `--rate` to make a job last
    /// long enough whatever the machine's speed).
    pub fn start_with(url: &str, dir: &Path, streams: u32, chunks: u32, extra: &[&str]) -> Chunker {
        std::fs::create_dir_all(dir).unwrap();
        let log = unique_log(dir, "chunker");
        let child = Command::new(host_bin())
            .arg("chunker")
            .arg("--app")
            .arg(wasm("guest_chunker.wasm"))
            .args(["--broker", url])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .env("STREAMSUM_LOG", "warn")
            .args(["--streams", &streams.to_string(), "--chunks", &chunks.to_string(), "--workers", "2"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Chunker { child, log, streams: 2 * streams }
    }

    /// Whether it has exited.
    pub fn done(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits (up to `limit`) and asserts the job verified every stream:
    /// `chunker report: 2 workers, <streams> streams verified`.
    pub async fn succeeds(self, limit: Duration) -> String {
        let Chunker { child, log, streams } = self;
        let pid = child.id();
        let waited =
            tokio::time::timeout(limit, tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())).await;
        let mut out: Output = match waited {
            Ok(out) => out.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!(
                    "the chunker did not finish within {limit:?}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        out.stderr = std::fs::read(&log).unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let want = format!("chunker report: 2 workers, {streams} streams verified");
        assert!(stderr.contains(&want), "{want:?} not in:\n{stderr}");
        stderr
    }
}

/// Asserts the sums journal holds exactly one committed Sum for each of `streams`
/// streams.
pub async fn assert_exactly_once(url: &str, streams: usize) {
    let per_stream = sums_per_stream(&GrpcJournalClient::new(url).unwrap()).await;
    assert_eq!(per_stream.len(), streams, "streams with a Sum");
    let dups: Vec<_> = per_stream.iter().filter(|(_, &n)| n != 1).collect();
    assert!(dups.is_empty(), "streams with more than one Sum: {dups:?}");
}

/// Resolves once anything more is committed to the sums journal (a sign that the
/// shards are up and committing), or panics after `limit`.
pub async fn next_sums_commit(url: &str, limit: Duration) {
    if !sums_commit_within(url, limit).await {
        panic!("nothing was committed to the sums journal within {limit:?}");
    }
}

/// Whether anything more is committed to the sums journal within `limit`.
pub async fn sums_commit_within(url: &str, limit: Duration) -> bool {
    let client = GrpcJournalClient::new(url).unwrap();
    let mut stream = client.read(ReadRequest { journal: SUMS.into(), offset: -1, block: true, end_offset: 0 });
    match tokio::time::timeout(limit, stream.next()).await {
        Ok(Some(Ok(_))) => true,
        Ok(other) => panic!("reading the sums journal: {other:?}"),
        Err(_) => false,
    }
}

/// Waits until `proc`'s log contains `needle`, checking after each commit to the
/// sums journal (or every 2 s); panics after `limit`.
pub async fn until_logged(proc: &Proc, needle: &str, url: &str, limit: Duration) {
    let began = std::time::Instant::now();
    while !proc.log_text().contains(needle) {
        assert!(began.elapsed() < limit, "{needle:?} not logged within {limit:?}:\n{}", proc.log_text());
        sums_commit_within(url, Duration::from_secs(2)).await;
    }
}

/// Lines of `proc`'s log containing `needle`.
pub fn count(proc: &Proc, needle: &str) -> usize {
    proc.log_text().lines().filter(|l| l.contains(needle)).count()
}

/// Waits until `proc`'s log has `n` lines containing `needle` (a log file has no
/// signal: poll it); panics after `limit`.
pub async fn until_count(proc: &Proc, needle: &str, n: usize, limit: Duration) {
    let began = std::time::Instant::now();
    while count(proc, needle) < n {
        assert!(began.elapsed() < limit, "{n} × {needle:?} not logged within {limit:?}:\n{}", proc.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `status` is death by SIGABRT (a crash point).
pub fn aborted(status: ExitStatus) -> bool {
    status.signal() == Some(6)
}

/// Deterministic pseudo-random numbers (xorshift64) for kill moments.
pub struct Rng(pub u64);

impl Rng {
    /// The next number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The recovery logs' selector.
pub fn recovery_logs() -> LabelSelector {
    LabelSelector::including(LabelSet::from_pairs([("content-type", "application/x-gazette-recoverylog")]))
}

/// Bytes of the files (fragments and index) of every recovery log under the broker's
/// data directory, by journal directory name.
pub fn recovery_logs_on_disk(broker_dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(broker_dir.join("journals")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if name.contains("recovery-logs") {
            let bytes = std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().metadata().unwrap().len()).sum();
            out.push((name, bytes));
        }
    }
    out.sort();
    out
}

/// The write head of every recovery log, in journal-name order.
pub async fn recovery_log_heads(client: &GrpcJournalClient) -> Vec<i64> {
    let mut logs = client.list(recovery_logs()).await.unwrap();
    logs.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    logs.iter().map(|j| j.write_head).collect()
}

/// A store's guest keys with their values, and its checkpoint.
pub type StoreState = (Vec<(Vec<u8>, Option<Vec<u8>>)>, Option<Vec<u8>>);

/// Every guest key and value, and the checkpoint, of the store in `dir`.
pub fn store_state(dir: &Path) -> StoreState {
    let db = ShardDb::open_blocking(dir, false).unwrap();
    let snap = db.snapshot_record_blocking(1, 1).unwrap();
    (snap.ops.into_iter().map(|op| (op.key, op.value)).collect(), snap.checkpoint)
}

/// Makes the recovery logs roll at `length` bytes, so that snapshots leave whole
/// fragments to prune (Gazette's operators set `fragment.length` per journal the same
/// way).
pub async fn set_recovery_log_fragment_length(client: &GrpcJournalClient, length: i64) {
    let logs = client.list(recovery_logs()).await.unwrap();
    assert_eq!(logs.len(), PARTITIONS);
    let changes = logs
        .into_iter()
        .map(|j| {
            let mut spec = j.spec;
            spec.fragment.length = length;
            ApplyChange::Upsert { spec, expect_mod_revision: j.mod_revision }
        })
        .collect();
    client.apply(changes).await.unwrap();
}
