//! Helpers of the hot-swap tests (`tests/swap_*.rs`, issue 7): distinct builds of a
//! plugin, replacing the `--app` file as rebuilds do, the host's control service, and
//! a chunker run in the background.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use streamsum_host::service::control::{pb, ControlClient};

use crate::support::{chunker, host_bin, output};

/// `base` (a component) with a custom section `streamsum-swap-variant` holding `n`
/// appended: the same code, a different SHA-256, still a valid component.
pub fn variant(base: &[u8], n: u32) -> Vec<u8> {
    let name = b"streamsum-swap-variant";
    let payload = n.to_le_bytes();
    let mut out = base.to_vec();
    out.push(0); // custom section id
    leb128(&mut out, (1 + name.len() + payload.len()) as u32);
    leb128(&mut out, name.len() as u32);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Lowercase hex SHA-256 of `bytes` (the plugin version), computed here.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces `app` as a build tool that writes a temporary file and renames it does.
pub fn replace_by_rename(app: &Path, bytes: &[u8]) {
    let tmp = app.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, app).unwrap();
}

/// Rewrites `app` in place (truncate, write, close), as `cp` does.
pub fn replace_in_place(app: &Path, bytes: &[u8]) {
    std::fs::write(app, bytes).unwrap();
}

/// The host's control service.
pub async fn control(url: &str) -> ControlClient<tonic::transport::Channel> {
    ControlClient::connect(url.to_string()).await.expect("connecting to the control service")
}

/// The host's shard listing.
pub async fn list(url: &str) -> pb::ListShardsResponse {
    control(url).await.list_shards(pb::ListShardsRequest {}).await.unwrap().into_inner()
}

/// Polls the listing until `done` holds (there is no push notification of a swap);
/// panics with the last listing after `limit`.
pub async fn wait_listing(
    url: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&pb::ListShardsResponse) -> bool,
) -> pb::ListShardsResponse {
    let start = Instant::now();
    loop {
        let l = list(url).await;
        if done(&l) {
            return l;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}; listing: {l:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether every shard is primary on `version`.
pub fn all_on(l: &pb::ListShardsResponse, version: &str) -> bool {
    l.plugin == version && !l.shards.is_empty() && l.shards.iter().all(|s| s.plugin == version && s.status == "PRIMARY")
}

/// `streamsum-host plugins reload --broker url [--app app]`.
pub fn reload_cli(url: &str, app: Option<&Path>) -> Output {
    let mut cmd = Command::new(host_bin());
    cmd.args(["plugins", "reload", "--broker", url]);
    if let Some(app) = app {
        cmd.arg("--app").arg(app);
    }
    output(&mut cmd)
}

/// `streamsum-host shards list --broker url --format <format>`.
pub fn shards_cli(url: &str, format: &str) -> Output {
    output(Command::new(host_bin()).args(["shards", "list", "--broker", url, "--format", format]))
}

/// A chunker job running in the background; its stderr goes to a file.
pub struct Job {
    /// The process.
    pub child: Child,
    /// Its stderr.
    pub log: PathBuf,
}

impl Job {
    /// Starts `workers` × `streams` streams of `chunks` chunks against `url`.
    pub fn start(url: &str, dir: &Path, workers: u32, streams: u32, chunks: u32) -> Job {
        Job::start_with(url, dir, workers, streams, chunks, &[])
    }

    /// As [`Job::start`], with more chunker flags (e.g. `--rate`, so the job outlasts a
    /// test's steps whatever the machine's speed).
    pub fn start_with(url: &str, dir: &Path, workers: u32, streams: u32, chunks: u32, extra: &[&str]) -> Job {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("chunker.log");
        let mut cmd = chunker(url, &dir.join("cache"));
        cmd.args([
            "--workers",
            &workers.to_string(),
            "--streams",
            &streams.to_string(),
            "--chunks",
            &chunks.to_string(),
        ])
        .args(extra)
        .env("STREAMSUM_LOG", "error")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
        Job { child: cmd.spawn().expect("starting the chunker"), log }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for it; returns its stderr after asserting success.
    pub fn finish(mut self) -> String {
        let status = self.child.wait().unwrap();
        let log = self.log.clone();
        drop(self);
        let stderr = std::fs::read_to_string(&log).unwrap();
        assert!(status.success(), "chunker failed ({status}):\n{stderr}");
        stderr
    }
}

impl Drop for Job {
    /// A test that fails midway leaves no chunker behind.
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
