//! Summer throughput (issue 9): how fast ONE shard consumes a backlog of chunks that is
//! already in its journal, and commits it — with the wasm summer, with the same logic
//! compiled into the host (`NativeSummer`), and against a floor that only does the
//! work no summer can avoid. Plus the cost of crossing the component boundary.
//!
//! ```sh
//! cargo build --release -p streamsum-bench --features native-summer --bin bench_summer
//! scripts/build-guests.sh   # target/wasm/guest_summer.wasm
//! ${CARGO_TARGET_DIR:-target}/release/bench_summer [--reps 5] [--chunks 200000]
//!     [--streams 1000] [--quick] [--wasm FILE] [--out FILE] [--only wasm|native|floor]
//! ```
//!
//! Workload: `--streams` streams of 32-byte chunks (each stream ends with its empty
//! final chunk; `--chunks` counts both), interleaved round-robin and published
//! committed (OUTSIDE_TXN, real UUIDs, one producer) as the chunker writes them, into
//! the one chunk partition of a fresh on-disk broker storage (the broker's own journal
//! code), before the clock starts.
//!
//! Each repetition runs, interleaved:
//! - `summer`: `consumer::run_shard` — the code a real shard runs (recovery of an empty
//!   log, instantiation, the source reader, the sequencer, transactions with RocksDB
//!   commits, recovery-log appends, publishes and ACKs) — with the wasm guest (epoch
//!   interruption on, as in production). The clock runs from the shard's start until
//!   every stream's Sum is committed in the sums journal; the shard's checkpoint must
//!   then read through the journal's head, and every Sum must equal the SHA-1 computed
//!   here with the `sha1` crate.
//! - `native`: the same, with `NativeSummer` (`ShardEnv::native_summer`).
//! - `floor`: the same bytes in memory, split into lines, each chunk parsed with the
//!   model's parser, its data base64-decoded and fed to the stream's `RunningSha1` in a
//!   `HashMap` — no journal, no sequencer, no store, no guest.
//!
//! `guest_alone_chunks_per_sec` / `native_alone_chunks_per_sec`: the two applications
//! without a shard, consuming the workload in batches of 256 from memory (where the
//! time goes when a shard is slower than its application).
//!
//! `guest_call_overhead_ns`: an instance of the summer alone, outside any shard:
//! `per_batch` is the round trip of a `consume` call with an empty batch; `per_message`
//! the least-squares slope of call time over batches of 1–256 minimal messages
//! (`{}`, which the summer skips as an acknowledgement), i.e. the copy into guest
//! memory, the lifting of one envelope and the guest's cheapest look at a message.
//! `native_per_message` is the same slope for `NativeSummer`.
//!
//! Output: one JSON object on stdout (and in `--out FILE`); every figure is
//! `{"median","min","max"}` over the repetitions; the ratios are per repetition
//! (wasm/native/floor of the same repetition), then summarised the same way.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use sha1::{Digest, Sha1};
use streamsum_host::consumer::{run_shard, recovery_log_for, shard_id_for, ShardEnv, ShardSpec, ShardStatus};
use streamsum_host::journal::defaults::{chunk_partition, stream_sum_specs, sums_journal};
use streamsum_host::journal::{AppendRequest, JournalClient, LocalClient, Storage};
use streamsum_host::message::{AtomicClock, CommittedReader, ProducerId, Publisher};
use streamsum_host::runtime::{ComponentCache, Limits, MessageBatch, PluginEngine, ShardContext, SummerInstance, SummerPlugin};
use streamsum_host::store::ShardDb;
use streamsum_model::{encode_chunk, parse_chunk, Message, RunningSha1, StreamId, Sum};
use tokio::sync::watch;

/// Bytes of data per chunk (Gazette's chunker default).
const CHUNK_BYTES: usize = 32;
/// Bytes per prefill append (whole frames).
const APPEND_BYTES: usize = 1 << 20;

