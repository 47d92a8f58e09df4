# Shared by scripts/replay.sh and scripts/bench.sh (sourced, not run): a private local
# DynamoDB server with the tables from template.yaml, cleaned up on exit.
#
# After `start_local_dynamodb`: $endpoint, $status_table, $events_table, $work (a scratch
# folder, removed on success; kept, and named, on failure or with KEEP_LOGS=1).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.local/venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/iot-presence.XXXXXX")"
cleanup_pids=()   # processes to stop; a negative one is a process group
cleanup_hooks=()  # commands to run after those stopped (e.g. remove a docker network)

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${cleanup_pids[@]}"; do
    kill -TERM -- "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  local hook
  for hook in "${cleanup_hooks[@]}"; do
    "$hook" || true
  done
  if [[ $status -ne 0 || -n "${KEEP_LOGS:-}" ]]; then
    echo "logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port of 127.0.0.1 nobody listens on: a random one from the ephemeral range, checked with
# bash's /dev/tcp (a refused connection means free). Bounded: 50 tries.
free_port() {
  local port _
  for _ in $(seq 1 50); do
    port=$((49152 + RANDOM % 16384))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found on 127.0.0.1" >&2
  return 1
}

# port_open PORT: something listens on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The tooling (xtask/): built once, quietly, from the committed Cargo.lock.
xtask() {
  cargo xtask "$@"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "timed out waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

start_local_dynamodb() {
  "$root/scripts/local-dynamodb.sh" install
  "$python" "$root/scripts/moto_server.py" --port 0 --port-file "$work/dynamodb.port" \
    >"$work/dynamodb.log" 2>&1 &
  cleanup_pids+=("$!")
  wait_for 30 "the local DynamoDB server" test -s "$work/dynamodb.port"
  endpoint="http://127.0.0.1:$(cat "$work/dynamodb.port")"
  status_table=presence-status
  events_table=presence-events
  xtask tables --endpoint "$endpoint" --status "$status_table" --events "$events_table" \
    --template "$root/template.yaml"
  echo "local DynamoDB on $endpoint with tables $status_table, $events_table (from template.yaml)" >&2
}
