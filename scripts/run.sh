#!/usr/bin/env bash
# The main job on the embedded default: builds everything (release), starts
# `streamsum-host --app guest_summer.wasm` (embedded broker + one summer shard per chunk
# partition), runs a chunker job of a few hundred streams against it, prints the
# chunker's report, and stops the host with SIGTERM.
#
#   STREAMS=100 CHUNKS=100 WORKERS=4 scripts/run.sh     # the defaults
#   DATA_DIR=./streamsum-data scripts/run.sh             # keep the data (default: a temp dir)
#   scripts/run.sh --cluster                             # etcd + 3 brokers + 3 shard hosts (run-cluster.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build-guests.sh
echo "== building streamsum-host (release)"
cargo build --release -p streamsum-host

target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/streamsum-host"
if [ "${1:-}" = "--cluster" ]; then
  TARGET="$target" exec bash scripts/run-cluster.sh
fi
data="${DATA_DIR:-$(mktemp -d -t streamsum.XXXXXX)}"
mkdir -p "$data"

"$bin" --app "$target/wasm/guest_summer.wasm" --data-dir "$data" --listen 127.0.0.1:0 \
  >"$data/host.out" 2>"$data/host.log" &
host=$!
trap 'kill -TERM $host 2>/dev/null; wait $host 2>/dev/null || true' EXIT

# The host prints its broker's address once it serves.
url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's/^broker listening on //p' "$data/host.out")
  [ -n "$url" ] && break
  if ! kill -0 $host 2>/dev/null; then
    echo "streamsum-host exited:" >&2; cat "$data/host.log" >&2; exit 1
  fi
  sleep 0.1
done
[ -n "$url" ] || { echo "streamsum-host did not start; see $data/host.log" >&2; exit 1; }
echo "== streamsum-host serving on $url (data and logs in $data)"

STREAMSUM_LOG="${STREAMSUM_LOG:-error}" "$bin" chunker --app "$target/wasm/guest_chunker.wasm" --broker "$url" \
  --streams "${STREAMS:-100}" --chunks "${CHUNKS:-100}" --workers "${WORKERS:-4}"