/// Command-line options.
struct Opts {
    reps: usize,
    chunks: usize,
    streams: usize,
    wasm: PathBuf,
    out: Option<PathBuf>,
    /// `--only wasm|native|floor`: run one mode (for profiling); no ratios.
    only: Option<String>,
}

/// The prefilled journal content and what the summers must publish for it.
struct Workload {
    /// Appends of whole frames, in order.
    appends: Vec<Vec<u8>>,
    /// Chunks in the journal (final chunks included).
    chunks: usize,
    /// Expected final Sum of every stream.
    sums: HashMap<StreamId, Sum>,
}

fn parse_opts() -> anyhow::Result<Opts> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let num = |name: &str, default: usize| -> anyhow::Result<usize> {
        opt(name).map_or(Ok(default), |v| v.parse().with_context(|| format!("{name} {v}: not a number")))
    };
    let default_wasm = || -> anyhow::Result<PathBuf> {
        if let Some(dir) = std::env::var_os("STREAMSUM_WASM_DIR") {
            return Ok(PathBuf::from(dir).join("guest_summer.wasm"));
        }
        // target/<profile>/bench_summer → target/wasm/guest_summer.wasm
        let exe = std::env::current_exe()?;
        let target = exe.ancestors().nth(2).ok_or_else(|| anyhow!("cannot find the target directory from {}", exe.display()))?;
        Ok(target.join("wasm").join("guest_summer.wasm"))
    };
    let opts = Opts {
        reps: num("--reps", if quick { 3 } else { 5 })?,
        chunks: num("--chunks", if quick { 40_000 } else { 200_000 })?,
        streams: num("--streams", if quick { 200 } else { 1000 })?,
        wasm: opt("--wasm").map_or_else(default_wasm, |p| Ok(PathBuf::from(p)))?,
        out: opt("--out").map(PathBuf::from),
        only: opt("--only"),
    };
    ensure!(opts.only.as_deref().is_none_or(|m| ["wasm", "native", "floor"].contains(&m)), "--only takes wasm, native or floor");
    ensure!(opts.reps > 0, "--reps must be at least 1");
    ensure!(opts.streams > 0 && opts.chunks >= 2 * opts.streams, "--chunks must be at least twice --streams (each stream has a data chunk and its final chunk)");
    Ok(opts)
}

/// Round-robin streams, `chunks / streams` chunks each (the last one empty), framed
/// with real OUTSIDE_TXN UUIDs of one producer as the chunker publishes them.
fn workload(chunks: usize, streams: usize) -> anyhow::Result<Workload> {
    let per_stream = chunks / streams;
    let journal = chunk_partition(0);
    let mut publisher = Publisher::with_producer(ProducerId([2, 4, 6, 8, 10, 12]), Arc::new(AtomicClock::now()), true);
    let mut hashers: Vec<Sha1> = vec![Sha1::new(); streams];
    let id = |s: usize| {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(s as u64 + 1).to_be_bytes());
        id[8..].copy_from_slice(&((s as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
        StreamId(id)
    };
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut appends, mut frame, mut data) = (Vec::new(), Vec::new(), vec![0u8; CHUNK_BYTES]);
    for seq in 1..=per_stream {
        for (s, hasher) in hashers.iter_mut().enumerate() {
            let body: &[u8] = if seq == per_stream {
                &[]
            } else {
                for b in data.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *b = x as u8;
                }
                &data
            };
            hasher.update(body);
            frame.clear();
            encode_chunk(&id(s), seq as u64, body, &mut frame);
            publisher.publish_committed(&journal, &frame)?;
            if publisher.buffered_bytes() >= APPEND_BYTES {
                appends.extend(publisher.take_appends().into_iter().map(|a| a.bytes));
            }
        }
    }
    appends.extend(publisher.take_appends().into_iter().map(|a| a.bytes));
    let sums = hashers
        .into_iter()
        .enumerate()
        .map(|(s, h)| (id(s), Sum { id: id(s), seq_no: per_stream as u64, sha1: h.finalize().into() }))
        .collect();
    Ok(Workload { appends, chunks: per_stream * streams, sums })
}

