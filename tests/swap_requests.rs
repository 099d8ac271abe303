//! Reload requests that must change nothing (issue 7), and the SIGHUP trigger.
//!
//! `streamsum-host plugins reload --app X` names a missing file, a directory, a file
//! another process is still writing, or a file of several hundred MiB: each gets a
//! clear refusal naming the file and the reason, exit status 1, and every shard keeps
//! its version. SIGHUP reloads the `--app` file when it was replaced in a way the file
//! watch does not report (a hard link created over it).

mod support;
mod swap_support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use support::*;
use swap_support::*;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reload_requests_are_refused_clearly_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    let base = std::fs::read(wasm("guest_summer.wasm")).unwrap();
    std::fs::write(&app, &base).unwrap();
    let host = Host::start_app(&app, &dir.path().join("host"), "127.0.0.1:0", &["--partitions", "2"]);
    let version = sha256_hex(&base);
    wait_listing(&host.url, LIMIT, "the first version", |l| all_on(l, &version)).await;

    let elsewhere = dir.path().join("requests");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let missing = elsewhere.join("missing.wasm");
    let writing = elsewhere.join("writing.wasm");
    let mut writer = std::fs::File::create(&writing).unwrap();
    writer.write_all(&variant(&base, 1)[..base.len() / 2]).unwrap();
    writer.flush().unwrap();
    let huge = elsewhere.join("huge.wasm");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(300 << 20).unwrap(); // sparse: 300 MiB without writing them

    let cases = [
        (missing.clone(), format!("refused {}: no such file", missing.display())),
        (elsewhere.clone(), format!("refused {}: it is a directory, not a .wasm file", elsewhere.display())),
        (
            writing.clone(),
            format!(
                "refused {}: the file is still being written (process {} has it open for writing)",
                writing.display(),
                std::process::id()
            ),
        ),
        (huge.clone(), format!("refused {}: 314572800 bytes is larger than the 67108864-byte limit", huge.display())),
    ];
    for (path, want) in &cases {
        let out = reload_cli(&host.url, Some(path));
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("Error: ") && stderr.contains(want.as_str()), "want {want:?}:\n{stderr}");
        assert!(stderr.contains(&format!("still running {version}")), "{stderr}");
        let l = list(&host.url).await;
        assert!(all_on(&l, &version) && l.swaps == 0 && l.rollbacks == 0, "{}: {l:#?}", path.display());
        assert!(l.shards.iter().all(|s| s.swaps == 0 && s.last_error.is_empty()), "{l:#?}");
    }

    // Once the writer is done, the same file is accepted.
    writer.write_all(&variant(&base, 1)[base.len() / 2..]).unwrap();
    drop(writer);
    let out = reload_cli(&host.url, Some(&writing));
    assert!(out.status.success(), "{}", describe(&out));
    let new = sha256_hex(&variant(&base, 1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("plugin {new} accepted")), "{stdout}");
    wait_listing(&host.url, LIMIT, "the completed file", |l| all_on(l, &new)).await;
    // Asking again for the version already running changes nothing.
    let out = reload_cli(&host.url, Some(&writing));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("plugin {new} is already running")),
        "{}",
        describe(&out)
    );
    assert_eq!(list(&host.url).await.swaps, 1);
    host.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_app_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    let base = std::fs::read(wasm("guest_summer.wasm")).unwrap();
    std::fs::write(&app, &base).unwrap();
    let host = Host::start_app(&app, &dir.path().join("host"), "127.0.0.1:0", &["--partitions", "2"]);
    wait_listing(&host.url, LIMIT, "the first version", |l| all_on(l, &sha256_hex(&base))).await;

    // Written elsewhere, then hard-linked over the plugin: the directory sees only a
    // deletion and a creation, which the watch ignores (a creation is not a complete
    // write). SIGHUP is how the operator says "reload now".
    let staged = dir.path().join("staged");
    std::fs::create_dir_all(&staged).unwrap();
    let new_bytes = variant(&base, 42);
    std::fs::write(staged.join("v42.wasm"), &new_bytes).unwrap();
    std::fs::remove_file(&app).unwrap();
    std::fs::hard_link(staged.join("v42.wasm"), &app).unwrap();
    let l = list(&host.url).await;
    assert_eq!(l.swaps, 0, "the watch should not have fired: {l:#?}");

    let status = Command::new("kill").args(["-HUP", &host.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let new = sha256_hex(&new_bytes);
    let l = wait_listing(&host.url, LIMIT, "the SIGHUP reload", |l| all_on(l, &new)).await;
    assert_eq!(l.swaps, 1, "{l:#?}");
    assert!(l.shards.iter().all(|s| s.swaps == 1), "{l:#?}");
    host.stop();
}
