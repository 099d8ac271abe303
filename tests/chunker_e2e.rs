//! The chunker job end to end: the real `streamsum-host` running the wasm summer, and
//! `streamsum-host chunker` running the wasm chunker against it over gRPC.

mod support;

use std::collections::HashMap;

use support::*;

/// Chunk partitions of the hosts started here (fewer than the default 8: less work
/// for a small machine, same code paths).
const PARTITIONS: &str = "4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_of_fifty_streams_of_twenty_chunks_are_all_verified() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("host"), &["--partitions", PARTITIONS]);
    let mut cmd = chunker(&host.url, &dir.path().join("cache"));
    cmd.args(["--streams", "50", "--chunks", "20", "--workers", "4"]);
    let out = tokio::task::spawn_blocking(move || output(&mut cmd)).await.unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 4 × 50 streams of 20 data chunks of 32 bytes, plus one final chunk each.
    assert!(
        stderr.contains("chunker report: 4 workers, 200 streams verified, 4200 chunks, 128000 data bytes in "),
        "{}",
        describe(&out)
    );
    assert!(
        stderr.contains("latency from final chunk to verified sum: p50 "),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no files, no checksum lines");

    // The summer published exactly one final Sum per stream, each for SeqNo 21, and
    // the chunk partitions hold 4200 chunks of 200 streams, 21 per stream.
    let client = host.client();
    let sums = String::from_utf8(read_all(&client, "examples/stream-sum/sums").await).unwrap();
    let mut per_stream: HashMap<String, u64> = HashMap::new();
    for line in sums.lines().filter(|l| l.contains("\"SHA1\"")) {
        assert_eq!(json_u64(line, "SeqNo"), Some(21), "{line}");
        *per_stream.entry(json_str(line, "ID").unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(per_stream.len(), 200);
    assert!(
        per_stream.values().all(|&n| n == 1),
        "a Sum appears twice: {per_stream:?}"
    );
    let mut chunks: HashMap<String, u64> = HashMap::new();
    for p in 0..4 {
        let bytes = read_all(&client, &format!("examples/stream-sum/chunks/part-{p:03}")).await;
        for line in String::from_utf8(bytes).unwrap().lines() {
            *chunks.entry(json_str(line, "ID").unwrap().to_string()).or_default() += 1;
        }
    }
    assert_eq!(chunks.len(), 200);
    assert!(chunks.values().all(|&n| n == 21));
    assert_eq!(
        chunks.keys().collect::<std::collections::BTreeSet<_>>(),
        per_stream.keys().collect()
    );
    host.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_mode_prints_each_files_sha1_as_sha1sum_does() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("host"), &["--partitions", PARTITIONS]);
    let files_dir = dir.path().join("files");
    std::fs::create_dir_all(&files_dir).unwrap();
    // Empty, one byte, not a multiple of the 4096-byte chunk size, several MiB (also
    // not a multiple), and the same content twice under two names.
    let contents: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one byte", b"x".to_vec()),
        ("odd.bin", pseudo_random(4096 * 3 + 17, 1)),
        ("big.bin", pseudo_random((5 << 20) + 123, 2)),
        ("odd copy.bin", pseudo_random(4096 * 3 + 17, 1)),
    ];
    let mut paths = Vec::new();
    let mut want = String::new();
    for (name, bytes) in &contents {
        let path = files_dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        want.push_str(&format!("{}  {}\n", sha1_hex(bytes), path.display()));
        paths.push(path);
    }
    assert!(
        want.starts_with("da39a3ee5e6b4b0d3255bfef95601890afd80709  "),
        "SHA-1 of nothing"
    );

    for chunk_size in [Some("4096"), None] {
        let mut cmd = chunker(&host.url, &dir.path().join("cache"));
        cmd.args(["--workers", "3"]);
        if let Some(size) = chunk_size {
            cmd.args(["--chunk-size", size]);
        }
        cmd.arg("--files").args(&paths);
        let out = tokio::task::spawn_blocking(move || output(&mut cmd)).await.unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "chunk size {chunk_size:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let bytes: usize = contents.iter().map(|(_, b)| b.len()).sum();
        assert!(stderr.contains("3 workers, 5 streams verified, "), "{stderr}");
        assert!(stderr.contains(&format!(" chunks, {bytes} data bytes in ")), "{stderr}");

        // And `sha1sum -c` accepts the output as it stands.
        let list = dir.path().join("sums.txt");
        std::fs::write(&list, &out.stdout).unwrap();
        let check = std::process::Command::new("sha1sum")
            .arg("-c")
            .arg(&list)
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", describe(&check));
        assert_eq!(String::from_utf8_lossy(&check.stdout).matches(": OK\n").count(), 5);
    }
    host.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sum_later_than_the_sla_fails_the_job_naming_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    // The summer holds every transaction open for 3 s, so no sum can arrive within 1 s.
    let host = Host::start(
        &dir.path().join("host"),
        &[
            "--partitions",
            PARTITIONS,
            "--min-txn-duration",
            "3s",
            "--max-txn-duration",
            "4s",
        ],
    );
    let mut cmd = chunker(&host.url, &dir.path().join("cache"));
    cmd.args(["--streams", "1", "--chunks", "2", "--workers", "1", "--sla", "1s"]);
    let out = tokio::task::spawn_blocking(move || output(&mut cmd)).await.unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("Error: chunker worker 0: timeout waiting for the sum of stream "),
        "{stderr}"
    );
    assert!(last.ends_with("(seq_no 3): none within the SLA of 1s"), "{stderr}");
    host.stop();
}

