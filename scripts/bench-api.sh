#!/usr/bin/env bash
# The HTTP API function's figures (docs/figures.md "HTTP API (local emulator)"): GET
# /clients/{id} cold (a fresh handler state) and warm, and pages of 1,000 clients, each with the
# consumed capacity DynamoDB reports. The bench starts its own private dynoxide, as the tests do.
# Sizes: API_CLIENTS (3000), API_COLD (20), API_WARM (500).
#
#   scripts/bench-api.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/local-servers.sh install
# As scripts/bench-fleet.sh: optimised, without the release profile's fat LTO (minutes of build
# on two cores); the figures measure the handler's reads, not link-time inlining.
export CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
exec cargo bench --locked --bench api "$@"
