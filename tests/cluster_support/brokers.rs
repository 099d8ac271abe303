//! Broker processes of a cluster (`streamsum-host broker --etcd`) and what the tests
//! ask of them: apply journal specs, list routes, wait for a route, and read a
//! journal's bytes straight from a broker's data directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{describe, host_bin, output};

/// A `streamsum-host broker --etcd` process, killed when dropped.
pub struct Broker {
    child: Child,
    pub url: String,
    /// Its id, data directory and log.
    pub id: String,
    pub data_dir: PathBuf,
}

impl Broker {
    /// Starts broker `id` with its data in `dir/<id>` (again, after a kill: the same
    /// data) and its log appended to `dir/<id>.log`.
    pub fn start(etcd: &str, id: &str, dir: &Path) -> Broker {
        Self::start_with(etcd, id, dir, &[])
    }

    /// As [`Broker::start`], with environment variables `env`.
    pub fn start_with(etcd: &str, id: &str, dir: &Path, env: &[(&str, &str)]) -> Broker {
        let mut child = Command::new(host_bin())
            .envs(env.iter().copied())
            .args(["broker", "--etcd", etcd, "--etcd-lease", "2s", "--id", id, "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join(id))
            .env("STREAMSUM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{id}.log"))).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.strip_prefix("broker listening on ").unwrap_or_else(|| panic!("broker {id} printed {line:?}")).trim();
        Broker { url: url.to_string(), child, id: id.to_string(), data_dir: dir.join(id) }
    }

    /// SIGTERM and waits for the exit: a graceful stop (it persists its journals'
    /// last fragments first).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let began = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if began.elapsed() > Duration::from_secs(30) {
                self.kill9();
                panic!("broker {} did not exit within 30 s of SIGTERM", self.id);
            }
            // A child's exit has no async signal in std: poll briefly.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `journals apply FILE` through `broker`.
pub fn apply(dir: &Path, broker: &str, yaml: &str) -> std::process::Output {
    let file = dir.join("journals.yaml");
    std::fs::write(&file, yaml).unwrap();
    output(Command::new(host_bin()).args(["journals", "apply", "--broker", broker]).arg(&file))
}

/// Journal → route text (`zone#id:PRIMARY,...`) as `journals list --format json` on
/// `broker` prints it.
pub fn routes(broker: &str) -> BTreeMap<String, String> {
    let out = output(Command::new(host_bin()).args(["journals", "list", "--format", "json", "--broker", broker]));
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["name"].as_str().unwrap().to_string(), v["route"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Polls `routes(broker)` until `ok` holds, failing with the last listing after 30 s.
pub fn routes_until(broker: &str, what: &str, ok: impl Fn(&BTreeMap<String, String>) -> bool) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = routes(broker);
        if ok(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: still {now:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The bytes of the journal whose directory name starts with `prefix` in a broker's
/// data directory: its fragment files in order.
pub fn local_bytes(data_dir: &Path, prefix: &str) -> Vec<u8> {
    let journals = data_dir.join("journals");
    let dir = std::fs::read_dir(&journals)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no journal {prefix}* in {}", journals.display()));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "raw")).collect();
    files.sort();
    files.iter().flat_map(|f| std::fs::read(f).unwrap()).collect()
}

