//! Helpers shared by the end-to-end tests that drive the real `streamsum-host` binary
//! and the real guest components: where they are, starting a host on 127.0.0.1:0 and
//! learning its address, running a chunker job, and reading journals raw.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::SystemTime;

use futures::StreamExt;
use sha1::{Digest, Sha1};
use streamsum_host::journal::{JournalClient, JournalError, ReadRequest};
use streamsum_host::message::{FrameDecoder, Sequencer};
use streamsum_host::service::GrpcJournalClient;

/// The cargo target directory the test executable was built in
/// (`<target>/<profile>/deps/<test>` → `<target>`).
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("a profile directory has a parent")
        .to_path_buf()
}

/// `<target>/<profile>`, where cargo puts the binaries of this build.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable is in deps/");
    deps.parent().expect("deps/ is in the profile directory").to_path_buf()
}

/// The `streamsum-host` binary next to this test build, or `$STREAMSUM_HOST_BIN` (a
/// copy kept apart, when several checkouts share one target directory).
pub fn host_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("STREAMSUM_HOST_BIN") {
        return bin.into();
    }
    let bin = profile_dir().join("streamsum-host");
    assert!(bin.exists(), "{} is missing: run `cargo build -p streamsum-host` before these tests", bin.display());
    bin
}

/// A guest component (`guest_summer.wasm`, `guest_chunker.wasm`): the newest of
/// `<target>/wasm/` and `<target>/wasm32-wasip2/release/`, or `$STREAMSUM_WASM_DIR/<name>`
/// (worktrees sharing one target directory keep their own guests there).
pub fn wasm(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("STREAMSUM_WASM_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let target = target_dir();
    let candidates = [
        target.join("wasm").join(name),
        target.join("wasm32-wasip2/release").join(name),
    ];
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    candidates
        .iter()
        .filter_map(|p| modified(p).map(|t| (t, p.clone())))
        .max_by_key(|(t, _): &(SystemTime, PathBuf)| *t)
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "{name} not found in {}/wasm or wasm32-wasip2/release: build the guests first",
                target.display()
            )
        })
}

/// A running `streamsum-host --app guest_summer.wasm` (embedded broker + shards).
pub struct Host {
    /// The process.
    child: Child,
    /// `http://127.0.0.1:<port>` of its broker.
    pub url: String,
    /// Its stderr (the log), written to a file.
    pub log: PathBuf,
    /// `http://127.0.0.1:<port>` of its metrics and status page listener.
    pub metrics: String,
}

impl Host {
    /// Starts a host over `data_dir` listening on `listen` (e.g. `127.0.0.1:0`), with
    /// `extra` arguments, and waits until it prints its broker's address.
    pub fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> Host {
        Host::start_app(&wasm("guest_summer.wasm"), data_dir, listen, extra)
    }

    /// As [`Host::start_on`], running the summer plugin at `app`.
    pub fn start_app(app: &Path, data_dir: &Path, listen: &str, extra: &[&str]) -> Host {
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.join(format!("host-{}.log", std::process::id()));
        let mut child = Command::new(host_bin())
            .arg("--app")
            .arg(app)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", listen])
            .args(extra)
            .env("STREAMSUM_METRICS_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("starting streamsum-host");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut metrics = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            if let Some(url) = line.trim_end().strip_prefix("metrics listening on ") {
                metrics = url.trim().to_string();
            }
            if let Some(url) = line.trim_end().strip_prefix("broker listening on ") {
                let url = url.to_string();
                // Keep draining stdout, so that a later line does not hit a closed pipe.
                std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
                return Host { child, url, log, metrics };
            }
            line.clear();
        }
        let status = child.wait().unwrap();
        panic!(
            "streamsum-host exited ({status}) before serving:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Starts a host over `data_dir` on a free port.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Host {
        Host::start_on(data_dir, "127.0.0.1:0", extra)
    }

    /// A gRPC client of its broker.
    pub fn client(&self) -> GrpcJournalClient {
        GrpcJournalClient::new(&self.url).unwrap()
    }

    /// Its process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with SIGTERM and waits for it to exit.
    pub fn stop(mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            terminate(&mut self.child);
        }
    }
}

/// SIGTERM, then waits.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// A `streamsum-host chunker` command against `url` with the chunker guest, caching
/// compiled plugins in `cache`; add the job's arguments.
pub fn chunker(url: &str, cache: &Path) -> Command {
    chunker_with(&wasm("guest_chunker.wasm"), url, cache)
}

/// As [`chunker`], with the plugin `app`.
pub fn chunker_with(app: &Path, url: &str, cache: &Path) -> Command {
    let mut cmd = Command::new(host_bin());
    cmd.arg("chunker")
        .arg("--app")
        .arg(app)
        .args(["--broker", url])
        .arg("--cache-dir")
        .arg(cache)
        .env("STREAMSUM_LOG", "warn")
        // An error is then one line, without anyhow's backtrace after it.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    cmd
}

/// Runs a command to completion, capturing its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("running streamsum-host")
}

/// Stdout and stderr of `out`, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// All committed bytes of `journal` (non-blocking read from 0 to the head).
pub async fn read_all(client: &impl JournalClient, journal: &str) -> Vec<u8> {
    let mut stream = client.read(ReadRequest {
        journal: journal.into(),
        offset: 0,
        block: false,
        end_offset: 0,
    });
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.extend_from_slice(&chunk.content),
            Err(JournalError::OffsetNotYetAvailable { .. }) => return out,
            Err(e) => panic!("read of {journal}: {e}"),
        }
    }
    out
}

/// Lowercase hex SHA-1 of `bytes`, computed here independently of the host.
pub fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `len` deterministic pseudo-random bytes (xorshift64 from `seed`).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The value of the top-level string field `field` in a JSON line (no escapes).
pub fn json_str<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let key = format!("\"{field}\":\"");
    let start = line.find(&key)? + key.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The value of the top-level number field `field` in a JSON line.
pub fn json_u64(line: &str, field: &str) -> Option<u64> {
    let key = format!("\"{field}\":");
    let start = line.find(&key)? + key.len();
    let digits: String = line[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Read committed: how many Sums each stream (by `ID`) has on the sums journal.
pub async fn sums_per_stream(client: &impl JournalClient) -> HashMap<String, u32> {
    const SUMS: &str = "examples/stream-sum/sums";
    let raw = read_all(client, SUMS).await;
    let journal: Arc<str> = SUMS.into();
    let mut decoder = FrameDecoder::new(journal.clone(), 0);
    decoder.push(&raw);
    let mut sequencer = Sequencer::new([(journal, 0)], [], 0);
    let mut per_stream: HashMap<String, u32> = HashMap::new();
    while let Some(frame) = decoder.next_frame() {
        let Ok(env) = frame else { continue };
        if sequencer.queue_uncommitted(env).unwrap().commits() {
            while let Some(env) = sequencer.step().unwrap() {
                let line = String::from_utf8_lossy(&env.message).to_string();
                *per_stream.entry(json_str(&line, "ID").unwrap().to_string()).or_default() += 1;
            }
        }
    }
    per_stream
}

/// `text` without ANSI escape sequences (`ESC [ … letter`): the host colours its log
/// even into a file.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
