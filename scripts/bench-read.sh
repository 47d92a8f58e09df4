#!/usr/bin/env bash
# Read-path figures: loads a fleet (default 100k clients) into the local server and times
# `presence list --connected`, `list --disconnected --offline-for 10m` and `summary`.
#
#   scripts/bench-read.sh [--clients N] [--runs N]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

start_local_dynamodb
echo "building presence (release) ..." >&2
cargo build --quiet --release --locked --features cli --bin presence
xtask bench-read --binary target/release/presence --endpoint "$endpoint" \
  --status-table "$status_table" --events-table "$events_table" "$@"
