//! `streamsum-host chunker`: set up the job, run the workers, report.
//!
//! Mirrors `main` and `GenerateAndVerifyStreams` of Gazette's
//! `examples/stream-sum/chunker.go` (reference §6.3): list the chunk partitions, write
//! a barrier on the sums journal and read sums from its offset, share one committed
//! publisher, run the workers, fail on the first wrong, missing, duplicated or late
//! sum. Each worker is a `chunker` guest instance on a blocking thread. Every broker
//! call retries with backoff while the broker is unreachable, so the job rides out a
//! broker restart (within the SLA).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::files::{InputFiles, WorkerFiles};
use super::pace::Pacer;
use super::progress;
use super::publish::{append_retrying, is_retryable, ChunkSink};
use super::report::{sha1sum_line, JobReport};
use super::sums::spawn_reader;
use super::worker::{WorkerHost, STOPPED};
use super::args::ChunkerArgs;
use crate::journal::defaults::{sums_journal, MESSAGE_TYPE};
use crate::journal::{AppendRequest, JournalClient, LabelSelector, LabelSet};
use crate::message::{Backoff, ModuloMapping, Offset};
use crate::runtime::chunker::{ChunkerConfig, InputFile, Report};
use crate::runtime::{CallError, ChunkerInstance, ChunkerPlugin, ComponentCache, Limits, PluginEngine};
use crate::service::GrpcJournalClient;

/// Default bytes of random data per chunk (Gazette's chunker sends 32).
pub const DEFAULT_CHUNK_SIZE: u32 = 32;
/// Default bytes per chunk in files mode (one read of the file).
pub const DEFAULT_FILE_CHUNK_SIZE: u32 = 64 << 10;
/// Largest `--chunk-size`: its base64 in a chunk message stays well under the
/// 1 MiB message limit of guests.
pub const MAX_CHUNK_SIZE: u32 = 512 << 10;

/// Runs the chunker job to completion.
///
/// # Errors
/// Bad arguments, an unreadable plugin or file, a broker with no partitions, or the
/// first worker failure (one line naming the worker, the stream and why).
pub async fn run(args: ChunkerArgs) -> anyhow::Result<()> {
    let files = Arc::new(InputFiles::open(&args.files)?);
    let config = base_config(&args)?;
    let plugin = load_plugin(&args).await?;
    let client: Arc<dyn JournalClient> =
        Arc::new(GrpcJournalClient::new(&args.broker).map_err(|e| anyhow!("--broker {}: {e}", args.broker))?);

    let (stop_tx, stop) = watch::channel(false);
    let sums: Arc<str> = sums_journal().into();
    let (mapping, offset) = tokio::select! {
        r = setup(&*client, &sums, &stop, &args.exclude_partition) => r?,
        r = crate::shutdown::signal() => { r?; bail!("interrupted before the job started") }
    };
    tracing::info!(partitions = mapping.partitions().len(), sums = %sums, offset, "chunker job starting");
    let (sink, mut tasks) = ChunkSink::start(client.clone(), mapping, stop.clone());

    let plan = plan_workers(&files, args.workers as usize);
    let total = expected_chunks(&config, &plan, args.streams);
    let started = Instant::now();
    let bar = progress::start(sink.clone(), total);
    let pacer = args.rate.map(Pacer::new);
    let workers = FuturesUnordered::new();
    for (w, worker_files) in plan.into_iter().enumerate() {
        let (rx, reader) = spawn_reader(client.clone(), sums.clone(), offset, stop.clone());
        tasks.push(reader);
        let host = WorkerHost::new(Handle::current(), sink.clone(), rx, worker_files.clone(), stop.clone())
            .with_pacer(pacer.clone());
        workers.push(spawn_worker(&plugin, w, &config, worker_files, host));
    }
    let outcome = await_workers(workers, &sink, &stop_tx).await;
    let elapsed = started.elapsed();
    progress::clear(bar);
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    finish(&outcome?, elapsed)
}

