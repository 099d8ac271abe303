//! `streamsum-guest-test`: runs a guest's wasm32-wasip2 unit-test binary under
//! wasmtime, as the cargo runner of the `wasm32-wasip2` target.
//!
//! `cargo test --target wasm32-wasip2 -p guest-summer` builds the libtest harness as a
//! WASI command component and executes `scripts/guest-test.sh <test.wasm> <args…>`
//! (`.cargo/config.toml`), which runs this binary. It instantiates the component with
//! WASI (stdio, arguments and environment passed through, no filesystem or network)
//! plus in-memory implementations of the host interfaces of `wit/streamsum.wit`
//! (`log`, `store`, `publisher`, `journals`) and of the test-only `testing`
//! interface, calls `wasi:cli/run`, and exits with the test binary's status. So guest
//! unit tests exercise the real component ABI without a wasmtime CLI or a real host.
//!
//! Mirrors what `wasmtime run` does for a command, in the style of wasmtime's
//! `examples/component`: one private bindings module, one file per interface.
//!
//! `--bench-summer` runs [`bench`] instead: a throughput check of a built summer.
//! `--describe` lists a component's imports and exports (to check that a shipped
//! guest imports only what the real host provides, e.g. no `testing`).

mod bench;
mod bindings;
mod host;
mod native_summer;
mod runner;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(wasm) = args.next() else {
        eprintln!("usage: streamsum-guest-test <test-binary.wasm> [test args…]");
        eprintln!("       streamsum-guest-test --bench-summer <guest_summer.wasm> [streams] [chunks]");
        eprintln!("       streamsum-guest-test --describe <component.wasm>");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let result = if wasm == "--bench-summer" {
        bench(&rest)
    } else if wasm == "--describe" {
        describe(&rest)
    } else {
        runner::run(wasm.as_ref(), &rest)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("streamsum-guest-test: {e:#}");
            ExitCode::from(101)
        }
    }
}

/// `--bench-summer <wasm> [streams] [chunks]` (defaults: 10,000 streams × 100 chunks,
/// DESIGN §8's probe).
fn bench(args: &[String]) -> wasmtime::Result<u8> {
    let Some(wasm) = args.first() else { wasmtime::bail!("--bench-summer needs the path of guest_summer.wasm") };
    let number = |i: usize, default: usize| -> wasmtime::Result<usize> {
        args.get(i).map_or(Ok(default), |a| a.parse().map_err(|_| wasmtime::format_err!("{a:?} is not a count")))
    };
    bench::bench_summer(wasm.as_ref(), number(1, 10_000)?, number(2, 100)?)
}

/// `--describe <wasm>`: prints the component's imports and exports, one per line.
fn describe(args: &[String]) -> wasmtime::Result<u8> {
    let Some(wasm) = args.first() else { wasmtime::bail!("--describe needs the path of a component") };
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, wasm)?;
    let ty = component.component_type();
    for (name, _) in ty.imports(&engine) {
        println!("import {name}");
    }
    for (name, _) in ty.exports(&engine) {
        println!("export {name}");
    }
    Ok(0)
}
