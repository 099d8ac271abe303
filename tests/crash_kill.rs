//! Crash suite (b)–(e): hard kills with the broker, the shards and the chunker in three
//! processes. (b) `kill -9` of the shards process at random moments, 20 times (or
//! `$STREAMSUM_CRASH_ROUNDS`, for a longer soak) with restarts; (c) `kill -9` plus
//! deletion of the shards' whole data directory, rebuilt from snapshots and recovery
//! logs; (d) `kill -9` of the broker and restart; (e) two shard processes for the same
//! shards: the newer fences the older, which stops its shards and says so. In every
//! case the chunker — which fails on a wrong, duplicated or late sum — succeeds, and
//! the sums journal holds exactly one committed Sum per stream.

mod crash_support;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use crash_support::*;

/// Bound on each chunker job and each wait for progress.
const LIMIT: Duration = Duration::from_secs(120);

/// Rounds of (b): 20, or `$STREAMSUM_CRASH_ROUNDS`.
fn rounds() -> u32 {
    std::env::var("STREAMSUM_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20)
}

/// A seed that differs per run (printed, to replay a failure with `$STREAMSUM_CRASH_SEED`).
fn seed() -> u64 {
    let seed = std::env::var("STREAMSUM_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("STREAMSUM_CRASH_SEED={seed}");
    seed
}

/// Jobs run one after another while faults are injected; remembers how many streams
/// finished jobs verified.
struct Jobs {
    url: String,
    dir: std::path::PathBuf,
    job: Option<Chunker>,
    verified: usize,
    streams: u32,
    chunks: u32,
}

impl Jobs {
    fn start(url: &str, dir: &Path, streams: u32, chunks: u32) -> Jobs {
        let job = Chunker::start(url, dir, streams, chunks);
        Jobs { url: url.to_owned(), dir: dir.to_owned(), job: Some(job), verified: 0, streams, chunks }
    }

    /// Waits for the shards to commit something, starting a new job whenever the
    /// previous one finished (it must have succeeded).
    async fn progress(&mut self) {
        let began = Instant::now();
        while !sums_commit_within(&self.url, Duration::from_secs(2)).await {
            let job = self.job.as_mut().unwrap();
            if job.done() {
                self.finish_job().await;
                self.job = Some(Chunker::start(&self.url, &self.dir, self.streams, self.chunks));
            }
            assert!(began.elapsed() < LIMIT, "the shards committed nothing for {LIMIT:?}");
        }
    }

    async fn finish_job(&mut self) {
        let job = self.job.take().unwrap();
        self.verified += job.streams as usize;
        job.succeeds(LIMIT).await;
    }

    /// Waits for the last job and checks the whole sums journal.
    async fn finish(mut self) {
        self.finish_job().await;
        assert_exactly_once(&self.url, self.verified).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_shards_at_random_moments_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let shards_dir = dir.path().join("shards");
    let extra = ["--snapshot-every-bytes", "65536"];
    let mut rng = Rng(seed());
    let mut jobs = Jobs::start(&url, &dir.path().join("chunker"), 50, 8);
    let mut shards = start_shards(&url, &shards_dir, &extra, &[]);
    for _ in 0..rounds() {
        jobs.progress().await;
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        shards.kill9();
        shards = start_shards(&url, &shards_dir, &extra, &[]);
    }
    jobs.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_data_directory_is_rebuilt_from_snapshots_and_recovery_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let extra = ["--snapshot-every-bytes", "4096"];
    let mut rng = Rng(seed());
    let mut jobs = Jobs::start(&url, &dir.path().join("chunker"), 50, 8);
    let mut shards = start_shards(&url, &dir.path().join("shards-0"), &extra, &[]);
    let mut rebuilt_from_snapshot = false;
    for round in 1..=4 {
        for _ in 0..5 {
            jobs.progress().await;
        }
        if round == 1 {
            // Make sure some shard has a snapshot to be rebuilt from.
            until_logged(&shards, "snapshot written", &url, LIMIT).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        shards.kill9();
        // The whole data directory is gone (stores and plugin cache).
        std::fs::remove_dir_all(dir.path().join(format!("shards-{}", round - 1))).unwrap();
        shards = start_shards(&url, &dir.path().join(format!("shards-{round}")), &extra, &[]);
        jobs.progress().await;
        let log = shards.log_text();
        assert!(log.contains("rebuilt=true"), "{log}");
        rebuilt_from_snapshot |= log.contains("from_snapshot=Some(");
    }
    assert!(rebuilt_from_snapshot, "at least one store was rebuilt from a snapshot");
    jobs.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_broker_and_a_restart_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    let (mut broker, url) = start_broker(&broker_dir, "127.0.0.1:0");
    let addr = url.trim_start_matches("http://").to_string();
    let mut rng = Rng(seed());
    let mut jobs = Jobs::start(&url, &dir.path().join("chunker"), 50, 8);
    let _shards = start_shards(&url, &dir.path().join("shards"), &[], &[]);
    for _ in 0..3 {
        jobs.progress().await;
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        broker.kill9();
        broker = start_broker(&broker_dir, &addr).0;
    }
    jobs.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_shards_process_fences_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let mut jobs = Jobs::start(&url, &dir.path().join("chunker"), 50, 8);
    let mut first = start_shards(&url, &dir.path().join("first"), &[], &[]);
    jobs.progress().await;
    let second = start_shards(&url, &dir.path().join("second"), &[], &[]);
    jobs.finish().await;

    // Every shard of the first process that tried to commit after the take-over was
    // fenced and stopped; the process itself keeps running.
    let log = first.log_text();
    let fenced: Vec<&str> = log.lines().filter(|l| l.contains("shard fenced; stopping it")).collect();
    assert!(!fenced.is_empty(), "the first process was never fenced:\n{log}");
    assert!(fenced.len() <= PARTITIONS, "{fenced:?}");
    assert!(fenced[0].contains("is fenced: another process took over its recovery log examples/stream-sum/recovery-logs/chunks-part-"), "{}", fenced[0]);
    assert!(first.running(), "a fenced shard stops, not the process");
    let second_log = second.log_text();
    assert!(!second_log.contains("fenced"), "the newer owner was never fenced:\n{second_log}");
}
