//! Crash suite: hot standbys. Two shards processes with `--hot-standbys 1`: the first
//! becomes primary of every shard, the second stands by, tailing the recovery logs.
//! After `kill -9` of the primary, the standby takes over once the lease expires,
//! playing only the records it had not applied yet, and the chunker still verifies
//! every sum exactly once. With three processes, `--hot-standbys N` means N standbys:
//! N = 1 leaves the third process IDLE until a slot frees up, N = 2 makes both others
//! standbys. An idle primary that another process fenced notices within about a lease.

mod crash_support;
mod support;

use std::time::{Duration, Instant};

use crash_support::*;

const LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_standby_takes_over_after_kill_9_of_the_primary() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let extra = ["--hot-standbys", "1", "--lease", "1s"];
    let job = Chunker::start(&url, &dir.path().join("chunker"), 60, 8);
    let mut primary = start_shards(&url, &dir.path().join("primary"), &extra, &[]);
    // The primary owns the shards once it commits (no primary existed: it took over
    // at once, without waiting for a lease).
    next_sums_commit(&url, LIMIT).await;
    assert!(primary.log_text().contains("no live primary (none ever, or its lease expired); taking over"));
    assert!(!primary.log_text().contains("lease expired; taking over"));
    let standby = start_shards(&url, &dir.path().join("standby"), &extra, &[]);
    until_logged(&standby, "hot standby caught up", &url, LIMIT).await;
    for _ in 0..5 {
        next_sums_commit(&url, LIMIT).await;
    }

    primary.kill9();
    let killed = Instant::now();
    next_sums_commit(&url, LIMIT).await;
    eprintln!("take-over with a hot standby: {:?} from kill -9 to the next committed transaction", killed.elapsed());

    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;
    let log = standby.log_text();
    assert!(log.contains("the primary's lease expired; taking over"), "{log}");
    // The standby's stores were up to date: recovery resumed them, no rebuild.
    let played: Vec<&str> = log.lines().filter(|l| l.contains("recovery log played")).collect();
    assert!(!played.is_empty(), "{log}");
    assert!(played.iter().all(|l| l.contains("rebuilt=false")), "{played:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_standby_slot_a_third_process_idles_until_the_slot_frees_up() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    // A 2 s lease: slot renewals must not lapse on a loaded machine.
    let extra = ["--hot-standbys", "1", "--lease", "2s"];
    // Paced (640 chunks at 10/s): the job must still be committing sums while the
    // third process starts and the waits below run, however fast the machine is.
    let job = Chunker::start_with(&url, &dir.path().join("chunker"), 40, 8, &["--rate", "10"]);
    let mut a = start_shards(&url, &dir.path().join("a"), &extra, &[]);
    next_sums_commit(&url, LIMIT).await;
    let b = start_shards(&url, &dir.path().join("b"), &extra, &[]);
    until_count(&b, "hot standby caught up", PARTITIONS, LIMIT).await;
    let (c, c_ops) = start_shards_with_ops(&url, &dir.path().join("c"), &extra);
    until_logged(&c, "idle: all 1 standby slot(s) are held by live processes", &url, LIMIT).await;
    // Its status says why each shard is IDLE: who holds the slot.
    let status = http_get(&c_ops, "/api/status");
    let idle = r#""state":"IDLE","note":"idle: all 1 standby slot(s) are held by live processes ("#;
    assert!(status.contains(idle), "{status}");
    for _ in 0..3 {
        next_sums_commit(&url, LIMIT).await;
    }
    // While A and B live, C holds no slot on any shard.
    assert_eq!(count(&c, "holding a standby slot"), 0, "{}", c.log_text());
    assert!(count(&b, "holding a standby slot") >= PARTITIONS, "{}", b.log_text());

    a.kill9();
    // B takes over; once B no longer renews its slot, C claims it and stands by.
    until_logged(&b, "the primary's lease expired; taking over", &url, LIMIT).await;
    until_count(&c, "hot standby caught up", PARTITIONS, LIMIT).await;
    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_standby_slots_both_other_processes_stand_by() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let extra = ["--hot-standbys", "2", "--lease", "2s"];
    // Paced, as above: sums keep coming while the waits below run.
    let job = Chunker::start_with(&url, &dir.path().join("chunker"), 40, 8, &["--rate", "10"]);
    let mut a = start_shards(&url, &dir.path().join("a"), &extra, &[]);
    next_sums_commit(&url, LIMIT).await;
    let b = start_shards(&url, &dir.path().join("b"), &extra, &[]);
    let c = start_shards(&url, &dir.path().join("c"), &extra, &[]);
    for p in [&b, &c] {
        until_count(p, "hot standby caught up", PARTITIONS, LIMIT).await;
    }
    for _ in 0..3 {
        next_sums_commit(&url, LIMIT).await;
    }
    for p in [&b, &c] {
        assert!(count(p, "holding a standby slot") >= PARTITIONS, "{}", p.log_text());
        assert_eq!(count(p, "idle:"), 0, "{}", p.log_text());
    }
    a.kill9();
    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;
    // Every shard was taken over by one of the two standbys.
    let took = count(&b, "the primary's lease expired; taking over") + count(&c, "the primary's lease expired; taking over");
    assert!(took >= PARTITIONS, "{took} take-overs:\n{}\n{}", b.log_text(), c.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_primary_notices_within_a_lease_that_it_was_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let extra = ["--lease", "1s"];
    let first = start_shards(&url, &dir.path().join("first"), &extra, &[]);
    until_count(&first, "shard is primary", PARTITIONS, LIMIT).await;
    // No chunker runs: the first process commits nothing after the take-over.
    let second = start_shards(&url, &dir.path().join("second"), &extra, &[]);
    until_count(&second, "shard is primary", PARTITIONS, LIMIT).await;
    let fenced_at = Instant::now();
    // Heartbeats every lease / 2: all four notice well within 5 s.
    until_count(&first, "shard fenced; stopping it", PARTITIONS, Duration::from_secs(5)).await;
    eprintln!("idle fenced primaries noticed within {:?}", fenced_at.elapsed());
}

/// Figures, not a check (run on request: `cargo test --test crash_standby -- --ignored
/// --nocapture`): from `kill -9` of the shards process to the next committed
/// transaction, (1) with a hot standby (`--lease 1s`), (2) restarting a process on the
/// same data directory at once, (3) restarting one on an empty data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn takeover_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let job = Chunker::start(&url, &dir.path().join("chunker"), 400, 8);
    let standby_args = ["--hot-standbys", "1", "--lease", "1s"];
    let mut primary = start_shards(&url, &dir.path().join("a"), &standby_args, &[]);
    next_sums_commit(&url, LIMIT).await;
    let mut standby = start_shards(&url, &dir.path().join("b"), &standby_args, &[]);
    for _ in 0..20 {
        next_sums_commit(&url, LIMIT).await;
    }
    primary.kill9();
    let t = Instant::now();
    next_sums_commit(&url, LIMIT).await;
    println!("{{\"figure\":\"takeover\",\"how\":\"hot standby, lease 1s\",\"ms\":{}}}", t.elapsed().as_millis());

    for _ in 0..20 {
        next_sums_commit(&url, LIMIT).await;
    }
    standby.kill9();
    let t = Instant::now();
    let mut restarted = start_shards(&url, &dir.path().join("b"), &[], &[]);
    next_sums_commit(&url, LIMIT).await;
    println!("{{\"figure\":\"takeover\",\"how\":\"restart on the same data directory\",\"ms\":{}}}", t.elapsed().as_millis());

    for _ in 0..20 {
        next_sums_commit(&url, LIMIT).await;
    }
    restarted.kill9();
    let t = Instant::now();
    let _fresh = start_shards(&url, &dir.path().join("c"), &[], &[]);
    next_sums_commit(&url, LIMIT).await;
    println!("{{\"figure\":\"takeover\",\"how\":\"restart on an empty data directory (plugin compile + log playback)\",\"ms\":{}}}", t.elapsed().as_millis());
    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;
}

#[test]
fn standby_flags_out_of_range_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (&["--hot-standbys", "65"][..], "--hot-standbys must be at most 64 (got 65)"),
        (&["--lease", "99ms"][..], "--lease must be at least 100ms (got 99ms)"),
    ];
    for (args, want) in cases {
        let out = std::process::Command::new(host_bin())
            .arg("--app")
            .arg(support::wasm("guest_summer.wasm"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--metrics-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