/// One shard run over a fresh copy of the workload: (chunks/s, transactions).
async fn shard_run(work: &Workload, plugin: &SummerPlugin, native: bool) -> anyhow::Result<(f64, u64)> {
    let tmp = tempfile::tempdir()?;
    let storage = Storage::open(tmp.path().join("broker"))?;
    storage.create_missing(stream_sum_specs(1))?;
    let client: Arc<dyn JournalClient> = Arc::new(LocalClient::new(storage.clone()));
    let source = chunk_partition(0);
    for bytes in &work.appends {
        client.append(AppendRequest::new(source.clone(), bytes.clone())).await?;
    }
    let head = client.barrier(&source).await?;
    let sums_head = client.barrier(&sums_journal()).await?;

    let id = shard_id_for(&source);
    let spec = ShardSpec {
        id: id.clone(),
        source: source.clone(),
        // The host's defaults (`--min-txn-duration 0s --max-txn-duration 1s`).
        min_txn_duration: Duration::ZERO,
        max_txn_duration: Duration::from_secs(1),
        ring_size: 0,
        max_failures: 1,
    };
    let env = ShardEnv {
        client: client.clone(),
        plugin: plugin.clone(),
        limits: Limits::default(),
        db_dir: tmp.path().join("shards").join(&id),
        publishable: Arc::new([sums_journal()].into_iter().collect::<BTreeSet<_>>()),
        recovery_log: recovery_log_for(&id),
        snapshot_every: 0,
        hot_standbys: 0,
        lease: Duration::from_secs(10),
        native_summer: native,
        reloader: None,
        role: None,
    };
    let status = Arc::new(ShardStatus::new(&id));
    let (stop, shutdown) = watch::channel(false);
    let mut sums = CommittedReader::new(client.clone(), sums_journal(), sums_head, true);

    let began = Instant::now();
    let shard = tokio::spawn(run_shard(spec, env, status.clone(), shutdown));
    let mut seen = HashMap::new();
    while seen.len() < work.sums.len() {
        let next = tokio::time::timeout(Duration::from_secs(120), sums.next()).await;
        let env = next.map_err(|_| anyhow!("no sum for 120 s; shard status: {:?}", status.snapshot()))??;
        let env = env.ok_or_else(|| anyhow!("the sums journal ended"))?;
        let sum = Sum::parse(&env.message)?;
        ensure!(seen.insert(sum.id, sum).is_none(), "a second sum for stream {}", sum.id);
    }
    let elapsed = began.elapsed().as_secs_f64();
    let _ = stop.send(true);
    shard.await?;
    let snapshot = status.snapshot();
    ensure!(snapshot.read_through == head, "the shard's checkpoint reads through {} but the journal's head is {head}", snapshot.read_through);
    ensure!(snapshot.messages == work.chunks as u64, "the shard committed {} messages of {}", snapshot.messages, work.chunks);
    for (id, want) in &work.sums {
        ensure!(seen.get(id) == Some(want), "stream {id}: got {:?}, want {want:?}", seen.get(id));
    }
    storage.shutdown();
    Ok((work.chunks as f64 / elapsed, snapshot.transactions))
}

