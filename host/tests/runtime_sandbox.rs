//! The sandbox of the runtime, with hand-written components: deadlines, memory and
//! table limits, traps, error results, and plugins refused at load with the reason.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::*;
use streamsum_host::runtime::{
    CallError, ComponentCache, Limits, LoadError, MessageBatch, PluginEngine, SummerInstance, SummerPlugin,
};

fn load(bytes: &[u8]) -> Result<SummerPlugin, LoadError> {
    let tmp = tempfile::tempdir().unwrap();
    let cache = ComponentCache::new(PluginEngine::new().unwrap(), tmp.path().join("plugin-cache"));
    SummerPlugin::load_blocking(&cache, bytes, "test.wasm")
}

fn instance(bytes: &[u8], limits: Limits) -> (SummerInstance, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let plugin = load(bytes).unwrap();
    let instance = SummerInstance::instantiate(&plugin, shard(tmp.path()), limits).unwrap();
    (instance, tmp)
}

fn one_message_batch() -> MessageBatch {
    let mut batch = MessageBatch::new("examples/stream-sum/chunks/part-000");
    batch.push(0, b"{\"SeqNo\":1}\n");
    batch
}

#[test]
fn a_well_behaved_guest_runs_transaction_after_transaction() {
    let (mut summer, _tmp) = instance(&ok_component(), Limits::default());
    for _ in 0..3 {
        summer.consume(&one_message_batch()).unwrap();
        summer.consume(&MessageBatch::new("empty")).unwrap();
        let out = summer.finalize_txn().unwrap();
        assert!(out.writes.is_empty() && out.published.is_empty());
    }
    assert!(!summer.is_failed());
}

#[test]
fn a_runaway_consume_is_stopped_at_its_deadline_and_the_instance_is_unusable() {
    let limits = Limits {
        call_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (mut summer, _tmp) = instance(&summer_component(LOOP_FOREVER, RET_OK, "", true), limits);
    let started = Instant::now();
    let err = summer.consume(&one_message_batch()).unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, CallError::Deadline { call: "consume", .. }), "{err}");
    assert!(elapsed >= Duration::from_millis(200), "stopped too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "stopped too late: {elapsed:?}");
    assert!(err.to_string().contains("deadline of 200ms"), "{err}");

    assert!(summer.is_failed());
    let again = summer.finalize_txn().unwrap_err();
    assert!(matches!(again, CallError::Unusable(_)), "{again}");
}

