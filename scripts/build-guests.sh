#!/usr/bin/env bash
# Builds the guest components for wasm32-wasip2 with the `guest-release` profile
# (.cargo/config.toml: optimised, LTO, no debug info, stripped) and copies them to
# $CARGO_TARGET_DIR/wasm/ (target/ when CARGO_TARGET_DIR is unset): guest_summer.wasm
# and guest_chunker.wasm, and the test-only summers of tests/guests/ (trap_summer.wasm,
# bytes_summer.wasm: the hot-swap tests). Prints their sizes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Resolve a relative CARGO_TARGET_DIR against the caller's directory, as cargo would.
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-$root/target}")"
export CARGO_TARGET_DIR="$target_dir"
cd "$root"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "build-guests: the wasm32-wasip2 target is missing; run scripts/setup.sh (or: rustup target add wasm32-wasip2)" >&2
  exit 1
fi

"${CARGO:-cargo}" build --quiet --profile guest-release --target wasm32-wasip2 \
  --package guest-summer --package guest-chunker \
  --package trap-summer --package bytes-summer

mkdir -p "$target_dir/wasm"
for guest in guest_summer guest_chunker trap_summer bytes_summer; do
  cp "$target_dir/wasm32-wasip2/guest-release/$guest.wasm" "$target_dir/wasm/$guest.wasm"
  printf 'build-guests: %s (%s bytes)\n' "$target_dir/wasm/$guest.wasm" "$(stat -c %s "$target_dir/wasm/$guest.wasm")"
done
