//! `hostile_summer.wasm`: a `summer`-world component that misbehaves when a message
//! asks it to, for the host's hostile-guest tests (issue 8, DESIGN §9).
//!
//! Any message without a `"hostile"` field is benign: the guest counts it in the store
//! (key `count`, an ASCII decimal), so the shard commits state that a test can check is
//! unchanged after a failure. When a transaction counted messages, its `finalize-txn`
//! also publishes `{"committed_count":N}` back to the source journal (ignored when
//! read again): the test's signal that the count is about to commit. A message `{"hostile":"<act>","size":N}` makes the guest:
//!
//! - `loop-consume`: spin forever in `consume`;
//! - `loop-finalize`: spin forever in the transaction's `finalize-txn`;
//! - `grow-memory`: grow its linear memory a page at a time without end;
//! - `recurse`: recurse without end (stack overflow);
//! - `unreachable`: execute `unreachable`;
//! - `big-message`: publish one message of `N` bytes to the sums journal;
//! - `publish-forever`: publish small messages without end;
//! - `big-key` / `big-value`: store a key / a value of `N` bytes;
//! - `stdout-forever`: print lines to stdout without end.
//!
//! Built with feature `open-file` or `open-socket`, the component also imports
//! `wasi:filesystem` or `wasi:sockets`, which the host does not provide: loading it
//! must fail, naming the import. No Gazette counterpart.
//!
//! Only the wasm32 build has content: `cargo test --workspace` on the host target
//! builds this crate as an empty library.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "summer", path: "../../../wit" });

use std::cell::Cell;
use std::hint::black_box;

use exports::streamsum::plugin::consumer::Guest;
use streamsum::plugin::types::Batch;
use streamsum::plugin::{publisher, store};

/// Where the guest publishes (it must exist on the host).
const SUMS: &str = "examples/stream-sum/sums";

thread_local! {
    /// Set by a `loop-finalize` message: the transaction's `finalize-txn` spins.
    static LOOP_FINALIZE: Cell<bool> = const { Cell::new(false) };
    /// Benign messages seen in the current transaction.
    static PENDING: Cell<u64> = const { Cell::new(0) };
    /// The source journal, where the commit marker goes.
    static SOURCE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

struct Component;

impl Guest for Component {
    fn consume(batch: Batch) -> Result<(), String> {
        SOURCE.with(|s| s.replace(batch.journal.clone()));
        let mut at = 0usize;
        for env in &batch.envelopes {
            let len = (env.end - env.begin) as usize;
            let frame = &batch.frames[at..at + len];
            at += len;
            let text = String::from_utf8_lossy(frame);
            if text.contains("\"committed_count\"") {
                continue; // Our own commit marker.
            }
            match field(&text, "\"hostile\":\"") {
                None => PENDING.with(|p| p.set(p.get() + 1)),
                Some(act) => misbehave(act, size(&text)),
            }
        }
        Ok(())
    }

    fn finalize_txn() -> Result<(), String> {
        if LOOP_FINALIZE.with(Cell::get) {
            spin();
        }
        let pending = PENDING.with(|p| p.replace(0));
        if pending > 0 {
            let count = store::get(b"count")
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            store::put(b"count", (count + pending).to_string().as_bytes());
            let marker = format!("{{\"committed_count\":{}}}", count + pending);
            let source = SOURCE.with(|s| s.borrow().clone());
            publisher::publish(&source, marker.as_bytes())?;
        }
        Ok(())
    }
}

/// Does what `act` asks.
fn misbehave(act: &str, size: usize) {
    match act {
        "loop-consume" => spin(),
        "loop-finalize" => LOOP_FINALIZE.with(|f| f.set(true)),
        "grow-memory" => loop {
            if core::arch::wasm32::memory_grow(0, 1) == usize::MAX {
                panic!("memory.grow refused without a trap");
            }
        },
        "recurse" => {
            black_box(recurse(black_box(1)));
        }
        "unreachable" => core::arch::wasm32::unreachable(),
        "big-message" => {
            let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(size.saturating_sub(10)));
            let _ = publisher::publish(SUMS, body.as_bytes());
        }
        "publish-forever" => loop {
            let _ = publisher::publish(SUMS, b"{\"spam\":true}");
        },
        "big-key" => store::put(&vec![b'k'; size], b"v"),
        "big-value" => store::put(b"big", &vec![b'v'; size]),
        "stdout-forever" => {
            let mut i = 0u64;
            loop {
                println!("hostile guest line {i}");
                i += 1;
            }
        }
        #[cfg(feature = "open-file")]
        "open-file" => {
            let _ = std::fs::read("/etc/passwd");
        }
        #[cfg(feature = "open-socket")]
        "open-socket" => {
            let _ = std::net::TcpStream::connect("127.0.0.1:1");
        }
        _ => {}
    }
}

/// Spins without end (the host's deadline or fuel must stop it).
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Recurses without end on the wasm call stack (scalars only, so no frame in the
/// linear-memory shadow stack): the engine's stack limit must stop it.
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    black_box(recurse(black_box(n.wrapping_add(1)))).wrapping_add(n)
}

/// The text after `prefix` up to the next `"`.
fn field<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let start = text.find(prefix)? + prefix.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// The number after `"size":`, or 0.
fn size(text: &str) -> usize {
    let Some(start) = text.find("\"size\":").map(|i| i + 7) else {
        return 0;
    };
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

export!(Component);