/// The floor: split, parse, decode, hash into a map — nothing else. Returns chunks/s.
fn floor_run(work: &Workload) -> anyhow::Result<f64> {
    let began = Instant::now();
    let mut states: HashMap<StreamId, RunningSha1> = HashMap::new();
    let (mut data, mut n) = (Vec::new(), 0usize);
    for bytes in &work.appends {
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let Message::Chunk(chunk) = parse_chunk(line)? else { bail!("unexpected acknowledgement") };
            chunk.decode_data(&mut data)?;
            states.entry(chunk.id).or_default().update(&data);
            n += 1;
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    ensure!(n == work.chunks && states.len() == work.sums.len(), "the floor saw {n} chunks of {} streams", states.len());
    for (id, want) in &work.sums {
        ensure!(states[id].finalize() == want.sha1, "the floor's SHA-1 of stream {id} differs");
    }
    Ok(work.chunks as f64 / elapsed)
}

/// `guest_call_overhead_ns`: per empty call, and per minimal message (wasm and native).
fn call_overhead(plugin: &SummerPlugin) -> anyhow::Result<serde_json::Value> {
    let tmp = tempfile::tempdir()?;
    let db = ShardDb::open_blocking(&tmp.path().join("db"), false)?;
    let ctx = ShardContext { shard: "bench".into(), db: db.clone(), journals: Arc::new(BTreeSet::new()) };
    let mut wasm = SummerInstance::instantiate(plugin, ctx, Limits::default())?;
    let mut native = streamsum_host::consumer::baseline::native_summer(db)?;
    let sizes = [1usize, 16, 64, 128, 256];
    let batches: Vec<MessageBatch> = sizes
        .iter()
        .map(|&k| {
            let mut b = MessageBatch::new(&chunk_partition(0));
            (0..k).for_each(|i| b.push(3 * i as u64, b"{}\n"));
            b
        })
        .collect();
    let empty = MessageBatch::new(&chunk_partition(0));
    let time = |f: &mut dyn FnMut() -> anyhow::Result<()>, calls: usize| -> anyhow::Result<f64> {
        let began = Instant::now();
        for _ in 0..calls {
            f()?;
        }
        Ok(began.elapsed().as_nanos() as f64 / calls as f64)
    };
    let per_batch = time(&mut || Ok(wasm.consume(&empty)?), 20_000)?;
    let (mut wasm_ns, mut native_ns) = (Vec::new(), Vec::new());
    for batch in &batches {
        wasm_ns.push(time(&mut || Ok(wasm.consume(batch)?), 2_000)?);
        native_ns.push(time(&mut || Ok(native.consume(batch)?), 2_000)?);
    }
    wasm.abort_txn();
    let xs: Vec<f64> = sizes.iter().map(|&k| k as f64).collect();
    Ok(serde_json::json!({
        "per_batch": per_batch,
        "per_message": slope(&xs, &wasm_ns),
        "native_per_message": slope(&xs, &native_ns),
    }))
}

/// The applications alone (no shard): the workload's frames in batches of 256, one
/// `finalize-txn` at the end, on a wasm instance and on `NativeSummer`. Returns
/// (wasm, native) chunks/s: where the time goes when the shard is slower than these.
fn apps_alone(work: &Workload, plugin: &SummerPlugin) -> anyhow::Result<(f64, f64)> {
    let tmp = tempfile::tempdir()?;
    let db = ShardDb::open_blocking(&tmp.path().join("db"), false)?;
    let ctx = ShardContext { shard: "bench".into(), db: db.clone(), journals: Arc::new([sums_journal()].into_iter().collect()) };
    let limits = Limits { call_timeout: Duration::from_secs(60), ..Limits::default() };
    let mut apps: [Box<dyn streamsum_host::consumer::app::Application>; 2] =
        [Box::new(SummerInstance::instantiate(plugin, ctx, limits)?), streamsum_host::consumer::baseline::native_summer(db)?];
    let mut batches = Vec::new();
    let mut batch = MessageBatch::new(&chunk_partition(0));
    let mut offset = 0u64;
    for line in work.appends.iter().flat_map(|b| b.split_inclusive(|&c| c == b'\n')) {
        batch.push(offset, line);
        offset += line.len() as u64;
        if batch.len() == 256 {
            batches.push(std::mem::replace(&mut batch, MessageBatch::new(&chunk_partition(0))));
        }
    }
    batches.push(batch);
    let mut rates = [0.0; 2];
    for (app, rate) in apps.iter_mut().zip(&mut rates) {
        let began = Instant::now();
        for b in &batches {
            app.consume(b)?;
        }
        let out = app.finalize_txn()?;
        *rate = work.chunks as f64 / began.elapsed().as_secs_f64();
        ensure!(out.published.len() == work.sums.len(), "{} sums published of {}", out.published.len(), work.sums.len());
    }
    Ok((rates[0], rates[1]))
}

/// Least-squares slope of `ys` over `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    cov / var
}