#[test]
fn a_runaway_finalize_is_stopped_at_its_deadline() {
    let limits = Limits {
        call_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let (mut summer, _tmp) = instance(&summer_component(RET_OK, LOOP_FOREVER, "", true), limits);
    summer.consume(&one_message_batch()).unwrap();
    let err = summer.finalize_txn().unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Deadline {
                call: "finalize-txn",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn memory_growth_past_the_limit_traps_naming_the_limit() {
    let limits = Limits {
        memory_bytes: 1 << 20,
        ..Limits::default()
    };
    let (mut summer, _tmp) = instance(&summer_component(GROW_FOREVER, RET_OK, "", true), limits);
    let err = summer.consume(&one_message_batch()).unwrap_err();
    assert_eq!(err.limit_name(), Some("memory_bytes"), "{err}");
    assert!(
        err.to_string().contains("memory_bytes limit: 1114112 > 1048576"),
        "{err}"
    );
}

#[test]
fn a_table_past_the_limit_is_refused_at_instantiation() {
    // The summer plus a core module declaring a 10-element table, under a 5-element cap.
    let tmp = tempfile::tempdir().unwrap();
    let extra = r#"(core module $t (table 10 funcref)) (core instance (instantiate $t))"#;
    let plugin = load(&summer_component(RET_OK, RET_OK, extra, true)).unwrap();
    let limits = Limits {
        table_elements: 5,
        ..Limits::default()
    };
    let err = SummerInstance::instantiate(&plugin, shard(tmp.path()), limits)
        .err()
        .unwrap();
    assert_eq!(err.limit_name(), Some("table_elements"), "{err}");
}

#[test]
fn too_many_core_instances_are_refused_at_instantiation() {
    let extra = r#"(core module $e) (core instance (instantiate $e)) (core instance (instantiate $e))"#;
    let plugin = load(&summer_component(RET_OK, RET_OK, extra, true)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ok = SummerInstance::instantiate(
        &plugin,
        shard(&tmp.path().join("a")),
        Limits {
            instances: 3,
            ..Limits::default()
        },
    );
    assert!(ok.is_ok(), "three core instances fit a cap of three");
    let err = SummerInstance::instantiate(
        &plugin,
        shard(&tmp.path().join("b")),
        Limits {
            instances: 2,
            ..Limits::default()
        },
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            err,
            CallError::Trap {
                call: "instantiate",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("instance"), "{err}");
}

#[test]
fn a_trap_is_reported_with_wasmtimes_reason() {
    let (mut summer, _tmp) = instance(&summer_component("(unreachable)", RET_OK, "", true), Limits::default());
    let err = summer.consume(&one_message_batch()).unwrap_err();
    assert!(matches!(err, CallError::Trap { call: "consume", .. }), "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(summer.is_failed());
}

#[test]
fn an_error_result_is_reported_with_the_guests_text() {
    let (mut summer, _tmp) = instance(&summer_component(RET_ERR, RET_OK, "", true), Limits::default());
    let err = summer.consume(&one_message_batch()).unwrap_err();
    match &err {
        CallError::Guest { call, text } => assert_eq!((*call, text.as_str()), ("consume", "guest error")),
        other => panic!("expected a guest error, got {other}"),
    }
    assert!(summer.is_failed(), "an error result also ends the instance");
}

#[test]
fn plugins_that_are_not_summers_are_refused_naming_what_is_wrong() {
    let not_wasm = load(b"#!/bin/sh\necho hi\n").err().unwrap();
    assert!(matches!(not_wasm, LoadError::NotWasm { .. }), "{not_wasm}");
    assert!(
        not_wasm.to_string().contains("test.wasm is not a WebAssembly file"),
        "{not_wasm}"
    );

    let core = load(&wat::parse_str("(module)").unwrap()).err().unwrap();
    assert!(
        core.to_string()
            .contains("is a core WebAssembly module, not a component"),
        "{core}"
    );

    let truncated = ok_component();
    let truncated = load(&truncated[..truncated.len() / 2]).err().unwrap();
    assert!(matches!(truncated, LoadError::Compile { .. }), "{truncated}");

    let fs = load(&summer_component(
        RET_OK,
        RET_OK,
        r#"(import "wasi:filesystem/types@0.2.6" (instance (export "drop-descriptor" (func))))"#,
        true,
    ))
    .err()
    .unwrap();
    assert!(matches!(fs, LoadError::World { .. }), "{fs}");
    assert!(
        fs.to_string().contains("wasi:filesystem/types@0.2.6"),
        "names the import: {fs}"
    );
    println!("{fs}");

    let socket = load(&summer_component(
        RET_OK,
        RET_OK,
        r#"(import "wasi:sockets/tcp@0.2.6" (instance (export "drop-descriptor" (func))))"#,
        true,
    ))
    .err()
    .unwrap();
    assert!(
        socket.to_string().contains("wasi:sockets/tcp@0.2.6"),
        "names the import: {socket}"
    );

    let testing = load(&summer_component(
        RET_OK,
        RET_OK,
        r#"(import "streamsum:plugin/testing@0.1.0" (instance (export "reset" (func))))"#,
        true,
    ))
    .err()
    .unwrap();
    assert!(
        testing.to_string().contains("streamsum:plugin/testing@0.1.0"),
        "{testing}"
    );

    let no_export = load(&summer_component(RET_OK, RET_OK, "", false)).err().unwrap();
    assert!(matches!(no_export, LoadError::World { .. }), "{no_export}");
    assert!(
        no_export.to_string().contains("streamsum:plugin/consumer@0.1.0"),
        "names the export: {no_export}"
    );
}
