//! Replication figures (issue 16), on a cluster of real processes: an etcd and four
//! `streamsum-host broker --etcd` processes (lease 2 s) on this machine, so that a
//! replication-3 journal has a spare broker to move to.
//!
//! Each repetition applies two journals, one with `replication: 1` (the baseline) and
//! one with `replication: 3`, and runs 16 concurrent appenders of 200-byte records
//! against each primary in turn, timing every append:
//! - `replicated_appends_per_sec` / `appends_per_sec_r1` and their ratio
//!   `r3_over_r1_throughput`;
//! - `replicated_append_p99_ms` / `append_p99_ms_r1` and their ratio `r3_over_r1_p99`.
//!
//! Then it kills the replication-3 journal's primary with SIGKILL while an appender
//! keeps appending through a surviving broker, and times `kill_to_next_ack_ms`: from
//! the kill to the next acknowledged append, once the lease expired and the allocator
//! gave the journal to the spare broker (filled in by the new primary). Its
//! baseline is `kill_to_route_change_ms`, from the kill to the moment a broker's
//! route no longer names the killed one: the lease's share of the wait.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use streamsum_cluster::testing::EtcdServer;
use streamsum_host::journal::{AppendRequest, JournalClient};
use streamsum_host::service::GrpcJournalClient;

use crate::procs::{last_lines, start_cluster_broker, Proc};
use crate::stats::Figures;
use crate::Settings;

/// Bytes per record.
const RECORD: usize = 200;
/// Concurrent appenders per journal.
const APPENDERS: usize = 16;
/// Longest wait for a route.
const LIMIT: Duration = Duration::from_secs(60);

/// The names this step produces.
pub const NAMES: &str = "replicated_appends_per_sec, appends_per_sec_r1, r3_over_r1_throughput, replicated_append_p99_ms, append_p99_ms_r1, r3_over_r1_p99, kill_to_next_ack_ms, kill_to_route_change_ms";

/// Declares the figures.
pub fn declare(f: &mut Figures) {
    f.declare("replicated_appends_per_sec", "appends/s", "16 appenders of 200 B to the primary of a replication-3 journal (4 brokers)", Some("appends_per_sec_r1"), None);
    f.declare("appends_per_sec_r1", "appends/s", "the same appenders to a replication-1 journal of the same cluster", None, None);
    f.declare("r3_over_r1_throughput", "ratio", "replicated_appends_per_sec / appends_per_sec_r1 of the same repetition", None, None);
    f.declare("replicated_append_p99_ms", "ms", "p99 append latency, replication 3", Some("append_p99_ms_r1"), None);
    f.declare("append_p99_ms_r1", "ms", "p99 append latency, replication 1", None, None);
    f.declare("r3_over_r1_p99", "ratio", "replicated_append_p99_ms / append_p99_ms_r1 of the same repetition", None, None);
    f.declare("kill_to_next_ack_ms", "ms", "kill -9 of a replication-3 primary -> next acknowledged append (lease 2s, spare broker)", Some("kill_to_route_change_ms"), None);
    f.declare("kill_to_route_change_ms", "ms", "kill -9 -> a broker's route no longer names the killed one (the lease)", None, None);
}

/// `journals list --format json` on `broker`: journal → route text.
fn routes(host: &Path, broker: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = Command::new(host).args(["journals", "list", "--format", "json", "--broker", broker]).output()?;
    if !out.status.success() {
        bail!("journals list: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok((v["name"].as_str().unwrap_or_default().to_string(), v["route"].as_str().unwrap_or_default().to_string()))
        })
        .collect()
}

/// Members of a route text (`local#id:STATUS,...`), primary first.
fn members(route: &str) -> Vec<String> {
    let mut m: Vec<(bool, String)> = route
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| (!m.ends_with(":PRIMARY"), m.split(':').next().unwrap_or("").trim_start_matches("local#").to_string()))
        .collect();
    m.sort();
    m.into_iter().map(|(_, id)| id).collect()
}

