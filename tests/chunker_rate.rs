//! `streamsum-host chunker --rate`: the job-wide publish rate limit, end to end.

mod support;

use support::*;

/// The job's wall time from its report line (`… data bytes in 2.345s`).
fn report_secs(stderr: &str) -> f64 {
    let line = stderr.lines().find(|l| l.starts_with("chunker report: ")).expect("a report line");
    let secs = line.rsplit(" in ").next().unwrap().trim_end_matches('s');
    secs.parse().unwrap_or_else(|_| panic!("no seconds in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_together_publish_no_faster_than_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("host"), &["--partitions", "4"]);
    // 4 workers × 3 streams × (24 + 1) chunks = 300 chunks at 100/s across the job:
    // the first at 0 s, the last no earlier than 2.99 s (unpaced this takes ~0.1 s).
    let mut cmd = chunker(&host.url, &dir.path().join("cache"));
    cmd.args(["--streams", "3", "--chunks", "24", "--workers", "4", "--rate", "100"]);
    let out = tokio::task::spawn_blocking(move || output(&mut cmd)).await.unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("12 streams verified, 300 chunks"), "{stderr}");
    let secs = report_secs(&stderr);
    let bound = (300.0 - 1.0) / 100.0;
    assert!(secs >= bound, "300 chunks in {secs:.3}s: faster than --rate 100 allows ({bound:.2}s)");
    // And the pace is the rate, not far under it (generous for a loaded machine).
    assert!(secs < bound * 2.0 + 5.0, "300 chunks in {secs:.3}s at --rate 100");
    host.stop();
}

#[test]
fn rate_must_be_a_positive_number_and_the_error_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "-5", "fast", "0.0", "inf"] {
        let mut cmd = chunker("http://127.0.0.1:1", &dir.path().join("cache"));
        cmd.args(["--streams", "1", "--rate", bad]);
        let out = output(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--rate {bad}: {}", describe(&out));
        assert!(stderr.contains("--rate"), "--rate {bad}: {stderr}");
    }
    // The environment variable is checked the same way.
    let mut cmd = chunker("http://127.0.0.1:1", &dir.path().join("cache"));
    cmd.args(["--streams", "1"]).env("CHUNKER_RATE", "0");
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"), "{}", describe(&out));
}
