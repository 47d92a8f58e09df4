#!/usr/bin/env bash
# The test command: every test, against real local servers (see scripts/local-servers.sh).
#
# Installs the servers (dynoxide for DynamoDB, into .local/dynoxide; moto for SNS and SQS, into
# .local/venv; once), then runs all test targets. Each test
# binary starts its own private servers on free ports of 127.0.0.1 and they stop with the
# binary, so nothing is left running and parallel runs do not collide.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/local-servers.sh install
# all targets: unit, integration, and the criterion bench run once as a smoke test; with the
# `cli` feature, so that the `presence` binary and the tests that run it are built.
exec cargo test --locked --workspace --all-targets --features iot-presence/cli "$@"
