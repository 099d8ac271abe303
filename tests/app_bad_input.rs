//! `streamsum-host --app …` refuses bad input at start with one clear line and a
//! non-zero exit: a missing plugin, a file that is not WebAssembly, a core module, a
//! component of the wrong world, an unusable data directory, a port in use.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use support::{host_bin, wasm};

/// Runs the host with `args`; returns its last stderr line, asserting it failed.
fn refused(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(host_bin()).args(args).env("STREAMSUM_LOG", "off").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "should exit 1; stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    lines[0].to_string()
}

fn app_args<'a>(app: &'a Path, data: &'a Path, listen: &'a str) -> Vec<&'a std::ffi::OsStr> {
    vec!["--app".as_ref(), app.as_os_str(), "--data-dir".as_ref(), data.as_os_str(), "--listen".as_ref(), listen.as_ref()]
}

#[test]
fn a_missing_plugin_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("nope.wasm");
    let line = refused(&app_args(&app, &dir.path().join("data"), "127.0.0.1:0"));
    assert!(line.starts_with("Error: reading plugin ") && line.contains("nope.wasm"), "{line}");
}

#[test]
fn a_file_that_is_not_webassembly_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("garbage.wasm");
    std::fs::write(&app, b"this is not wasm at all").unwrap();
    let line = refused(&app_args(&app, &dir.path().join("data"), "127.0.0.1:0"));
    assert!(line.contains("garbage.wasm") && line.contains("is not a WebAssembly file"), "{line}");
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("core.wasm");
    std::fs::write(&app, b"\0asm\x01\0\0\0").unwrap(); // The smallest valid core module.
    let line = refused(&app_args(&app, &dir.path().join("data"), "127.0.0.1:0"));
    assert!(line.contains("core.wasm") && line.contains("is a core WebAssembly module, not a component"), "{line}");
}

#[test]
fn a_component_of_another_world_is_refused_naming_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let app = wasm("guest_chunker.wasm");
    let line = refused(&app_args(&app, &dir.path().join("data"), "127.0.0.1:0"));
    assert!(line.contains("does not implement the `summer` world"), "{line}");
    // The chunker imports `journals`, which a summer host does not provide.
    assert!(line.contains("streamsum:plugin/journals"), "{line}");
}

#[test]
fn an_unusable_data_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let app = wasm("guest_summer.wasm");
    let line = refused(&app_args(&app, &file.join("data"), "127.0.0.1:0"));
    assert!(line.contains("--data-dir") && line.contains("a-file"), "{line}");
}

#[test]
fn a_port_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let app = wasm("guest_summer.wasm");
    let line = refused(&app_args(&app, &dir.path().join("data"), &addr));
    assert!(line.contains(&format!("binding --listen {addr}")), "{line}");
}