#[test]
fn bad_arguments_give_one_clear_line_before_contacting_any_broker() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this URL: each case fails before trying it.
    let url = "http://127.0.0.1:9";
    let missing = dir.path().join("missing.bin");
    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, b"hello").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--files".into(), missing.display().to_string()],
            format!("cannot open --files {}", missing.display()),
        ),
        (
            vec!["--files".into(), dir.path().display().to_string()],
            format!("--files {} is not a regular file", dir.path().display()),
        ),
        (
            vec!["--chunk-size".into(), "0".into()],
            "--chunk-size must be between 1 and 524288 bytes (got 0)".into(),
        ),
        (
            vec!["--workers".into(), "0".into()],
            "--workers must be at least 1".into(),
        ),
    ];
    for (args, want) in cases {
        let out = output(chunker(url, &dir.path().join("cache")).args(&args));
        assert!(!out.status.success(), "{args:?}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&want),
            "{args:?}: {}",
            describe(&out)
        );
    }

    let out = output(&mut chunker_with(&not_wasm, url, &dir.path().join("cache")));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a WebAssembly file"),
        "{}",
        describe(&out)
    );

    // The summer is a component, but not a chunker: what does not fit is named (its
    // `store` import, which a chunker host does not provide).
    let out = output(&mut chunker_with(
        &wasm("guest_summer.wasm"),
        url,
        &dir.path().join("cache"),
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not implement the `chunker` world"),
        "{}",
        describe(&out)
    );
    assert!(stderr.contains("streamsum:plugin/store"), "{}", describe(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_bar_is_drawn_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("host"), &["--partitions", PARTITIONS]);
    let cache = dir.path().join("cache");
    // Not a terminal (a pipe): no bar. (The job's size is given by environment
    // variables here, which every flag also reads.)
    let mut cmd = chunker(&host.url, &cache);
    cmd.env("CHUNKER_STREAMS", "2").env("CHUNKER_CHUNKS", "3").env("CHUNKER_WORKERS", "2");
    let out = tokio::task::spawn_blocking(move || output(&mut cmd)).await.unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("\x1b[2K"),
        "{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chunker report: 2 workers, 4 streams verified, 16 chunks"),
        "{}",
        describe(&out)
    );

    // A terminal (script(1) runs the job on a pseudo-terminal): the bar's first frame
    // is drawn at the start, then erased before the report.
    let job = format!(
        "{} chunker --app {} --broker {} --cache-dir {} --streams 2 --chunks 3 --workers 2",
        host_bin().display(),
        wasm("guest_chunker.wasm").display(),
        host.url,
        cache.display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &job, "/dev/null"])
        .env("STREAMSUM_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || output(&mut cmd)).await.unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("\r\x1b[2K["), "{tty:?}");
    assert!(
        tty.contains("/16 chunks "),
        "2 workers x 2 streams x (3 + 1) chunks: {tty:?}"
    );
    assert!(
        tty.contains("chunker report: 2 workers, 4 streams verified, 16 chunks"),
        "{tty:?}"
    );
    host.stop();
}
