//! Instantiates a test component and runs it as a WASI command.

use std::path::Path;

use wasmtime::error::Context;
use wasmtime::Result;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{I32Exit, WasiCtx};

use crate::bindings::{journals, log, publisher, store, testing};
use crate::host::TestHost;

/// Runs the command component at `wasm` with `args` (after the program name) and
/// returns its exit status.
///
/// # Errors
/// The file cannot be read or compiled, or its imports cannot be satisfied (for
/// example a guest importing an interface this runner does not provide).
pub fn run(wasm: &Path, args: &[String]) -> Result<u8> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, wasm)
        .with_context(|| format!("loading {} as a wasm component", wasm.display()))?;

    let mut linker: Linker<TestHost> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    log::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;
    store::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;
    publisher::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;
    journals::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;
    testing::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;

    let program = wasm.file_name().map_or_else(|| "test".into(), |n| n.to_string_lossy().into_owned());
    let wasi = WasiCtx::builder()
        .inherit_stdio()
        .inherit_env()
        .arg(program)
        .args(args)
        .build();
    let mut store = Store::new(&engine, TestHost::new(wasi));
    let command = Command::instantiate(&mut store, &component, &linker)
        .with_context(|| format!("instantiating {} (is it a wasm32-wasip2 test binary?)", wasm.display()))?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(0),
        Ok(Err(())) => Ok(1),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(u8::try_from(exit.0).unwrap_or(1)),
            None => {
                // A panic in a wasm32-wasip2 test aborts (`unreachable`): report it as
                // a failed run, with wasmtime's backtrace.
                eprintln!("streamsum-guest-test: the test binary trapped: {e:?}");
                Ok(101)
            }
        },
    }
}
