//! `takeover_ms`: from `kill -9` of the shards process that is primary of every shard
//! to the next transaction committed to the sums journal, with real processes (a
//! broker, an endless chunker job, shards processes with `--lease 1s`). Each
//! repetition, on a fresh broker:
//! 1. with a hot standby (`--hot-standbys 1`, caught up): kill -9 the primary, time
//!    the standby's take-over (`takeover_ms`);
//! 2. without one (the baseline): kill -9 the new primary and start a shards process
//!    on an empty data directory at once (plugin compile, log playback, lease wait),
//!    time its first commit (`takeover_ms_without_standby`).
//!
//! As the ignored `takeover_figures` test of `tests/crash_standby.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use futures::StreamExt;
use streamsum_host::journal::{JournalClient, ReadRequest};
use streamsum_host::service::GrpcJournalClient;

use crate::procs::{last_lines, spawn_chunker, start_broker, start_shards, Bins, Proc};
use crate::stats::Figures;
use crate::Settings;

/// Longest wait for a commit or a log line.
const LIMIT: Duration = Duration::from_secs(60);
/// The lease of the shards processes.
const LEASE: &str = "1s";

/// The names this step produces.
pub const NAMES: &str = "takeover_ms, takeover_ms_without_standby";

/// Declares the figures.
pub fn declare(f: &mut Figures) {
    f.declare("takeover_ms", "ms", "kill -9 of the primary -> next committed transaction, hot standby, lease 1s", Some("takeover_ms_without_standby"), None);
    f.declare("takeover_ms_without_standby", "ms", "kill -9 -> next commit by a process started on an empty data directory", None, None);
}

/// Resolves at the next commit to the sums journal after the call.
async fn next_commit(url: &str) -> anyhow::Result<()> {
    let client = GrpcJournalClient::new(url).map_err(|e| anyhow!("{e}"))?;
    let sums = streamsum_host::journal::defaults::sums_journal();
    let mut stream = client.read(ReadRequest { journal: sums.clone(), offset: -1, block: true, end_offset: 0 });
    match tokio::time::timeout(LIMIT, stream.next()).await {
        Ok(Some(Ok(_))) => Ok(()),
        Ok(other) => bail!("reading {sums}: {other:?}"),
        Err(_) => bail!("nothing committed to {sums} within {LIMIT:?}"),
    }
}

/// Resolves at the first commit to the sums journal made after `proc` logged `needle`
/// (the line it writes on its way to being primary, before it can commit): an append
/// of the killed process still in flight at the broker may commit after the kill, and
/// must not count as the take-over.
async fn next_commit_by(url: &str, proc: &Proc, needle: &str) -> anyhow::Result<()> {
    loop {
        next_commit(url).await?;
        if proc.log_text().contains(needle) {
            return Ok(());
        }
    }
}

/// Waits until `proc`'s log contains `needle`.
async fn until_logged(proc: &Proc, needle: &str) -> anyhow::Result<()> {
    let began = Instant::now();
    while !proc.log_text().contains(needle) {
        if began.elapsed() > LIMIT {
            bail!("{needle:?} not logged within {LIMIT:?}: {}", last_lines(&proc.log_text(), 5));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn run(bins: &Bins, dir: &Path) -> anyhow::Result<(f64, f64)> {
    let (_broker, url) = start_broker(bins, dir, 4)?;
    let args: Vec<String> = ["--streams", "-1", "--chunks", "100", "--workers", "2"].iter().map(|s| s.to_string()).collect();
    let _job = spawn_chunker(bins, &url, &dir.join("chunker"), &args)?;
    let standby_args = ["--hot-standbys", "1", "--lease", LEASE];
    let mut primary = start_shards(bins, &url, &dir.join("a"), &standby_args)?;
    next_commit(&url).await.map_err(|e| e.context("the first primary's first commit"))?;
    let mut standby = start_shards(bins, &url, &dir.join("b"), &standby_args)?;
    until_logged(&standby, "hot standby caught up").await?;
    for _ in 0..3 {
        next_commit(&url).await?;
    }
    primary.kill9();
    let t = Instant::now();
    next_commit_by(&url, &standby, "the primary's lease expired; taking over").await.map_err(|e| e.context("take-over by the hot standby"))?;
    let hot = t.elapsed().as_secs_f64() * 1e3;
    for _ in 0..3 {
        next_commit(&url).await?;
    }
    standby.kill9();
    let t = Instant::now();
    let fresh = start_shards(bins, &url, &dir.join("c"), &["--lease", LEASE])?;
    next_commit_by(&url, &fresh, "recovery log played").await.map_err(|e| e.context("take-over by a process on an empty data directory"))?;
    let cold = t.elapsed().as_secs_f64() * 1e3;
    Ok((hot, cold))
}

/// One repetition (processes are killed when their handles drop, also on failure).
pub fn rep(s: &Settings, f: &mut Figures, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let (hot, cold) = rt.block_on(run(&s.bins, dir.path()))?;
    eprintln!("  takeover: hot standby {hot:.0} ms | empty data directory {cold:.0} ms");
    f.push("takeover_ms", hot);
    f.push("takeover_ms_without_standby", cold);
    Ok(())
}