/// `{"median","min","max"}` of `v`.
fn stat(v: &[f64]) -> serde_json::Value {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    serde_json::json!({"median": v[v.len() / 2], "min": v[0], "max": v[v.len() - 1]})
}

fn load_plugin(wasm: &Path, cache_dir: &Path) -> anyhow::Result<SummerPlugin> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {} (build it with scripts/build-guests.sh, or pass --wasm)", wasm.display()))?;
    let cache = ComponentCache::new(PluginEngine::new().map_err(|e| anyhow!("{e:#}"))?, cache_dir);
    SummerPlugin::load_blocking(&cache, &bytes, "guest_summer.wasm").map_err(|e| anyhow!("loading {}: {e}", wasm.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opts = parse_opts()?;
    let cache = tempfile::tempdir()?;
    let plugin = load_plugin(&opts.wasm, cache.path())?;
    let work = workload(opts.chunks, opts.streams)?;
    if let Some(mode) = &opts.only {
        for rep in 0..opts.reps {
            let rate = match mode.as_str() {
                "floor" => floor_run(&work)?,
                m => shard_run(&work, &plugin, m == "native").await?.0,
            };
            eprintln!("rep {rep}: {mode} {rate:.0} chunks/s");
        }
        return Ok(());
    }
    let (mut wasm, mut native, mut floor, mut txns) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut wasm_alone, mut native_alone) = (Vec::new(), Vec::new());
    for rep in 0..opts.reps {
        let (w, wt) = shard_run(&work, &plugin, false).await.context("wasm summer run")?;
        let (n, nt) = shard_run(&work, &plugin, true).await.context("native summer run")?;
        let f = floor_run(&work)?;
        let (wa, na) = tokio::task::block_in_place(|| apps_alone(&work, &plugin))?;
        eprintln!("rep {rep}: apps alone: wasm {wa:.0} chunks/s, native {na:.0}");
        wasm_alone.push(wa);
        native_alone.push(na);
        eprintln!("rep {rep}: wasm {w:.0} chunks/s ({wt} txns), native {n:.0} ({nt} txns), floor {f:.0}; wasm/native {:.3}, wasm/floor {:.3}", w / n, w / f);
        wasm.push(w);
        native.push(n);
        floor.push(f);
        txns.push(wt as f64);
    }
    let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a / b).collect::<Vec<_>>();
    let plugin_for_overhead = plugin.clone();
    let overhead = tokio::task::spawn_blocking(move || call_overhead(&plugin_for_overhead)).await??;
    let json = serde_json::json!({
        "benchmark": "summer throughput: one shard consumes a prefilled journal and commits",
        "chunks": work.chunks,
        "streams": opts.streams,
        "chunk_bytes": CHUNK_BYTES,
        "reps": opts.reps,
        // The machine is shared: a high load average explains noisy ratios.
        "cpus": std::thread::available_parallelism().map_or(0, usize::from),
        "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "summer_chunks_per_sec": stat(&wasm),
        "native_chunks_per_sec": stat(&native),
        "wasm_over_native": stat(&ratio(&wasm, &native)),
        "floor_chunks_per_sec": stat(&floor),
        "summer_over_floor": stat(&ratio(&wasm, &floor)),
        "summer_transactions": stat(&txns),
        "guest_alone_chunks_per_sec": stat(&wasm_alone),
        "native_alone_chunks_per_sec": stat(&native_alone),
        "guest_call_overhead_ns": overhead,
    });
    let text = serde_json::to_string_pretty(&json)?;
    println!("{text}");
    if let Some(out) = &opts.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, text + "\n").with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