/// Waits until `journal`'s route on `broker` has `n` members with a primary, none in
/// `without`; returns them, primary first.
fn route_of(host: &Path, broker: &str, journal: &str, n: usize, without: &[&str]) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let found = routes(host, broker)?.into_iter().find(|(j, _)| j == journal).map(|(_, r)| r).unwrap_or_default();
        let m = members(&found);
        if m.len() == n && found.contains(":PRIMARY") && !m.iter().any(|x| without.contains(&x.as_str())) {
            return Ok(m);
        }
        if Instant::now() > deadline {
            bail!("{journal}: route {found:?} after {LIMIT:?}, wanted {n} members without {without:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn record(i: usize) -> bytes::Bytes {
    let mut rec = format!("appender-{i:03} ").into_bytes();
    rec.resize(RECORD - 1, b'.');
    rec.push(b'\n');
    rec.into()
}

/// `APPENDERS` appenders to `journal` at `url` for `secs`: (appends/s, p99 ms).
async fn appends(url: &str, journal: &str, secs: f64) -> anyhow::Result<(f64, f64)> {
    let client = GrpcJournalClient::new(url).map_err(|e| anyhow!("{e}"))?;
    // One append first: the pipeline is built outside the measurement.
    client.append(AppendRequest::new(journal, record(0))).await.map_err(|e| anyhow!("{journal}: {e}"))?;
    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|i| {
            let (client, journal) = (client.clone(), journal.to_string());
            tokio::spawn(async move {
                let rec = record(i);
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    client.append(AppendRequest::new(journal.clone(), rec.clone())).await.map_err(|e| anyhow!("{journal}: {e}"))?;
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                Ok::<Vec<f64>, anyhow::Error>(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = began.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let p99 = all.get(((all.len() as f64 * 0.99) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(f64::NAN);
    Ok((all.len() as f64 / elapsed, p99))
}

/// Acknowledged appends: when each was sent and when it was acknowledged.
type Acks = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// Appends through `url` until `stop`, recording each acknowledged one.
async fn steady(url: String, journal: String, acks: Acks, stop: tokio::sync::watch::Receiver<bool>) {
    let Ok(client) = GrpcJournalClient::new(&url) else { return };
    while !*stop.borrow() {
        let sent = Instant::now();
        match client.append(AppendRequest::new(journal.clone(), record(999))).await {
            Ok(_) => acks.lock().unwrap_or_else(|p| p.into_inner()).push((sent, Instant::now())),
            // A client's retry backoff while the journal has no primary.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// One repetition on a fresh cluster.
pub fn rep(s: &Settings, f: &mut Figures, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let secs = if s.quick { 1.0 } else { 2.0 };
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let etcd = rt.block_on(EtcdServer::start()).map_err(|e| anyhow!("starting etcd: {e}"))?;
    let mut brokers: Vec<(String, Proc, String)> = Vec::new();
    for id in ["b1", "b2", "b3", "b4"] {
        let (proc, url) = start_cluster_broker(&s.bins, &dir.path().join(id), &etcd.endpoint(), id)?;
        brokers.push((id.to_string(), proc, url));
    }
    let spec = dir.path().join("journals.yaml");
    std::fs::write(
        &spec,
        "name: bench/\nlabels:\n- {name: content-type, value: application/octet-stream}\nchildren:\n- name: bench/r1\n  replication: 1\n- name: bench/r3\n  replication: 3\n",
    )?;
    let out = Command::new(&s.bins.host).args(["journals", "apply", "--broker", &brokers[0].2]).arg(&spec).output()?;
    if !out.status.success() {
        bail!("journals apply: {}", String::from_utf8_lossy(&out.stderr));
    }
    let url_of = |brokers: &[(String, Proc, String)], id: &str| brokers.iter().find(|b| b.0 == id).map(|b| b.2.clone()).context("no such broker");
    let r1 = route_of(&s.bins.host, &brokers[0].2, "bench/r1", 1, &[])?;
    let r3 = route_of(&s.bins.host, &brokers[0].2, "bench/r3", 3, &[])?;
    let (r1_rate, r1_p99) = rt.block_on(appends(&url_of(&brokers, &r1[0])?, "bench/r1", secs))?;
    let (r3_rate, r3_p99) = rt.block_on(appends(&url_of(&brokers, &r3[0])?, "bench/r3", secs))?;
    eprintln!("  replication: R=1 {r1_rate:.0} appends/s p99 {r1_p99:.2} ms | R=3 {r3_rate:.0} appends/s p99 {r3_p99:.2} ms");
    f.push("appends_per_sec_r1", r1_rate);
    f.push("replicated_appends_per_sec", r3_rate);
    f.push("r3_over_r1_throughput", r3_rate / r1_rate);
    f.push("append_p99_ms_r1", r1_p99);
    f.push("replicated_append_p99_ms", r3_p99);
    f.push("r3_over_r1_p99", r3_p99 / r1_p99);

    // The kill: the fourth broker is the spare the allocator gives the journal to.
    let r3 = route_of(&s.bins.host, &brokers[0].2, "bench/r3", 3, &[])?;
    let victim = r3[0].clone();
    let survivor = url_of(&brokers, &r3[1])?;
    let acks: Acks = Arc::default();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = rt.spawn(steady(survivor.clone(), "bench/r3".into(), acks.clone(), stop_rx));
    let warm = Instant::now();
    while acks.lock().unwrap_or_else(|p| p.into_inner()).len() < 50 {
        if warm.elapsed() > LIMIT {
            bail!("no steady appends before the kill");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let idx = brokers.iter().position(|b| b.0 == victim).context("victim")?;
    brokers[idx].1.kill9();
    let killed = Instant::now();
    route_of(&s.bins.host, &survivor, "bench/r3", 3, &[&victim])?;
    let route_changed = killed.elapsed();
    // The first acknowledgement of an append sent after the kill: one the killed
    // primary acknowledged as it died must not count.
    let next = loop {
        if let Some((_, acked)) = acks.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(sent, _)| *sent > killed) {
            break *acked;
        }
        if killed.elapsed() > LIMIT {
            let logs: String = brokers.iter().map(|(id, p, _)| format!("\n--- {id}: {}", last_lines(&p.log_text(), 5))).collect();
            bail!("no append sent after the kill was acknowledged within {LIMIT:?}{logs}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    stop.send_replace(true);
    rt.block_on(task)?;
    let kill_to_ack = next.duration_since(killed).as_secs_f64() * 1e3;
    eprintln!("  replication: kill -9 of primary {victim}: route changed after {:.0} ms, next ack after {kill_to_ack:.0} ms", route_changed.as_secs_f64() * 1e3);
    f.push("kill_to_next_ack_ms", kill_to_ack);
    f.push("kill_to_route_change_ms", route_changed.as_secs_f64() * 1e3);
    Ok(())
}
