//! The real `streamsum-host` binary: `broker` and the `journals` gazctl commands,
//! end to end, including a clean shutdown on SIGTERM and on SIGINT.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use sha1::{Digest, Sha1};

mod support;

/// The host binary of this build (or `$STREAMSUM_HOST_BIN`).
fn host_binary() -> PathBuf {
    support::host_bin()
}

/// A broker process and its URL.
struct Broker {
    child: Child,
    url: String,
}

impl Broker {
    fn start(data_dir: &std::path::Path, partitions: &str) -> Broker {
        let mut child = Command::new(host_binary())
            .args(["broker", "--listen", "127.0.0.1:0", "--partitions", partitions])
            .arg("--data-dir")
            .arg(data_dir)
            .env("STREAMSUM_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("broker listening on ").expect("listening line").to_string();
        Broker { child, url }
    }

    fn journals(&self, args: &[&str], stdin: &[u8]) -> std::process::Output {
        let mut child = Command::new(host_binary())
            .arg("journals")
            .args(args)
            .env("BROKER_ADDRESS", &self.url)
            .env("STREAMSUM_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn signal(mut self, sig: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }
}

fn ok_stdout(out: std::process::Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_broker_binary_serves_the_gazctl_commands_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), "3");

    let listed = ok_stdout(broker.journals(&["list", "--format", "tsv", "--selector", "app.gazette.dev/message-type=stream_sum.Chunk"], b""));
    let names: Vec<&str> = listed.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(names, ["examples/stream-sum/chunks/part-000", "examples/stream-sum/chunks/part-001", "examples/stream-sum/chunks/part-002"]);

    // A 1 MB append from stdin lands atomically; its SHA-1 matches an independent one.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| b"abcdefghij\n"[(i % 11) as usize]).collect();
    let appended = ok_stdout(broker.journals(&["append", "examples/stream-sum/sums"], &big));
    let sha: String = Sha1::digest(&big).iter().map(|b| format!("{b:02x}")).collect();
    assert!(appended.contains(&format!("\"sha1\":\"{sha}\"")), "{appended}");
    assert!(appended.contains("\"begin\":0") && appended.contains("\"end\":1000000"), "{appended}");
    ok_stdout(broker.journals(&["append", "examples/stream-sum/sums"], b"tail\n"));

    let out = broker.journals(&["read", "examples/stream-sum/sums"], b"");
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 1_000_005);
    assert_eq!(&out.stdout[..1_000_000], &big[..]);
    let out = broker.journals(&["read", "examples/stream-sum/sums", "--offset", "1000000"], b"");
    assert_eq!(out.stdout, b"tail\n");

    // Apply a JSON list of specs, then list it with its labels and write head.
    let specs = dir.path().join("specs.json");
    std::fs::write(
        &specs,
        r#"[{"name": "tests/applied", "labels": [{"name": "app.gazette.dev/tag", "value": "cli"}],
            "fragment": {"length": 1048576, "compression_codec": "SNAPPY", "refresh_interval": "30s"}}]"#,
    )
    .unwrap();
    assert!(ok_stdout(broker.journals(&["apply", specs.to_str().unwrap()], b"")).contains("applied 1 change"));
    ok_stdout(broker.journals(&["append", "tests/applied"], b"xyz"));
    let listed = ok_stdout(broker.journals(&["list", "--format", "tsv", "-l", "app.gazette.dev/tag=cli"], b""));
    assert_eq!(listed.trim().split('\t').take(2).collect::<Vec<_>>(), ["tests/applied", "3"], "{listed}");

    // YAML works too, including deletes.
    let yaml = dir.path().join("specs.yaml");
    std::fs::write(
        &yaml,
        "# more journals\n- name: tests/from-yaml\n  labels:\n    - name: app.gazette.dev/tag\n      value: cli\n  fragment:\n    length: 2048\n- name: tests/applied\n  delete: true\n",
    )
    .unwrap();
    assert!(ok_stdout(broker.journals(&["apply", yaml.to_str().unwrap()], b"")).contains("applied 2 change"));
    let listed = ok_stdout(broker.journals(&["list", "--format", "tsv", "-l", "app.gazette.dev/tag=cli"], b""));
    assert_eq!(listed.lines().map(|l| l.split('\t').next().unwrap()).collect::<Vec<_>>(), ["tests/from-yaml"]);
    // gazctl's tree format: children inherit the directory's labels and fragment.
    let tree = dir.path().join("tree.yaml");
    std::fs::write(
        &tree,
        "name: tests/tree/\nlabels:\n  - name: app.gazette.dev/tag\n    value: tree\nfragment:\n  length: 4096\nchildren:\n  - name: tests/tree/part-000\n  - name: tests/tree/part-001\n    fragment: {compression_codec: SNAPPY}\n",
    )
    .unwrap();
    assert!(ok_stdout(broker.journals(&["apply", tree.to_str().unwrap()], b"")).contains("applied 2 change"));
    let listed = ok_stdout(broker.journals(&["list", "--format", "json", "-l", "app.gazette.dev/tag=tree"], b""));
    assert_eq!(listed.matches("\"length\":4096").count(), 2, "both children inherit the fragment length: {listed}");
    assert!(listed.contains("tests/tree/part-000") && listed.contains("tests/tree/part-001"), "{listed}");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "- name: tests/x\n  fragment:\n    length: 12\n").unwrap();
    let out = broker.journals(&["apply", bad.to_str().unwrap()], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fragment length 12"), "{}", String::from_utf8_lossy(&out.stderr));

    // Errors are clear and the exit status non-zero.
    let out = broker.journals(&["read", "no/such/journal"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("journal \"no/such/journal\" not found"));
    let out = broker.journals(&["list", "-l", "a in (b"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unbalanced parentheses"));

    let status = broker.signal("-TERM");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");

    // Everything persisted; SIGINT also shuts down cleanly.
    let broker = Broker::start(dir.path(), "3");
    let out = broker.journals(&["read", "examples/stream-sum/sums", "--offset", "1000000"], b"");
    assert_eq!(out.stdout, b"tail\n");
    let listed = ok_stdout(broker.journals(&["list", "--format", "tsv", "--selector", "prefix=tests/"], b""));
    let names: Vec<&str> = listed.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(names, ["tests/from-yaml", "tests/tree/part-000", "tests/tree/part-001"]);
    let status = broker.signal("-INT");
    assert!(status.success(), "clean exit on SIGINT: {status:?}");
}

#[test]
fn a_blocking_read_in_the_binary_follows_appends() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), "1");
    let reader = Command::new(host_binary())
        .args(["journals", "read", "examples/stream-sum/sums", "--block", "--end-offset", "12"])
        .env("BROKER_ADDRESS", &broker.url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    ok_stdout(broker.journals(&["append", "examples/stream-sum/sums"], b"first\n"));
    ok_stdout(broker.journals(&["append", "examples/stream-sum/sums"], b"second\n"));
    let out = reader.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"first\nsecond");
    assert!(broker.signal("-TERM").success());
}
