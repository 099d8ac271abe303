//! Configuration of the real binary: `--config FILE` (TOML) under the environment and
//! the command line, `print-config` showing each value's source, unknown keys and
//! out-of-range values refused at start with the key's or flag's name and the range.

mod support;

use std::process::{Command, Output};

use support::{describe, host_bin};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(host_bin());
    cmd.args(args).env("STREAMSUM_LOG", "off");
    for var in [
        "STREAMSUM_CONFIG",
        "STREAMSUM_PARTITIONS",
        "STREAMSUM_DATA_DIR",
        "CHUNKER_WORKERS",
        "STREAMSUM_MAX_TXN_DURATION",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

#[test]
fn print_config_shows_file_environment_and_command_line_values_by_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("streamsum.toml");
    let toml = "data-dir = \"/srv/from-file\"\npartitions = 4\nmax_txn_duration = \"3s\"\n[chunker]\nworkers = 2\n";
    std::fs::write(&file, toml).unwrap();
    let out = run(
        &["print-config", "--config", file.to_str().unwrap(), "--max-txn-duration", "2s"],
        &[("STREAMSUM_PARTITIONS", "6")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "data-dir = \"/srv/from-file\"  # config file; env STREAMSUM_DATA_DIR\n",
        "partitions = 6  # environment; env STREAMSUM_PARTITIONS\n",
        "max-txn-duration = \"2s\"  # command line; env STREAMSUM_MAX_TXN_DURATION\n",
        "min-txn-duration = \"0s\"  # default; env STREAMSUM_MIN_TXN_DURATION\n",
        "metrics-listen = \"127.0.0.1:9090\"  # default; env STREAMSUM_METRICS_LISTEN\n",
        "\n[chunker]\n",
        "workers = 2  # config file; env CHUNKER_WORKERS\n",
        "\n[broker]\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    // The printed configuration is itself a valid configuration file.
    let printed = dir.path().join("printed.toml");
    std::fs::write(&printed, &text).unwrap();
    let again = run(&["print-config", "--config", printed.to_str().unwrap()], &[]);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("partitions = 6  # config file;"), "{}", describe(&again));
}

#[test]
fn unknown_keys_and_out_of_range_values_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let bad_key = |toml: &str| {
        std::fs::write(&file, toml).unwrap();
        let out = run(&["--config", file.to_str().unwrap(), "--app", "x.wasm"], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        String::from_utf8(out.stderr).unwrap()
    };
    let err = bad_key("colour = \"blue\"\n");
    assert!(
        err.starts_with(&format!("Error: {}: unknown configuration key `colour` (known: ", file.display())),
        "{err}"
    );
    let err = bad_key("[chunker]\nspeed = 3\n");
    assert!(err.contains("unknown configuration key `chunker.speed` (known: app, broker, streams"), "{err}");

    let cases: [(&[&str], &[(&str, &str)], &str); 4] = [
        (&["--partitions", "0"], &[], "invalid value '0' for '--partitions <PARTITIONS>': must be in 1..=1024, got 0"),
        (
            &[],
            &[("STREAMSUM_PARTITIONS", "5000")],
            "invalid value '5000' for '--partitions <PARTITIONS>': must be in 1..=1024",
        ),
        (
            &["--max-txn-duration", "1h"],
            &[],
            "for '--max-txn-duration <MAX_TXN_DURATION>': must be in 0s..=600s, got 1h",
        ),
        (&["--log-level", "loud"], &[], "invalid value 'loud' for '--log-level <LOG_LEVEL>'"),
    ];
    for (args, env, want) in cases {
        let mut all = vec!["--app", "x.wasm"];
        all.extend_from_slice(args);
        let out = run(&all, env);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(want), "{args:?} {env:?}: {}", describe(&out));
    }
    std::fs::write(&file, "partitions = 0\n").unwrap();
    let out = run(&["--config", file.to_str().unwrap(), "--app", "x.wasm"], &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'--partitions <PARTITIONS>': must be in 1..=1024, got 0"),
        "{}",
        describe(&out)
    );
}
