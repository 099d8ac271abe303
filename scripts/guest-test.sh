#!/usr/bin/env bash
# Cargo runner for the wasm32-wasip2 target (see .cargo/config.toml): runs a guest's
# unit-test binary under wasmtime through `streamsum-guest-test`, which provides
# in-memory host interfaces. Usage (by cargo): guest-test.sh <test.wasm> [args…]
#
# It builds the runner on demand with `cargo run`. Cargo releases its build lock
# before it runs test binaries, so this nested cargo works while `cargo test` is
# running (checked with cargo 1.95). It runs from the workspace root, for the host
# target, with cargo's own binary ($CARGO) so rustup does not count a recursion.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
unset CARGO_BUILD_TARGET
exec "${CARGO:-cargo}" run --quiet --package streamsum-guest-test --bin streamsum-guest-test -- "$@"
