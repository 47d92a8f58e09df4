#!/usr/bin/env bash
# Figures for the README (`cargo xtask bench --help` / xtask/src/bench.rs say what each one is):
#   cold start, RSS, peak RSS while replaying, the Python + boto3 contrast, arm64 bootstrap size.
# Also: `cargo bench --bench per_event` for the per-event CPU cost.
#
#   scripts/bench.sh [--runs N] [--rounds N]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

start_local_dynamodb
echo "building the release binary (native, for measuring) ..." >&2
cargo build --quiet --release --locked --bin presence-handler
bootstrap=target/lambda/presence-handler/bootstrap
[[ -f "$bootstrap" ]] || echo "no $bootstrap (run: cargo lambda build --release --arm64); its size is left out" >&2

xtask bench --binary target/release/presence-handler --bootstrap "$bootstrap" --python "$python" \
  --endpoint "$endpoint" --status-table "$status_table" --events-table "$events_table" "$@"