/// One worker's files and how its run ended (an error as one line).
type WorkerEnd = (WorkerFiles, Result<Report, String>);

/// The workers: one per `--workers` (random streams), or one per file up to that many.
fn plan_workers(files: &Arc<InputFiles>, workers: usize) -> Vec<WorkerFiles> {
    if files.files.is_empty() {
        return (0..workers)
            .map(|_| WorkerFiles::new(files.clone(), Vec::new()))
            .collect();
    }
    let split = files.split(workers);
    split
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(|f| WorkerFiles::new(files.clone(), f))
        .collect()
}

/// Runs worker `w` (a guest instance over `host`) on a blocking thread.
fn spawn_worker(
    plugin: &ChunkerPlugin,
    w: usize,
    config: &ChunkerConfig,
    files: WorkerFiles,
    host: WorkerHost,
) -> JoinHandle<WorkerEnd> {
    let mut config = config.clone();
    config.worker = w as u32;
    config.files = files
        .files()
        .map(|f| InputFile {
            path: f.path.clone(),
            size: f.size,
        })
        .collect();
    let plugin = plugin.clone();
    tokio::task::spawn_blocking(move || {
        let owner = format!("chunker-worker-{w}");
        let result = ChunkerInstance::instantiate(&plugin, &owner, Limits::default(), Box::new(host))
            .and_then(|mut instance| instance.run(&config));
        // The guest's own errors already start with "chunker worker N: ".
        let result = result.map_err(|e| match e {
            CallError::Guest { text, .. } => text,
            other => format!("chunker worker {w}: {other}"),
        });
        (files, result)
    })
}

/// Waits for every worker. The first failure (or SIGINT/SIGTERM) stops the others,
/// and is the job's error; the workers' "stopping" errors that follow are not.
async fn await_workers(
    mut workers: FuturesUnordered<JoinHandle<WorkerEnd>>,
    sink: &ChunkSink,
    stop_tx: &watch::Sender<bool>,
) -> anyhow::Result<Vec<(WorkerFiles, Report)>> {
    let mut reports = Vec::new();
    let mut failure: Option<String> = None;
    let signal = crate::shutdown::signal();
    tokio::pin!(signal);
    while !workers.is_empty() {
        tokio::select! {
            Some(done) = workers.next() => match done.context("a chunker worker thread panicked")? {
                (files, Ok(report)) => reports.push((files, report)),
                (_, Err(e)) => {
                    if failure.is_none() && !e.contains(STOPPED) {
                        failure = Some(e);
                    }
                    let _ = stop_tx.send(true);
                }
            },
            r = &mut signal, if failure.is_none() => {
                r?;
                failure = Some(format!("interrupted after publishing {} chunks", sink.progress().0));
                let _ = stop_tx.send(true);
            }
        }
    }
    match failure {
        Some(failure) => bail!("{failure}"),
        None => Ok(reports),
    }
}

/// Prints the files' checksum lines (stdout) and the report (stderr).
fn finish(reports: &[(WorkerFiles, Report)], elapsed: std::time::Duration) -> anyhow::Result<()> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (files, report) in reports {
        if report.files.len() != files.indices().len() {
            bail!(
                "a worker reported {} file sums for its {} files",
                report.files.len(),
                files.indices().len()
            );
        }
        for ((global, file), sum) in files.indices().iter().zip(files.files()).zip(&report.files) {
            if sum.sha1.len() != 40 {
                bail!("no verified sum for --files {}", file.path);
            }
            lines.push((*global, sha1sum_line(&sum.sha1, &file.path)));
        }
    }
    lines.sort();
    for (_, line) in lines {
        println!("{line}");
    }
    let job = JobReport::merge(reports.iter().map(|(_, r)| r), elapsed);
    eprint!("{}", job.render());
    Ok(())
}

