//! Hot swaps under load (issue 7): while a chunker job of 400 streams runs against the
//! real host, the `--app` file is replaced by 20 distinct builds of the summer, by a
//! file of garbage bytes, by a component of the wrong world and by a summer that traps
//! on its first message. Every good build is taken up by every shard, every bad one
//! is refused or rolled back, and the chunker still verifies every sum exactly once
//! (it fails on a missing, wrong or duplicated sum).

mod support;
mod swap_support;

use std::time::Duration;

use support::*;
use swap_support::*;

/// How long a version may take to reach every shard under load.
const TAKE_UP: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_builds_garbage_wrong_world_and_a_trapping_summer_under_a_chunker_run() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    let base = std::fs::read(wasm("guest_summer.wasm")).unwrap();
    std::fs::write(&app, &base).unwrap();
    let host = Host::start_app(&app, &dir.path().join("host"), "127.0.0.1:0", &["--partitions", "4"]);
    let first = sha256_hex(&base);
    wait_listing(&host.url, TAKE_UP, "the first version", |l| all_on(l, &first)).await;

    // 4 workers × 100 streams × 300 chunks, paced at 3,000 chunks/s: ≥ 40 s, long enough
    // to outlast every swap below however fast the machine is (unpaced it took 7 s).
    let mut job = Job::start_with(&host.url, &dir.path().join("chunker"), 4, 100, 300, &["--rate", "3000"]);

    let mut good = first.clone();
    for n in 1..=20u32 {
        let bytes = variant(&base, n);
        if n % 2 == 0 {
            replace_by_rename(&app, &bytes);
        } else {
            replace_in_place(&app, &bytes);
        }
        good = sha256_hex(&bytes);
        let l = wait_listing(&host.url, TAKE_UP, &format!("build {n}"), |l| all_on(l, &good)).await;
        assert_eq!(l.swaps, u64::from(n), "{l:#?}");
    }
    assert!(job.running(), "the chunker finished before the 20th swap: make the run longer");

    // Garbage bytes through the watched file: refused, remembered, nothing changes.
    let garbage = pseudo_random(100_000, 7);
    replace_in_place(&app, &garbage);
    let out = reload_cli(&host.url, None);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("refused {}", app.display())), "{stderr}");
    assert!(stderr.contains("is not a WebAssembly file"), "{stderr}");
    assert!(stderr.contains(&format!("still running {good}")), "{stderr}");

    // A component of the wrong world (the chunker), by explicit request.
    let out = reload_cli(&host.url, Some(&wasm("guest_chunker.wasm")));
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not implement the `summer` world"), "{stderr}");
    let l = list(&host.url).await;
    assert!(all_on(&l, &good) && l.swaps == 20 && l.rollbacks == 0, "{l:#?}");

    // A summer that traps on its first message: swapped in, then rolled back on all
    // shards by the first shard whose first transaction on it fails.
    let trap = std::fs::read(wasm("trap_summer.wasm")).unwrap();
    replace_by_rename(&app, &trap);
    let l =
        wait_listing(&host.url, TAKE_UP, "the rollback of trap_summer", |l| l.rollbacks == 1 && all_on(l, &good)).await;
    assert_eq!(l.swaps, 21, "{l:#?}");
    let trapped: Vec<_> = l.shards.iter().filter(|s| s.rollbacks > 0).collect();
    assert!(!trapped.is_empty(), "{l:#?}");
    assert!(trapped.iter().all(|s| s.last_error.contains("unreachable")), "{trapped:#?}");
    // The same bytes are not retried.
    let out = reload_cli(&host.url, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("failed before and is not retried"), "{stderr}");
    assert!(job.running(), "the chunker finished before the rollback: make the run longer");

    let report = job.finish();
    assert!(report.contains("chunker report: 4 workers, 400 streams verified, 120400 chunks, "), "{report}");

    // The listing, as the operator sees it, shows the version in use on every shard.
    let out = shards_cli(&host.url, "table");
    assert!(out.status.success(), "{}", describe(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("chunks-part-")).collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows.iter().all(|r| r.contains(" PRIMARY ") && r.contains(&good)), "{table}");
    assert!(table.contains(&format!("current plugin {good}; 21 swaps, 1 rollbacks")), "{table}");
    let out = shards_cli(&host.url, "json");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains(&format!("\"plugin\":\"{good}\"")) && json.contains("\"rollbacks\":1"), "{json}");
    host.stop();
}
