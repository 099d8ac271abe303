//! A guest's stdout goes to the host log, tagged with the shard and plugin version:
//! a hand-written component that writes a line through `wasi:cli/stdout` and
//! `wasi:io/streams` from its `consume`, run under the real linker.

mod runtime_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use runtime_support::shard;
use streamsum_host::runtime::{ComponentCache, Limits, MessageBatch, PluginEngine, SummerInstance, SummerPlugin};

/// A summer whose `consume` writes "hello from the guest\n" to stdout.
const STDOUT_GUEST: &str = r#"
(component
  (type $types_t (instance
    (type (record (field "begin" u64) (field "end" u64)))
    (export "envelope" (type (eq 0)))
    (type (list 1))
    (type (list u8))
    (type (record (field "journal" string) (field "envelopes" 2) (field "frames" 3)))
    (export "batch" (type (eq 4)))
  ))
  (import "streamsum:plugin/types@0.1.0" (instance $types (type $types_t)))
  (alias export $types "batch" (type $batch))

  (import "wasi:io/error@0.2.0" (instance $ioerr (export "error" (type (sub resource)))))
  (alias export $ioerr "error" (type $error))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (export "output-stream" (type (sub resource)))
    (alias outer 1 $error (type))
    (type (own 1))
    (type (variant (case "last-operation-failed" 2) (case "closed")))
    (export "stream-error" (type (eq 3)))
    (type (borrow 0))
    (type (list u8))
    (type (result (error 4)))
    (type (func (param "self" 5) (param "contents" 6) (result 7)))
    (export "[method]output-stream.blocking-write-and-flush" (func (type 8)))
  ))
  (alias export $streams "output-stream" (type $output_stream))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output_stream (type))
    (type (own 0))
    (type (func (result 1)))
    (export "get-stdout" (func (type 2)))
  ))

  (core module $mem (memory (export "memory") 1))
  (core instance $mem (instantiate $mem))
  (core func $get_stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory (core memory $mem "memory"))))
  (core func $drop_stream (canon resource.drop $output_stream))

  (core module $m
    (import "env" "memory" (memory 1))
    (import "host" "get-stdout" (func $get_stdout (result i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "drop" (func $drop (param i32)))
    (global $bump (mut i32) (i32.const 8192))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
        (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "consume") (param i32 i32 i32 i32 i32 i32) (result i32)
      (local $out i32)
      (local.set $out (call $get_stdout))
      (call $write (local.get $out) (i32.const 4096) (i32.const 21) (i32.const 1536))
      (call $drop (local.get $out))
      ;; A failed write (discriminant 1 at 1536) is reported as the guest's error.
      (if (result i32) (i32.load8_u (i32.const 1536))
        (then (i32.const 2048))
        (else (i32.const 1024))))
    (func (export "finalize-txn") (result i32) (i32.const 1024))
    (data (memory 0) (i32.const 2048) "\01\00\00\00\00\0c\00\00\0c\00\00\00")
    (data (memory 0) (i32.const 3072) "write failed")
    (data (memory 0) (i32.const 4096) "hello from the guest\n")
  )
  (core instance $i (instantiate $m
    (with "env" (instance $mem))
    (with "host" (instance
      (export "get-stdout" (func $get_stdout))
      (export "write" (func $write))
      (export "drop" (func $drop_stream))))))
  (type $consume_t (func (param "batch" $batch) (result (result (error string)))))
  (type $fin_t (func (result (result (error string)))))
  (func $consume (type $consume_t)
    (canon lift (core func $i "consume") (memory (core memory $mem "memory")) (realloc (core func $i "realloc"))))
  (func $fin (type $fin_t)
    (canon lift (core func $i "finalize-txn") (memory (core memory $mem "memory")) (realloc (core func $i "realloc"))))
  (instance $consumer
    (export "consume" (func $consume))
    (export "finalize-txn" (func $fin)))
  (export "streamsum:plugin/consumer@0.1.0" (instance $consumer))
)"#;

#[test]
fn guest_stdout_lands_in_the_host_log_tagged_with_shard_and_version() {
    let bytes = wat::parse_str(STDOUT_GUEST).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = ComponentCache::new(PluginEngine::new().unwrap(), tmp.path().join("cache"));
    let plugin = SummerPlugin::load_blocking(&cache, &bytes, "stdout.wasm").unwrap();
    let mut summer = SummerInstance::instantiate(&plugin, shard(tmp.path()), Limits::default()).unwrap();

    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time()
        .with_writer(move || Shared(writer.clone()))
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        summer
            .consume(&MessageBatch::new("examples/stream-sum/chunks/part-000"))
            .unwrap();
    });
    let log = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("hello from the guest"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("shard=\"chunks-part-000\""), "{line}");
    assert!(
        line.contains(&format!("plugin=\"{}\"", plugin.version().short())),
        "{line}"
    );
    assert!(line.contains("source=\"stdout\""), "{line}");
}

struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