/// The configuration shared by all workers, from the arguments.
fn base_config(args: &ChunkerArgs) -> anyhow::Result<ChunkerConfig> {
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let default = if args.files.is_empty() {
        DEFAULT_CHUNK_SIZE
    } else {
        DEFAULT_FILE_CHUNK_SIZE
    };
    let chunk_size = args.chunk_size.unwrap_or(default);
    if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
        bail!("--chunk-size must be between 1 and {MAX_CHUNK_SIZE} bytes (got {chunk_size})");
    }
    if args.sla.is_zero() {
        bail!("--sla must be more than 0");
    }
    Ok(ChunkerConfig {
        worker: 0,
        streams: args.streams,
        chunks: args.chunks,
        chunk_size,
        sla_ms: u64::try_from(args.sla.as_millis()).unwrap_or(u64::MAX),
        files: Vec::new(),
    })
}

/// Chunks the job will publish, if it ends: per stream its data chunks plus the final one.
fn expected_chunks(config: &ChunkerConfig, plan: &[WorkerFiles], streams: i64) -> Option<u64> {
    if plan.iter().any(|w| w.files().next().is_some()) {
        let cs = u64::from(config.chunk_size);
        return Some(
            plan.iter()
                .flat_map(|w| w.files())
                .map(|f| f.size.div_ceil(cs) + 1)
                .sum(),
        );
    }
    let streams = u64::try_from(streams).ok()?;
    Some(plan.len() as u64 * streams * (u64::from(config.chunks) + 1))
}

/// Reads, compiles (or loads from the cache) and checks the plugin.
async fn load_plugin(args: &ChunkerArgs) -> anyhow::Result<ChunkerPlugin> {
    let path = args.app.display().to_string();
    let bytes = tokio::fs::read(&args.app)
        .await
        .with_context(|| format!("reading --app {path}"))?;
    let engine = PluginEngine::new().map_err(|e| anyhow!("starting the wasm engine: {e:#}"))?;
    let cache = ComponentCache::new(engine, args.cache_dir.clone());
    let plugin = tokio::task::spawn_blocking(move || ChunkerPlugin::load_blocking(&cache, &bytes, &path))
        .await
        .context("plugin compilation task failed")??;
    tracing::info!(plugin = %args.app.display(), version = %plugin.version(), "chunker plugin loaded");
    Ok(plugin)
}

/// Lists the chunk partitions (waiting until there is at least one) and writes the
/// barrier on the sums journal, retrying while the broker is unreachable.
async fn setup(
    client: &dyn JournalClient,
    sums: &str,
    stop: &watch::Receiver<bool>,
    exclude: &[String],
) -> anyhow::Result<(ModuloMapping, Offset)> {
    let selector = LabelSelector::including(LabelSet::from_pairs([(MESSAGE_TYPE, "stream_sum.Chunk")]));
    let mut backoff = Backoff::default();
    let mapping = loop {
        let result = client.list(selector.clone()).await;
        let reason = match result {
            Ok(list) if !list.is_empty() => {
                if let Some(missing) = exclude.iter().find(|x| !list.iter().any(|j| &j.spec.name == *x)) {
                    bail!("--exclude-partition {missing} is not a chunk partition");
                }
                let names: Vec<String> = list.into_iter().map(|j| j.spec.name).filter(|n| !exclude.contains(n)).collect();
                if names.is_empty() {
                    bail!("--exclude-partition leaves no chunk partition");
                }
                break ModuloMapping::new(names)?;
            }
            Ok(_) => format!("no journals labelled {MESSAGE_TYPE}=stream_sum.Chunk yet"),
            Err(e) if is_retryable(&e) => e.to_string(),
            Err(e) => return Err(e).context("listing the chunk partitions"),
        };
        let delay = backoff.next_delay();
        tracing::warn!(reason = %reason, retry_in = ?delay, "cannot list the chunk partitions; retrying");
        tokio::time::sleep(delay).await;
    };
    let barrier = append_retrying(client, AppendRequest::new(sums, bytes::Bytes::new()), stop)
        .await
        .with_context(|| format!("writing a barrier to {sums}"))?;
    Ok((mapping, barrier.end))
}
