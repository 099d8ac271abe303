#!/usr/bin/env bash
# The benchmark suite of issue 9, in one command (not part of scripts/test.sh):
#
#   scripts/bench.sh            # full run: 5 interleaved repetitions (~15 min on 2 cores)
#   scripts/bench.sh --quick    # smoke run: 2 repetitions, small jobs (~4 min)
#   scripts/bench.sh --reps 3 --only e2e,journal
#   (steps: summer, e2e, journal, swap, recovery, takeover, curves; bench/README.md)
#
# Sets up (scripts/setup.sh), builds the guests and a release build of the host
# (with the native summer), the bench crate's suite and bench_summer, the swap bench;
# copies the binaries and guests to a private directory (so that other builds in a
# shared target directory cannot replace them mid-run); runs the suite. It writes
# bench/results/latest.json, latest.md and the SVG plots, puts the table at the end of
# bench/README.md, and prints it.
# Other flags go to the suite (bench/src/main.rs; one file per step in bench/src/steps/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-$root/target}")"
export CARGO_TARGET_DIR="$target_dir"
cd "$root"

"$root/scripts/setup.sh"
"$root/scripts/build-guests.sh" >/dev/null

echo "bench: release build of streamsum-host (native-summer), bench_summer, the swap bench, the suite"
cargo build --quiet --release -p streamsum-host --features native-summer --bin streamsum-host
cargo build --quiet --release -p streamsum-bench --features native-summer --bin bench_suite --bin bench_summer
swap_exe="$(cargo build --release -p streamsum-host --features native-summer --bench swap --message-format=json 2>/dev/null \
  | grep '"kind":\["bench"\]' | grep '"name":"swap"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1 || true)"
if [ -z "$swap_exe" ]; then
  echo "bench: the swap bench did not build; its figures will be reported as failed" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/streamsum-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
bin="$work/bin"
mkdir -p "$bin/wasm" "$work/tmp"
cp "$target_dir/release/streamsum-host" "$target_dir/release/bench_suite" "$target_dir/release/bench_summer" "$bin/"
[ -n "$swap_exe" ] && cp "$swap_exe" "$bin/swap"
cp "$target_dir/wasm/guest_summer.wasm" "$target_dir/wasm/guest_chunker.wasm" "$bin/wasm/"

"$bin/bench_suite" --bin-dir "$bin" --tmp "$work/tmp" --out-dir "$root/bench/results" "$@"
