//! Where the end-to-end latency goes: a chunker run against a fresh host, observed
//! from outside by tailing every journal on its path and timestamping when each frame
//! becomes readable (readers only ever see committed, i.e. fdatasynced, bytes).
//!
//! ```sh
//! cargo build --release -p streamsum-host --bin streamsum-host && cargo build --release -p streamsum-bench --bin bench_latency
//! target/release/bench_latency [--bin PATH] [--chunker-bin PATH] [--wasm DIR] [--workers 4] \
//!     [--streams 100] [--chunks 100] [--rate CHUNKS_PER_SEC] [--reps 1] \
//!     [--host-arg ARG]... [--out bench/results/latency.json]
//! ```
//!
//! For each stream whose sum the chunker verified, the observer knows:
//! - `chunk`: when its final (empty) chunk became readable in its partition;
//! - `sum`: when the shard's Sum message (CONTINUE_TXN) became readable in the sums
//!   journal;
//! - `log`: when the shard's next recovery-log record (its transaction's commit point)
//!   became readable;
//! - `ack`: when the shard's ACK committing the Sum became readable.
//!
//! Stages reported (p50/p99/max, ms): `chunk→sum` (the shard's read, its transaction
//! and the sums append), `sum→log` (the recovery-log commit), `log→ack` (the ACK
//! append), `chunk→ack` (all of the shard's part). The chunker's own latency (from the
//! final chunk's publish to the verified Sum) minus `chunk→ack` is the chunk append plus
//! the chunker's read of the ACK. Transaction phases come from the host's metrics.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use streamsum_host::journal::defaults::{chunk_partition, recovery_log, sums_journal, DEFAULT_PARTITIONS};
use streamsum_host::journal::{JournalClient, ReadRequest};
use streamsum_host::message::{Flags, FrameDecoder, ProducerId};
use streamsum_host::service::GrpcJournalClient;
use streamsum_model::{modulo_partition, Message, StreamId, Sum};

/// What the observer saw, timestamped in ms since the observer started.
#[derive(Default)]
struct Seen {
    /// Final chunk readable, per stream.
    chunk: HashMap<StreamId, f64>,
    /// Sum readable: per stream, its producer, clock and time.
    sum: HashMap<StreamId, (ProducerId, u64, f64)>,
    /// ACKs per producer: (clock, time), in order.
    acks: HashMap<ProducerId, Vec<(u64, f64)>>,
    /// Recovery-log appends per partition: times, in order.
    log: Vec<Vec<f64>>,
}

