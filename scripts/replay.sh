#!/usr/bin/env bash
# The local run: replays lifecycle events through the real function into a local DynamoDB.
#
#   scripts/replay.sh [--keep] [--alerts TIMELINE] [FILE_OR_FOLDER ...]
#
# With no arguments it replays events/*.json and events/scenarios/, then plays the alert
# timeline events/alerts/timeline.jsonl on a simulated clock (`cargo xtask alerts-demo`).
# --keep leaves the local DynamoDB server up after the replay (until Ctrl-C), so the tables
# can be queried, e.g. with the aws CLI commands in the README.
# --alerts TIMELINE plays that timeline after replaying the given files.
#
# 1. installs (once, into .local/) the local servers (scripts/local-servers.sh) and cargo-lambda;
# 2. starts dynoxide (DynamoDB) and, for the alert timeline, moto (SNS and SQS) on free ports
#    of 127.0.0.1, and creates the tables from template.yaml;
# 3. runs the function under `cargo lambda watch` (the Lambda runtime API emulator) on
#    127.0.0.1, and sends every event through the emulator's Invoke API;
# 4. prints the status table and a summary of outcomes, and checks the function's metrics (EMF
#    lines in its log) against those outcomes;
#    then runs every path once more (`cargo xtask capacity`) and prints the consumed capacity
#    of each, as dynoxide reports it, and the cost tables built from those units;
# 5. plays the alert timeline: alert passes (`presence alert-pass --at`) once per simulated
#    minute, alerts read from an SQS queue subscribed to the local SNS topic;
# 6. stops everything it started, also on Ctrl-C or failure (KEEP_LOGS=1 keeps the logs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
keep=""
timeline=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) keep=1; shift ;;
    --alerts) timeline="${2:?--alerts needs a timeline file}"; shift 2 ;;
    *) break ;;
  esac
done
# The alerts a default run must show (kind:client); the timeline's comments say why.
expect=()
if [[ $# -eq 0 ]]; then
  set -- events/*.json events/scenarios
  timeline=events/alerts/timeline.jsonl
  # meter-00..59 drop within 30 s: one storm notice, their single notices held, one recovery
  # notice when 58 are back, and single offline notices for the two still away 5 minutes on.
  expect=(offline:pump-07 offline:sensor-31 back-online:sensor-31 flapping:twin-04
    'storm:*' 'recovery:*' offline:meter-58 offline:meter-59)
fi

scripts/tools.sh install lambda
export PATH="$(scripts/tools.sh path):$PATH"
start_local_dynamodb
start_local_messaging

echo "building the function ..." >&2
# The CLI with the test command's feature set, so a build after the tests reuses theirs; the
# function as `cargo lambda watch` below builds it, so that its first invocation does not wait.
cargo build --quiet --features cli --bin presence
cargo build --quiet --features cli,simulated-clock --bin presence-handler
# Where cargo put it: target/debug, or target/TRIPLE/debug when CARGO_BUILD_TARGET is set (CI).
presence_bin="$root/target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}debug/presence"
invoke_port="$(free_port)"
# Its own process group (setsid), so that cleanup stops cargo-lambda and the function alike.
# The simulated-clock feature: the alert timeline runs on a simulated clock up to ~35 minutes
# ahead of the host's, and its events must be received on that clock (the rule bounds a
# timestamp by its receipt), so the function reads its receipt time from $clock_file while the
# timeline plays, and the host's clock when the file is absent. Every setting is the default.
clock_file="$work/simulated-clock"
setsid cargo lambda watch --quiet --ignore-changes --features cli,simulated-clock \
  --bin presence-handler \
  --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --env-var "STATUS_TABLE_NAME=$status_table,EVENTS_TABLE_NAME=$events_table" \
  --env-var "AWS_ENDPOINT_URL_DYNAMODB=$endpoint,AWS_REGION=us-east-1" \
  --env-var "AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local,AWS_LAMBDA_LOG_FORMAT=JSON" \
  --env-var "SIMULATED_CLOCK_FILE=$clock_file,METRICS_DIMENSIONS=Stack=replay" \
  >"$work/function.log" 2>&1 &
cleanup_pids+=("-$!")
wait_for 120 "cargo lambda watch on 127.0.0.1:$invoke_port" \
  port_open "$invoke_port"
echo "function running under cargo lambda watch on 127.0.0.1:$invoke_port (log: $work/function.log)" >&2

xtask replay "$@" \
  --invoke-url "http://127.0.0.1:$invoke_port/2015-03-31/functions/presence-handler/invocations" \
  --endpoint "$endpoint" --status-table "$status_table" \
  --function-log "$work/function.log" --metrics-dimension Stack=replay

if [[ -n "$timeline" ]]; then
  xtask alerts-demo "$timeline" \
    --invoke-url "http://127.0.0.1:$invoke_port/2015-03-31/functions/presence-handler/invocations" \
    --endpoint "$endpoint" --messaging-endpoint "$messaging_endpoint" \
    --presence "$presence_bin" --clock-file "$clock_file" \
    --status-table "$status_table" --events-table "$events_table" --expect "${expect[@]}"
  echo
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
    "$presence_bin" --endpoint-url "$endpoint" \
    --status-table "$status_table" --events-table "$events_table" summary
fi

# The PresenceChanged events of every status change above: the status table's stream through
# the function onto EventBridge (moto), a rule's queue reads them back (docs/events.md).
xtask changes --endpoint "$endpoint" --messaging-endpoint "$messaging_endpoint" \
  --status-table "$status_table" --events-table "$events_table"

# Every path once more on these tables (after the alert timeline: the
# probe's own clients must not show up in its alerts), with its consumed capacity, and the cost tables.
xtask capacity --endpoint "$endpoint" --messaging-endpoint "$messaging_endpoint" \
  --status-table "$status_table" --events-table "$events_table" \
  --function-log "$work/function.log" --metrics-dimension Stack=replay

if [[ -n "$keep" ]]; then
  cat >&2 <<TXT

The local DynamoDB server stays up until Ctrl-C. To query it (aws dynamodb, or presence):
  export AWS_ENDPOINT_URL_DYNAMODB=$endpoint AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  export STATUS_TABLE_NAME=$status_table EVENTS_TABLE_NAME=$events_table
  export PATH="$(dirname "$presence_bin"):\$PATH"
TXT
  wait "${cleanup_pids[0]}"
fi
