//! The status page in a real headless browser (Debian's chromium, installed by
//! `scripts/setup.sh`): during a chunker run it lists the shards as PRIMARY with their
//! plugin version, and its charts update without a reload. A screenshot is saved in
//! the test's temp directory (and, with `STREAMSUM_SCREENSHOT=path`, copied there).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{chunker, describe, json_u64, Host};

/// Flags for a quiet, offline, throw-away headless chromium.
/// `--disable-dev-shm-usage` keeps its shared memory in /tmp: a container's small
/// /dev/shm is the usual reason a headless chromium hangs while painting a screenshot.
const CHROMIUM_FLAGS: [&str; 10] = [
    "--headless",
    "--disable-dev-shm-usage",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Runs chromium on `url` with a fresh profile under `dir` and `extra` flags, killed
/// after `secs` seconds (exit status 124).
fn chromium(dir: &Path, url: &str, extra: &[&str], secs: u32) -> Output {
    let profile = tempfile::tempdir_in(dir).unwrap();
    // A browser that hangs (a starved machine) fails the test instead of stalling it.
    let mut cmd = Command::new("timeout");
    cmd.arg(secs.to_string())
        .arg("chromium")
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url);
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run chromium ({e}): install it with scripts/setup.sh"),
    }
}

/// The body of `GET path` on `base` (`http://host:port`).
fn get(base: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(base.strip_prefix("http://").unwrap()).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// The value of attribute `attr` in the first tag that contains `marker`.
fn attr<'a>(dom: &'a str, marker: &str, attr: &str) -> Option<&'a str> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let key = format!("{attr}=\"");
    let v = &tag[tag.find(&key)? + key.len()..];
    Some(&v[..v.find('"')?])
}

#[test]
fn the_status_page_shows_the_shards_and_its_charts_update() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("data"), &[]);
    let mut job = KillOnDrop(
        chunker(&host.url, &dir.path().join("cache"))
            .args(["--streams", "100000", "--chunks", "20", "--workers", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Long-poll the status until a chart sample shows committed chunks (a signal, no sleeps).
    let mut seq = 0;
    for polls in 0.. {
        assert!(polls < 60, "no committed chunks after {polls} status polls");
        let status = get(&host.metrics, &format!("/api/status?after={seq}"));
        let history = &status[status.find("\"history\":").unwrap()..];
        seq = history
            .rsplit("\"seq\":")
            .next()
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if json_u64(&status, "messages_total").unwrap_or(0) > 0 && seq >= 2 {
            break;
        }
        assert!(job.0.try_wait().unwrap().is_none(), "the chunker stopped early");
    }

    let out = chromium(dir.path(), &format!("{}/", host.metrics), &["--virtual-time-budget=3000", "--dump-dom"], 120);
    assert!(out.status.success(), "{}", describe(&out));
    let dom = String::from_utf8_lossy(&out.stdout);
    for p in 0..8 {
        let row = format!(
            "<tr data-shard=\"chunks-part-00{p}\"><td>chunks-part-00{p}</td><td class=\"PRIMARY\">PRIMARY</td>"
        );
        assert!(dom.contains(&row), "shard row {p} missing:\n{dom}");
    }
    let updates: u32 = attr(&dom, "id=\"rate-chart\"", "data-updates").and_then(|v| v.parse().ok()).unwrap();
    let samples: u32 = attr(&dom, "id=\"rate-chart\"", "data-samples").and_then(|v| v.parse().ok()).unwrap();
    let max: f64 = attr(&dom, "id=\"rate-chart\"", "data-max").and_then(|v| v.parse().ok()).unwrap();
    assert!(updates >= 2, "the chart was drawn {updates} time(s): it must update without a reload\n{dom}");
    assert!(samples >= 2 && max > 0.0, "samples {samples}, max {max} chunks/s:\n{dom}");
    let points = dom.split("stroke=\"#2b6cb0\" stroke-width=\"2\" points=\"").nth(1).unwrap();
    let points = points[..points.find('"').unwrap()].split_whitespace().count();
    assert!(points >= 2, "the rate chart has {points} point(s):\n{dom}");

    // The charts were seen moving; the screenshot needs no more load on the machine (with
    // the chunker still running, a starved headless chromium has outlived its timeout).
    drop(job);
    let shot = dir.path().join("status-page.png");
    let arg = format!("--screenshot={}", shot.display());
    // The page's content was asserted above; the picture is for people. A paint that
    // hangs (CI once saw one outlive 120 s while a DOM dump of the same page had just
    // worked) gets one fresh browser, within the same 120 s in all; both outputs are shown.
    let mut tries = Vec::new();
    let out = loop {
        let out = chromium(
            dir.path(),
            &format!("{}/", host.metrics),
            &["--virtual-time-budget=3000", "--window-size=1280,1000", &arg],
            60,
        );
        tries.push(describe(&out));
        if out.status.code() != Some(124) || tries.len() == 2 {
            break out;
        }
    };
    assert!(out.status.success(), "{}", tries.join("\n--- retried:\n"));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{} bytes", png.len());
    if let Some(to) = std::env::var_os("STREAMSUM_SCREENSHOT") {
        std::fs::copy(&shot, to).unwrap();
    }

    host.stop();
}

/// The endless chunker job, killed when the test ends (or fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
