#!/usr/bin/env bash
# The local run: replays lifecycle events through the real function into a local DynamoDB.
#
#   scripts/replay.sh [--keep] [FILE_OR_FOLDER ...]      (default: events/)
#
# --keep leaves the local DynamoDB server up after the replay (until Ctrl-C), so the tables
# can be queried, e.g. with the aws CLI commands in the README.
#
# 1. installs (once, into .local/) the local DynamoDB server and cargo-lambda;
# 2. starts the server on a free port of 127.0.0.1 and creates the tables from template.yaml;
# 3. runs the function under `cargo lambda watch` (the Lambda runtime API emulator) on
#    127.0.0.1, and sends every event through the emulator's Invoke API;
# 4. prints the status table and a summary of outcomes;
# 5. stops everything it started, also on Ctrl-C or failure (KEEP_LOGS=1 keeps the logs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
keep=""
if [[ "${1:-}" == "--keep" ]]; then keep=1; shift; fi
[[ $# -gt 0 ]] || set -- events

scripts/tools.sh install
export PATH="$(scripts/tools.sh path):$PATH"
start_local_dynamodb

echo "building the function ..." >&2
cargo build --quiet --bin presence-handler
invoke_port="$(free_port)"
# Its own process group (setsid), so that cleanup stops cargo-lambda and the function alike.
setsid cargo lambda watch --quiet --ignore-changes --bin presence-handler \
  --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --env-var "STATUS_TABLE_NAME=$status_table,EVENTS_TABLE_NAME=$events_table" \
  --env-var "AWS_ENDPOINT_URL_DYNAMODB=$endpoint,AWS_REGION=us-east-1" \
  --env-var "AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local,AWS_LAMBDA_LOG_FORMAT=JSON" \
  >"$work/function.log" 2>&1 &
cleanup_pids+=("-$!")
wait_for 120 "cargo lambda watch on 127.0.0.1:$invoke_port" \
  "$python" -c "import socket; socket.create_connection(('127.0.0.1', $invoke_port), 1)"
echo "function running under cargo lambda watch on 127.0.0.1:$invoke_port (log: $work/function.log)" >&2

AWS_DEFAULT_REGION=us-east-1 "$python" scripts/replay.py "$@" \
  --invoke-url "http://127.0.0.1:$invoke_port/2015-03-31/functions/presence-handler/invocations" \
  --endpoint "$endpoint" --status-table "$status_table"

if [[ -n "$keep" ]]; then
  cat >&2 <<TXT

The local DynamoDB server stays up until Ctrl-C. To query it:
  export AWS_ENDPOINT_URL_DYNAMODB=$endpoint AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
TXT
  wait "${cleanup_pids[0]}"
fi
