#!/usr/bin/env bash
# Installs everything streamsum needs on a fresh Debian machine (idempotent).
#
# - the wasm32-wasip2 Rust target (the guests are wasm32-wasip2 components);
# - Debian's RocksDB 7.8 (librocksdb-dev), linked by the rocksdb crate 0.21 through
#   ROCKSDB_LIB_DIR instead of compiling RocksDB's C++ (which costs ~16 minutes cold);
# - clang/libclang-dev (bindgen for librocksdb-sys), protobuf-compiler (tonic-build);
# - chromium, the headless browser that tests the status page (tests/ops_page.rs);
# - etcd-server (3.4), the coordination store the cluster tests start on free ports.
set -euo pipefail

need_pkgs=()
for pkg in clang libclang-dev librocksdb-dev protobuf-compiler pkg-config chromium etcd-server; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "setup: adding Rust target wasm32-wasip2"
  rustup target add wasm32-wasip2
fi
