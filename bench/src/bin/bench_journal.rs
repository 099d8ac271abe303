//! Journal benchmark (not a test): append throughput and latency with 1, 8 and 64
//! concurrent appenders of 200-byte records, in-process and over gRPC, catch-up and
//! tailing read throughput, all next to the raw `fdatasync` rate of the same disk
//! measured in the same run. Prints a table and writes the figures as JSON.
//!
//! ```text
//! cargo run --release -p streamsum-bench --bin bench_journal -- [--dir DIR] [--seconds S] [--out FILE]
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{json, Value};
use streamsum_host::journal::{AppendRequest, JournalClient, JournalError, ReadRequest};
use streamsum_host::service::{EmbeddedBroker, EmbeddedOptions, GrpcJournalClient};

const RECORD: usize = 200;

struct Args {
    dir: PathBuf,
    seconds: f64,
    out: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args { dir: std::env::temp_dir().join("streamsum-bench"), seconds: 3.0, out: "bench-journal.json".into() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => args.dir = value.into(),
            "--seconds" => args.seconds = value.parse().context("--seconds")?,
            "--out" => args.out = value.into(),
            other => anyhow::bail!("unknown flag {other} (expected --dir, --seconds, --out)"),
        }
    }
    Ok(args)
}

/// Raw fdatasync: append a 200-byte record and fdatasync, one at a time.
fn raw_fdatasync(dir: &Path, seconds: f64) -> anyhow::Result<Value> {
    let path = dir.join("raw-fdatasync.bin");
    let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    let rec = [b'r'; RECORD];
    let mut lat = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        f.write_all(&rec)?;
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(json!({
        "syncs_per_sec": lat.len() as f64 / secs,
        "p50_ms": pct(&mut lat, 0.50), "p99_ms": pct(&mut lat, 0.99),
    }))
}

