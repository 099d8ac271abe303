//! Shared helpers of the runtime tests: hand-written summer components in WAT, and a
//! shard context over a temporary RocksDB.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;

use streamsum_host::runtime::ShardContext;
use streamsum_host::store::ShardDb;

/// The sums journal, the one journal test guests may publish to.
pub const SUMS: &str = "examples/stream-sum/sums";

/// A shard context over a fresh database in `dir`.
pub fn shard(dir: &std::path::Path) -> ShardContext {
    ShardContext {
        shard: "chunks-part-000".into(),
        db: ShardDb::open_blocking(&dir.join("db"), false).unwrap(),
        journals: Arc::new(BTreeSet::from([SUMS.to_owned()])),
    }
}

/// Return-area pointers of the core module below: an `ok` result, and an `err` whose
/// string is "guest error".
pub const RET_OK: &str = "(i32.const 1024)";
pub const RET_ERR: &str = "(i32.const 2048)";

/// A component of the `summer` world whose core `consume` and `finalize-txn` bodies are
/// the given WAT instructions (each must leave a return-area pointer: [`RET_OK`] or
/// [`RET_ERR`]). `extra` is added at component level (e.g. an import the host lacks);
/// `export` false leaves the `consumer` export out.
pub fn summer_component(consume: &str, finalize: &str, extra: &str, export: bool) -> Vec<u8> {
    let export = if export {
        r#"(export "streamsum:plugin/consumer@0.1.0" (instance $consumer))"#
    } else {
        ""
    };
    let wat = format!(
        r#"
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
  {extra}
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 8192))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
        (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (if (i32.gt_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536)))
        (then (drop (memory.grow
          (i32.add (i32.shr_u (i32.sub (global.get $bump) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16))
                   (i32.const 1))))))
      (local.get $p))
    (func (export "consume") (param i32 i32 i32 i32 i32 i32) (result i32)
      {consume})
    (func (export "finalize-txn") (result i32)
      {finalize})
    (data (i32.const 2048) "\01\00\00\00\00\0c\00\00\0b\00\00\00")
    (data (i32.const 3072) "guest error")
  )
  (core instance $i (instantiate $m))
  (type $consume_t (func (param "batch" $batch) (result (result (error string)))))
  (type $fin_t (func (result (result (error string)))))
  (func $consume (type $consume_t)
    (canon lift (core func $i "consume") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func $fin (type $fin_t)
    (canon lift (core func $i "finalize-txn") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (instance $consumer
    (export "consume" (func $consume))
    (export "finalize-txn" (func $fin)))
  {export}
)"#
    );
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("bad test WAT: {e}\n{wat}"))
}

/// A well-behaved component: both calls return `ok`.
pub fn ok_component() -> Vec<u8> {
    summer_component(RET_OK, RET_OK, "", true)
}

/// `consume` loops forever.
pub const LOOP_FOREVER: &str = "(loop $l (br $l)) (unreachable)";

/// `consume` grows its memory one page at a time until something stops it.
pub const GROW_FOREVER: &str = "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (unreachable)";
