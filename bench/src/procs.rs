//! Real processes: the `streamsum-host` binary as service, broker, shards-only
//! process and chunker job, as a user runs them. Every child is killed when its
//! handle drops, so a failed step leaves nothing running.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

/// The binaries and guests a run uses (copied to a private directory by
/// `scripts/bench.sh`, so that other builds cannot replace them mid-run).
#[derive(Clone, Debug)]
pub struct Bins {
    /// `streamsum-host` (release, with `native-summer`).
    pub host: PathBuf,
    /// Directory of `guest_summer.wasm` and `guest_chunker.wasm`.
    pub wasm: PathBuf,
    /// The `bench_summer` binary, if built.
    pub bench_summer: Option<PathBuf>,
    /// The `swap` bench executable, if built.
    pub swap: Option<PathBuf>,
}

/// A child process killed (SIGKILL) on drop unless already reaped.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Its stderr file.
    pub log: PathBuf,
}

impl Proc {
    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and reap.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    /// Its stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// Spawns `cmd` with stderr to `log`, and reads stdout until `broker listening on URL`.
fn spawn_serving(mut cmd: Command, log: PathBuf, what: &str) -> anyhow::Result<(Proc, String)> {
    let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = cmd.stdout(Stdio::piped()).stderr(file).spawn().with_context(|| format!("starting {what}"))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("{what}: no stdout"))?;
    let mut proc = Proc { child, log };
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("broker listening on ") {
                    break url.trim().to_string();
                }
            }
            _ => {
                proc.kill9();
                bail!("{what} exited before serving: {}", last_lines(&proc.log_text(), 5));
            }
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok((proc, url))
}

/// The main service (`--app guest_summer.wasm`, embedded broker) over `dir`.
pub fn start_service(bins: &Bins, dir: &Path, extra: &[&str]) -> anyhow::Result<(Proc, String)> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Command::new(&bins.host);
    cmd.arg("--app")
        .arg(bins.wasm.join("guest_summer.wasm"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(extra)
        .env("STREAMSUM_LOG", "warn");
    spawn_serving(cmd, dir.join("service.log"), "the streamsum-host service")
}

/// `streamsum-host broker` over `dir` with `partitions` chunk partitions.
pub fn start_broker(bins: &Bins, dir: &Path, partitions: usize) -> anyhow::Result<(Proc, String)> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Command::new(&bins.host);
    cmd.args(["broker", "--listen", "127.0.0.1:0", "--partitions", &partitions.to_string()])
        .arg("--data-dir")
        .arg(dir.join("broker"))
        .env("STREAMSUM_LOG", "warn");
    spawn_serving(cmd, dir.join("broker.log"), "streamsum-host broker")
}

/// `streamsum-host broker --etcd` (lease 2 s) with id `id`, its data in `dir`.
pub fn start_cluster_broker(bins: &Bins, dir: &Path, etcd: &str, id: &str) -> anyhow::Result<(Proc, String)> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Command::new(&bins.host);
    cmd.args(["broker", "--listen", "127.0.0.1:0", "--etcd", etcd, "--etcd-lease", "2s", "--id", id])
        .arg("--data-dir")
        .arg(dir.join("broker"))
        .env("STREAMSUM_LOG", "warn");
    spawn_serving(cmd, dir.join("broker.log"), "streamsum-host broker --etcd")
}

/// A shards-only process (`--broker url`) over `dir`; its log at info level.
pub fn start_shards(bins: &Bins, url: &str, dir: &Path, extra: &[&str]) -> anyhow::Result<Proc> {
    std::fs::create_dir_all(dir)?;
    let log = dir.join("shards.log");
    let child = Command::new(&bins.host)
        .arg("--app")
        .arg(bins.wasm.join("guest_summer.wasm"))
        .args(["--broker", url, "--metrics-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(extra)
        .env("STREAMSUM_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting a shards process")?;
    Ok(Proc { child, log })
}

/// The chunker job against `url` (`args`: --streams, --chunks, …), in the background.
pub fn spawn_chunker(bins: &Bins, url: &str, dir: &Path, args: &[String]) -> anyhow::Result<Proc> {
    std::fs::create_dir_all(dir)?;
    let log = dir.join("chunker.log");
    let child = Command::new(&bins.host)
        .arg("chunker")
        .arg("--app")
        .arg(bins.wasm.join("guest_chunker.wasm"))
        .args(["--broker", url])
        .arg("--cache-dir")
        .arg(dir.join("chunker-cache"))
        .args(args)
        .env("STREAMSUM_LOG", "error")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting the chunker")?;
    Ok(Proc { child, log })
}

/// What one chunker job reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobFigures {
    /// Chunks published per second over the job.
    pub chunks_per_sec: f64,
    /// Data MiB/s.
    pub mib_per_sec: f64,
    /// Latency from a stream's final chunk to its verified sum, p50 and p99.
    pub p50_ms: f64,
    /// p99 of the same.
    pub p99_ms: f64,
}

/// Runs the chunker job to completion (within `limit`) and reads its report.
pub fn run_chunker(bins: &Bins, url: &str, dir: &Path, args: &[String], limit: Duration) -> anyhow::Result<JobFigures> {
    let mut job = spawn_chunker(bins, url, dir, args)?;
    // A watchdog kills the job if it outlives `limit`; the wait itself is the signal.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let pid = job.child.id();
    let watchdog = std::thread::spawn(move || {
        let expired = done_rx.recv_timeout(limit).is_err();
        if expired {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        expired
    });
    let status = job.child.wait()?;
    let _ = done_tx.send(());
    if watchdog.join().unwrap_or(false) {
        bail!("the chunker job ({}) did not finish within {limit:?}: {}", args.join(" "), last_lines(&job.log_text(), 5));
    }
    let text = job.log_text();
    if !status.success() {
        bail!("the chunker job ({}) failed ({status}): {}", args.join(" "), last_lines(&text, 5));
    }
    parse_report(&text).ok_or_else(|| anyhow!("no report in the chunker's output: {}", last_lines(&text, 5)))
}

/// Reads `throughput: X chunks/s, … Z MiB/s` and `… p50 Ams, p99 Bms` from the report.
pub fn parse_report(text: &str) -> Option<JobFigures> {
    let after = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.trim_start().split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?.parse().ok()
    };
    let throughput = text.lines().find(|l| l.starts_with("throughput:"))?;
    let latency = text.lines().find(|l| l.starts_with("latency"))?;
    Some(JobFigures {
        chunks_per_sec: after(throughput, "throughput:")?,
        mib_per_sec: after(throughput, "streams/s,")?,
        p50_ms: after(latency, "p50")?,
        p99_ms: after(latency, "p99")?,
    })
}

/// The last `n` lines of `text`, joined by ` | `.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunker_report_is_parsed() {
        let text = "chunker report: 4 workers, 200 streams verified, 4200 chunks, 128000 data bytes in 0.512s\n\
                    throughput: 8203.1 chunks/s, 390.6 streams/s, 0.238 MiB/s of data\n\
                    latency from final chunk to verified sum: p50 12.500ms, p99 40.250ms, max 41.000ms\n";
        let f = parse_report(text).unwrap();
        assert_eq!(f, JobFigures { chunks_per_sec: 8203.1, mib_per_sec: 0.238, p50_ms: 12.5, p99_ms: 40.25 });
        assert!(parse_report("chunker worker 1: stream x: wrong sum").is_none());
    }
}