/// Raw fdatasync of a pair of files in parallel (200 B to one, 60 B to the other),
/// which is what one group-commit round does for one journal (fragment + index).
fn raw_fdatasync_pair(dir: &Path, seconds: f64) -> anyhow::Result<Value> {
    use std::os::unix::fs::FileExt;
    let open = |name: &str| OpenOptions::new().create(true).truncate(true).write(true).open(dir.join(name));
    let (data, index) = (open("raw-pair.data")?, open("raw-pair.index")?);
    let mut lat = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        let n = lat.len() as u64;
        data.write_all_at(&[b'r'; RECORD], n * RECORD as u64)?;
        index.write_all_at(&[b'i'; 60], n * 60)?;
        std::thread::scope(|s| {
            let h = s.spawn(|| index.sync_data());
            data.sync_data().and(h.join().expect("sync thread"))
        })?;
        lat.push(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(dir.join("raw-pair.data"))?;
    std::fs::remove_file(dir.join("raw-pair.index"))?;
    Ok(json!({
        "pairs_per_sec": lat.len() as f64 / secs,
        "p50_ms": pct(&mut lat, 0.50), "p99_ms": pct(&mut lat, 0.99),
    }))
}

fn pct(lat: &mut [Duration], p: f64) -> f64 {
    lat.sort();
    lat.get(((lat.len() as f64 - 1.0) * p).round() as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// `conc` appenders each appending 200-byte records back to back for `seconds`.
async fn appenders(client: Arc<dyn JournalClient>, journal: &str, conc: usize, seconds: f64) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|i| {
            let client = client.clone();
            let journal = journal.to_string();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut rec = format!("appender-{i:03} ").into_bytes();
                rec.resize(RECORD - 1, b'.');
                rec.push(b'\n');
                let rec = bytes::Bytes::from(rec);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    client.append(AppendRequest::new(journal.clone(), rec.clone())).await?;
                    lat.push(t.elapsed());
                }
                Ok::<_, JournalError>(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    let n = lat.len() as f64;
    Ok(json!({
        "appenders": conc, "appends": lat.len(),
        "appends_per_sec": n / secs, "mb_per_sec": n * RECORD as f64 / secs / 1e6,
        "p50_ms": pct(&mut lat, 0.50), "p99_ms": pct(&mut lat, 0.99),
    }))
}

/// Reads `journal` from 0 to its head; returns MB/s.
async fn catch_up_read(client: &dyn JournalClient, journal: &str) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut stream = client.read(ReadRequest { journal: journal.into(), offset: 0, block: false, end_offset: 0 });
    let mut bytes = 0usize;
    while let Some(item) = stream.next().await {
        match item {
            Ok(c) => bytes += c.content.len(),
            Err(JournalError::OffsetNotYetAvailable { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({ "bytes": bytes, "mb_per_sec": bytes as f64 / secs / 1e6 }))
}

/// A blocking reader tailing `journal` while 64 appenders append: its throughput,
/// and how long after the last acknowledged append it had read everything.
async fn tailing_read(client: Arc<dyn JournalClient>, journal: &str, seconds: f64) -> anyhow::Result<Value> {
    let head = client.barrier(journal).await?;
    let (progress_tx, mut progress) = tokio::sync::watch::channel(head);
    let mut stream = client.read(ReadRequest { journal: journal.into(), offset: head, block: true, end_offset: 0 });
    let reader = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let c = item?;
            progress_tx.send_replace(c.offset + c.content.len() as i64);
        }
        Ok::<_, JournalError>(())
    });
    let start = Instant::now();
    let appended = appenders(client.clone(), journal, 64, seconds).await?;
    let acked = Instant::now();
    let end = client.barrier(journal).await?;
    progress.wait_for(|&o| o >= end).await?;
    let caught_up = Instant::now();
    reader.abort();
    let bytes = (end - head) as f64;
    Ok(json!({
        "bytes": bytes, "mb_per_sec": bytes / (caught_up - start).as_secs_f64() / 1e6,
        "caught_up_after_last_ack_ms": (caught_up - acked).as_secs_f64() * 1e3,
        "appends": appended,
    }))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir)?;
    let raw = raw_fdatasync(&args.dir, args.seconds)?;
    println!("raw fdatasync before (200 B write + fdatasync, serial): {raw}");
    let raw_pair = raw_fdatasync_pair(&args.dir, args.seconds)?;
    println!("raw fdatasync of a file pair in parallel (one journal's round): {raw_pair}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let broker = EmbeddedBroker::start(&args.dir.join("data"), listener, EmbeddedOptions { partitions: 8, ..Default::default() }).await?;
    let local: Arc<dyn JournalClient> = Arc::new(broker.client());
    let grpc: Arc<dyn JournalClient> = Arc::new(GrpcJournalClient::new(&broker.url())?);

    let mut appends = Vec::new();
    for (mode, client) in [("local", local.clone()), ("grpc", grpc.clone())] {
        for (i, conc) in [1usize, 8, 64].into_iter().enumerate() {
            let journal = format!("examples/stream-sum/chunks/part-{:03}", i + if mode == "grpc" { 3 } else { 0 });
            let mut r = appenders(client.clone(), &journal, conc, args.seconds).await?;
            r["mode"] = json!(mode);
            println!("append {mode:5} x{conc:<3}: {r}");
            appends.push(r);
        }
    }

    // A large journal for catch-up reads: 64 MiB in 1 MiB appends.
    let big = "examples/stream-sum/chunks/part-006";
    let chunk = bytes::Bytes::from(vec![b'z'; 1 << 20]);
    for _ in 0..64 {
        local.append(AppendRequest::new(big, chunk.clone())).await?;
    }
    let read_local = catch_up_read(&*local, big).await?;
    let read_grpc = catch_up_read(&*grpc, big).await?;
    println!("catch-up read local: {read_local}\ncatch-up read grpc:  {read_grpc}");
    let tail = tailing_read(grpc.clone(), "examples/stream-sum/chunks/part-007", args.seconds).await?;
    println!("tailing read (grpc, 64 appenders): {tail}");
    let rounds = broker.storage().sync_rounds();
    broker.shutdown().await?;
    let raw_after = raw_fdatasync(&args.dir, args.seconds)?;
    println!("raw fdatasync after: {raw_after}\ngroup-commit rounds in the whole run: {rounds}");

    let report = json!({
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "record_bytes": RECORD, "seconds_per_case": args.seconds, "dir": args.dir,
        "build": if cfg!(debug_assertions) { "debug (deps opt-level 2)" } else { "release" },
        "raw_fdatasync": { "before": raw, "after": raw_after, "pair_in_parallel": raw_pair }, "sync_rounds": rounds, "appends": appends,
        "catch_up_read": { "local": read_local, "grpc": read_grpc }, "tailing_read": tail,
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}
