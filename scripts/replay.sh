#!/usr/bin/env bash
# The local run: replays lifecycle events through the real function into a local DynamoDB.
#
#   scripts/replay.sh [FILE_OR_FOLDER ...]      (default: events/)
#
# 1. installs (once, into .local/) the local DynamoDB server and cargo-lambda;
# 2. starts the server on a free port of 127.0.0.1 and creates the tables from template.yaml;
# 3. runs the function under `cargo lambda watch` (the Lambda runtime API emulator) on
#    127.0.0.1, and sends every event through the emulator's Invoke API;
# 4. prints the status table and a summary of outcomes;
# 5. stops everything it started, also on Ctrl-C or failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[[ $# -gt 0 ]] || set -- events

scripts/local-dynamodb.sh install
scripts/tools.sh install
export PATH="$(scripts/tools.sh path):$PATH"
python="$root/.local/venv/bin/python"

work="$(mktemp -d "${TMPDIR:-/tmp}/iot-presence-replay.XXXXXX")"
server_pid="" watch_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # cargo lambda watch runs in its own process group (setsid): stop the whole group.
  [[ -n "$watch_pid" ]] && kill -TERM -- "-$watch_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [[ $status -ne 0 ]]; then
    echo "replay failed; logs: $work" >&2
  else
    [[ -n "${KEEP_REPLAY_LOGS:-}" ]] || rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

"$python" scripts/moto_server.py --port 0 --port-file "$work/dynamodb.port" >"$work/dynamodb.log" 2>&1 &
server_pid=$!
wait_for 30 "the local DynamoDB server" test -s "$work/dynamodb.port"
endpoint="http://127.0.0.1:$(cat "$work/dynamodb.port")"
status_table=presence-status events_table=presence-events
"$python" scripts/local_tables.py --endpoint "$endpoint" --status "$status_table" --events "$events_table"
echo "local DynamoDB on $endpoint with tables $status_table, $events_table (from template.yaml)" >&2

echo "building the function ..." >&2
cargo build --quiet --bin presence-handler
invoke_port="$(free_port)"
setsid cargo lambda watch --quiet --ignore-changes --bin presence-handler \
  --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --env-var "STATUS_TABLE_NAME=$status_table,EVENTS_TABLE_NAME=$events_table" \
  --env-var "AWS_ENDPOINT_URL_DYNAMODB=$endpoint,AWS_REGION=us-east-1" \
  --env-var "AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local,AWS_LAMBDA_LOG_FORMAT=JSON" \
  >"$work/function.log" 2>&1 &
watch_pid=$!
wait_for 120 "cargo lambda watch on 127.0.0.1:$invoke_port" \
  "$python" -c "import socket,sys; socket.create_connection(('127.0.0.1', $invoke_port), 1)"
echo "function running under cargo lambda watch on 127.0.0.1:$invoke_port (log: $work/function.log)" >&2

AWS_DEFAULT_REGION=us-east-1 "$python" scripts/replay.py "$@" \
  --invoke-url "http://127.0.0.1:$invoke_port/2015-03-31/functions/presence-handler/invocations" \
  --endpoint "$endpoint" --status-table "$status_table"