/// One chunker run's figures.
#[derive(Default)]
struct Run {
    chunks_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    stages: serde_json::Value,
    phases: serde_json::Value,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    let host_args: Vec<String> =
        args.windows(2).filter(|w| w[0] == "--host-arg").map(|w| w[1].clone()).collect();
    let exe = std::env::current_exe()?;
    let profile = exe.parent().ok_or_else(|| anyhow::anyhow!("no profile dir"))?.to_owned();
    let bin = PathBuf::from(opt("--bin", &profile.join("streamsum-host").to_string_lossy()));
    let chunker_bin = PathBuf::from(opt("--chunker-bin", &bin.to_string_lossy()));
    let wasm = PathBuf::from(opt("--wasm", &profile.parent().unwrap_or(&profile).join("wasm").to_string_lossy()));
    let reps: usize = opt("--reps", "1").parse()?;
    let job = Job {
        workers: opt("--workers", "4"),
        streams: opt("--streams", "100"),
        chunks: opt("--chunks", "100"),
        rate: args.iter().any(|a| a == "--rate").then(|| opt("--rate", "0")),
    };
    let out = PathBuf::from(opt("--out", "bench/results/latency.json"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut runs = Vec::new();
    for rep in 0..reps {
        let run = rt.block_on(run_once([&bin, &chunker_bin], &wasm, &host_args, &job))?;
        eprintln!(
            "rep {rep}: {:.0} chunks/s, p50 {:.1} ms, p99 {:.1} ms; stages {}",
            run.chunks_per_sec, run.p50_ms, run.p99_ms, run.stages
        );
        runs.push(run);
    }
    let json = serde_json::json!({
        "benchmark": "end-to-end latency by stage",
        "job": {"workers": job.workers, "streams_per_worker": job.streams, "chunks": job.chunks, "rate": job.rate, "host_args": host_args},
        "runs": runs.iter().map(|r| serde_json::json!({
            "chunks_per_sec": r.chunks_per_sec, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
            "stages_ms": r.stages, "txn_phases_mean_ms": r.phases,
        })).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&json)? + "\n")?;
    Ok(())
}

/// The chunker job.
struct Job {
    workers: String,
    streams: String,
    chunks: String,
    rate: Option<String>,
}

async fn run_once([bin, chunker_bin]: [&Path; 2], wasm: &Path, host_args: &[String], job: &Job) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let mut host = Command::new(bin)
        .arg("--app")
        .arg(wasm.join("guest_summer.wasm"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(host_args)
        .env("STREAMSUM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut lines = BufReader::new(host.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).lines();
    let (mut url, mut metrics) = (None, None);
    while url.is_none() {
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("host exited before serving"))??;
        if let Some(u) = line.strip_prefix("broker listening on ") {
            url = Some(u.trim().to_owned());
        } else if let Some(u) = line.strip_prefix("metrics listening on ") {
            metrics = Some(u.trim().to_owned());
        }
    }
    let url = url.unwrap_or_default();
    std::thread::spawn(move || lines.for_each(drop));

    let origin = Instant::now();
    let seen = Arc::new(Mutex::new(Seen { log: vec![Vec::new(); DEFAULT_PARTITIONS], ..Seen::default() }));
    let client: Arc<dyn JournalClient> = Arc::new(GrpcJournalClient::new(&url)?);
    let mut observers = Vec::new();
    for p in 0..DEFAULT_PARTITIONS {
        observers.push(tokio::spawn(observe(client.clone(), chunk_partition(p), Kind::Chunks, seen.clone(), origin)));
        observers.push(tokio::spawn(observe(client.clone(), recovery_log(p), Kind::Log(p), seen.clone(), origin)));
    }
    observers.push(tokio::spawn(observe(client.clone(), sums_journal(), Kind::Sums, seen.clone(), origin)));

    let mut chunker = tokio::process::Command::new(chunker_bin);
    chunker
        .arg("chunker")
        .arg("--app")
        .arg(wasm.join("guest_chunker.wasm"))
        .args(["--broker", &url, "--streams", &job.streams, "--chunks", &job.chunks, "--workers", &job.workers])
        .arg("--cache-dir")
        .arg(dir.path().join("chunker-cache"))
        .env("STREAMSUM_LOG", "error");
    if let Some(rate) = &job.rate {
        chunker.args(["--rate", rate]);
    }
    let report = chunker.output().await?;
    // Let the observers catch up with the last ACKs.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let phases = match &metrics {
        Some(m) => scrape_phases(m).await.unwrap_or_default(),
        None => serde_json::Value::Null,
    };
    observers.iter().for_each(tokio::task::JoinHandle::abort);
    let _ = Command::new("kill").arg("-TERM").arg(host.id().to_string()).status();
    let _ = host.wait();
    let text = String::from_utf8_lossy(&report.stderr);
    anyhow::ensure!(report.status.success(), "chunker failed: {text}");
    let mut run = parse_report(&text).ok_or_else(|| anyhow::anyhow!("no report in: {text}"))?;
    run.stages = stages(&seen.lock().unwrap_or_else(|p| p.into_inner()));
    run.phases = phases;
    Ok(run)
}

/// Which journal an observer tails.
#[derive(Clone, Copy)]
enum Kind {
    Chunks,
    Sums,
    Log(usize),
}

/// Tails `journal` from offset 0, recording what `kind` needs.
async fn observe(client: Arc<dyn JournalClient>, journal: String, kind: Kind, seen: Arc<Mutex<Seen>>, origin: Instant) {
    let mut stream = client.read(ReadRequest { journal: journal.clone(), offset: 0, block: true, end_offset: 0 });
    let mut decoder = FrameDecoder::new(journal.as_str(), 0);
    while let Some(Ok(chunk)) = stream.next().await {
        let at = origin.elapsed().as_secs_f64() * 1e3;
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Kind::Log(p) = kind {
            seen.log[p].push(at);
            continue;
        }
        decoder.push(&chunk.content);
        while let Some(frame) = decoder.next_frame() {
            let Ok(env) = frame else { continue };
            match kind {
                Kind::Chunks => {
                    if let Ok(Message::Chunk(c)) = streamsum_model::parse_chunk(&env.message) {
                        if c.is_final() {
                            seen.chunk.insert(c.id, at);
                        }
                    }
                }
                Kind::Sums if env.flags() == Flags::ACK_TXN => {
                    seen.acks.entry(env.producer()).or_default().push((env.clock().0, at));
                }
                Kind::Sums => {
                    if let Ok(sum) = Sum::parse(&env.message) {
                        seen.sum.insert(sum.id, (env.producer(), env.clock().0, at));
                    }
                }
                Kind::Log(_) => {}
            }
        }
    }
}

/// Per-stream stage durations, summarised.
fn stages(seen: &Seen) -> serde_json::Value {
    let (mut to_sum, mut to_log, mut to_ack, mut total) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, &chunk) in &seen.chunk {
        let Some(&(producer, clock, sum)) = seen.sum.get(id) else { continue };
        let Some(&(_, ack)) = seen.acks.get(&producer).and_then(|a| a.iter().find(|(c, _)| *c >= clock)) else { continue };
        let p = modulo_partition(id, DEFAULT_PARTITIONS as u32).unwrap_or(0) as usize;
        let log = seen.log[p].iter().copied().find(|&t| t >= sum).unwrap_or(ack);
        to_sum.push(sum - chunk);
        to_log.push(log - sum);
        to_ack.push(ack - log);
        total.push(ack - chunk);
    }
    let summary = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let q = |f: f64| v.get(((v.len() as f64 - 1.0) * f).round() as usize).copied().unwrap_or(f64::NAN);
        serde_json::json!({"n": v.len(), "p50": round(q(0.5)), "p99": round(q(0.99)), "max": round(q(1.0))})
    };
    serde_json::json!({
        "chunk_to_sum": summary(to_sum), "sum_to_log": summary(to_log),
        "log_to_ack": summary(to_ack), "chunk_to_ack": summary(total),
    })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Mean duration (ms) of each transaction phase over all shards, from the host's
/// Prometheus text.
async fn scrape_phases(metrics: &str) -> anyhow::Result<serde_json::Value> {
    let url = format!("{metrics}/metrics");
    let text = tokio::task::spawn_blocking(move || Command::new("curl").args(["-s", &url]).output()).await??.stdout;
    let text = String::from_utf8_lossy(&text);
    let mut sums: HashMap<String, (f64, f64)> = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (series, is_sum) = if let Some(s) = key.split('{').next().and_then(|n| n.strip_suffix("_sum")) {
            (s, true)
        } else if let Some(s) = key.split('{').next().and_then(|n| n.strip_suffix("_count")) {
            (s, false)
        } else {
            continue;
        };
        let label = key.split("phase=\"").nth(1).or_else(|| key.split("call=\"").nth(1)).and_then(|r| r.split('"').next());
        let name = match (series, label) {
            ("streamsum_transaction_phase_seconds", Some(phase)) => phase.to_owned(),
            ("streamsum_guest_call_seconds", Some(call)) => format!("guest_{call}"),
            ("streamsum_transaction_seconds", _) => "txn".to_owned(),
            _ => continue,
        };
        let e = sums.entry(name).or_default();
        if is_sum {
            e.0 += value;
        } else {
            e.1 += value;
        }
    }
    Ok(sums.into_iter().map(|(k, (s, n))| (k, serde_json::json!(round(s * 1e3 / n.max(1.0))))).collect())
}

/// Reads `throughput: X chunks/s` and `… p50 Yms, p99 Zms` from the chunker's report.
fn parse_report(text: &str) -> Option<Run> {
    let after = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.trim_start().split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?.parse().ok()
    };
    let throughput = text.lines().find(|l| l.starts_with("throughput:"))?;
    let latency = text.lines().find(|l| l.starts_with("latency"))?;
    Some(Run {
        chunks_per_sec: after(throughput, "throughput:")?,
        p50_ms: after(latency, "p50")?,
        p99_ms: after(latency, "p99")?,
        ..Run::default()
    })
}
