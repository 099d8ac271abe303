//! End-to-end benchmark: chunker → journals → summer → sums → verified, with the wasm
//! summer and with the same logic compiled into the host (`--native-summer`), in one
//! run, interleaved.
//!
//! ```sh
//! cargo build --release -p streamsum-host --features native-summer && scripts/build-guests.sh
//! cargo run --release -p streamsum-host --features native-summer --example bench_e2e -- \
//!     [--reps 3] [--streams 100] [--chunks 100] [--workers 4] [--out bench/results/e2e.json]
//! ```
//!
//! Each run starts a fresh `streamsum-host --app guest_summer.wasm` (embedded broker,
//! 8 shards) and a `streamsum-host chunker` against it, and reads the chunker's report
//! (chunks/s, p50/p99 latency from final chunk to verified sum). Figures are medians
//! with min and max over the repetitions.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    chunks_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    let reps: usize = opt("--reps", "3").parse()?;
    let job = [opt("--streams", "100"), opt("--chunks", "100"), opt("--workers", "4")];
    let out = PathBuf::from(opt("--out", "bench/results/e2e.json"));

    let exe = std::env::current_exe()?;
    let profile = exe.parent().and_then(Path::parent).ok_or_else(|| anyhow::anyhow!("no profile dir"))?;
    let bin = profile.join("streamsum-host");
    let wasm = profile.parent().unwrap_or(profile).join("wasm");
    let modes: [(&str, &[&str]); 2] = [("wasm", &[]), ("native", &["--native-summer"])];
    let mut results: Vec<(&str, Vec<Run>)> = modes.iter().map(|(m, _)| (*m, Vec::new())).collect();
    for rep in 0..reps {
        for (i, (mode, extra)) in modes.iter().enumerate() {
            let run = run_once(&bin, &wasm, extra, &job)?;
            eprintln!("rep {rep} {mode}: {:.0} chunks/s, p50 {:.1} ms, p99 {:.1} ms", run.chunks_per_sec, run.p50_ms, run.p99_ms);
            results[i].1.push(run);
        }
    }
    let stat = |runs: &[Run], f: fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        serde_json::json!({"median": v[v.len() / 2], "min": v[0], "max": v[v.len() - 1]})
    };
    let mut json = serde_json::json!({
        "benchmark": "end to end: chunker -> journals -> summer -> sums -> verified",
        "job": {"streams_per_worker": job[0], "chunks": job[1], "workers": job[2], "chunk_bytes": 32},
        "reps": reps,
    });
    for (mode, runs) in &results {
        json[format!("{mode}_chunks_per_sec")] = stat(runs, |r| r.chunks_per_sec);
        json[format!("{mode}_p50_ms")] = stat(runs, |r| r.p50_ms);
        json[format!("{mode}_p99_ms")] = stat(runs, |r| r.p99_ms);
    }
    let median = |mode: &str| json[format!("{mode}_chunks_per_sec")]["median"].as_f64().unwrap_or(0.0);
    json["wasm_over_native"] = serde_json::json!(median("wasm") / median("native").max(1e-9));
    println!("{}", serde_json::to_string_pretty(&json)?);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&json)? + "\n")?;
    Ok(())
}

fn run_once(bin: &Path, wasm: &Path, extra: &[&str], job: &[String; 3]) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let mut host = Command::new(bin)
        .arg("--app")
        .arg(wasm.join("guest_summer.wasm"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(extra)
        .env("STREAMSUM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(host.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).lines();
    let url = loop {
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("host exited before serving"))??;
        if let Some(url) = line.strip_prefix("broker listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let report = Command::new(bin)
        .arg("chunker")
        .arg("--app")
        .arg(wasm.join("guest_chunker.wasm"))
        .args(["--broker", &url, "--streams", &job[0], "--chunks", &job[1], "--workers", &job[2]])
        .arg("--cache-dir")
        .arg(dir.path().join("chunker-cache"))
        .env("STREAMSUM_LOG", "error")
        .output()?;
    let _ = Command::new("kill").arg("-TERM").arg(host.id().to_string()).status();
    let _ = host.wait();
    let text = String::from_utf8_lossy(&report.stderr);
    anyhow::ensure!(report.status.success(), "chunker failed: {text}");
    parse_report(&text).ok_or_else(|| anyhow::anyhow!("no report in: {text}"))
}

/// Reads `throughput: X chunks/s` and `… p50 Yms, p99 Zms` from the chunker's report.
fn parse_report(text: &str) -> Option<Run> {
    let after = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.trim_start().split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?.parse().ok()
    };
    let throughput = text.lines().find(|l| l.starts_with("throughput:"))?;
    let latency = text.lines().find(|l| l.starts_with("latency"))?;
    Some(Run { chunks_per_sec: after(throughput, "throughput:")?, p50_ms: after(latency, "p50")?, p99_ms: after(latency, "p99")? })
}
