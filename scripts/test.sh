#!/usr/bin/env bash
# Runs every streamsum test on this machine, installing what they need first.
#
#   1. scripts/setup.sh: Debian packages (clang, libclang-dev, librocksdb-dev,
#      protobuf-compiler) and the wasm32-wasip2 Rust target;
#   2. the guest components (release, wasm32-wasip2) that the host's tests load;
#   3. the host, model and end-to-end tests (cargo test on the host target; the
#      workspace's default members, i.e. everything but the wasm-only guest crates);
#   4. the guests' own unit tests, compiled to wasm32-wasip2 and run under wasmtime by
#      the project's runner (streamsum-guest-test, see .cargo/config.toml).
#
# Set CARGO_TARGET_DIR to keep builds between runs (the CI script uses ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build-guests.sh

echo "== host, model and end-to-end tests"
# The end-to-end tests run the streamsum-host binary of this build: build it first,
# with the features the tests enable (`--tests` brings in the root package's
# dev-dependency on streamsum-host with `crash-points`; a plain `cargo build --bins`
# would leave a binary without the crash points in target/debug).
cargo build --bins --tests
cargo test --no-fail-fast

echo "== guest unit tests under wasmtime"
cargo build -p streamsum-guest-test
cargo test --target wasm32-wasip2 -p guest-summer -p guest-chunker
