#!/usr/bin/env bash
# Fleet-scale figures: time and consumed capacity of the read paths over 100k and 1M status
# items, an alert pass with 10k and 100k clients due, a 16 -> 64 shard migration at 100k, with
# the derived DynamoDB cost and least time (benches/fleet.rs says what each one is). The bench
# starts its own private dynoxide and moto, as the tests do. Sizes: FLEET_SIZES, FLEET_DUE,
# FLEET_MIGRATE (comma-separated counts).
#
#   scripts/bench-fleet.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/local-servers.sh install
# The figures measure the local DynamoDB and the requests, not the client's code generation: the
# bench profile skips the release profile's fat LTO (minutes of build on two cores).
export CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
exec cargo bench --locked --bench fleet "$@"
