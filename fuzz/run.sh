#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600) and prints executions and crashes.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Not part of CI.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v account-recovery-fuzz)
cargo +nightly fuzz build -O >/dev/null || exit 1
printf '%-18s %12s %10s %8s\n' target executions exec/s crashes
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  rate=$(( ${runs:-0} / seconds ))
  printf '%-18s %12s %10s %8s\n' "$t" "${runs:-?}" "$rate" "$crashes"
  [ "$crashes" -eq 0 ] || grep -m5 -E 'panicked|ERROR' "$log"
  rm -f "$log"
done
