#!/usr/bin/env bash
# Installs everything streamsum needs on a fresh Debian machine (idempotent).
#
# - the wasm32-wasip2 Rust target (the guests are wasm32-wasip2 components);
# - Debian's RocksDB 7.8 (librocksdb-dev), linked by the rocksdb crate 0.21 through
#   ROCKSDB_LIB_DIR instead of compiling RocksDB's C++ (which costs ~16 minutes cold);
# - clang/libclang-dev (bindgen for librocksdb-sys), protobuf-compiler (tonic-build);
# - chromium, the headless browser that tests the status page (tests/ops_page.rs);
# - etcd-server (3.4), the coordination store the cluster tests start on free ports;
# - moto (PyPI, in a venv under ~/.cache/streamsum/moto), the S3-compatible server the
#   fragment-store tests start on a free port (tests/cluster_fragments.rs).
set -euo pipefail

need_pkgs=()
for pkg in clang libclang-dev librocksdb-dev protobuf-compiler pkg-config chromium etcd-server python3-venv; do
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

# moto's S3 server, pinned, in its own venv (Debian's Python forbids system-wide pip).
MOTO_VENV="${STREAMSUM_MOTO_VENV:-$HOME/.cache/streamsum/moto}"
MOTO_VERSION=5.2.6
if ! "$MOTO_VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "setup: installing moto $MOTO_VERSION (S3 server for the fragment-store tests) in $MOTO_VENV"
  /usr/bin/python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install -q "moto[server]==$MOTO_VERSION"
fi
