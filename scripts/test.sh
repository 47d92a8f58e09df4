#!/usr/bin/env bash
# The test command: every test, against a real local DynamoDB-compatible server.
#
# Installs the server (moto, into .local/venv, once), then runs all test targets. Each test
# binary starts its own private server on a free port of 127.0.0.1 and it stops with the
# binary, so nothing is left running and parallel runs do not collide.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/local-dynamodb.sh install
# all targets: unit, integration, and the criterion bench run once as a smoke test; with the
# `cli` feature, so that the `presence` binary and the tests that run it are built.
exec cargo test --locked --workspace --all-targets --features iot-presence/cli "$@"
