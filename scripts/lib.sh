# Shared by the scripts that run the product locally (sourced, not run): private local servers
# (scripts/local-servers.sh says which), the tables from template.yaml, cleanup on exit.
#
# After `start_local_dynamodb`: $endpoint (dynoxide), $status_table, $events_table, $work (a
# scratch folder, removed on success; kept, and named, on failure or with KEEP_LOGS=1).
# After `start_local_messaging`: $messaging_endpoint (moto, for SNS and SQS).

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

# start_local_dynamodb [HOST]: dynoxide on a free port of HOST (127.0.0.1 unless given, e.g. a
# docker network's gateway), with the tables from template.yaml.
start_local_dynamodb() {
  local host="${1:-127.0.0.1}" port dynoxide
  "$root/scripts/local-servers.sh" install dynamodb
  dynoxide="$("$root/scripts/local-servers.sh" dynoxide)"
  # A free port can be taken between the check and the bind (another process's outgoing
  # connection): then dynoxide exits at once, and it is started again on another port (5 tries).
  local attempt pid
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    "$dynoxide" serve --host "$host" --port "$port" --log quiet >"$work/dynamodb.log" 2>&1 &
    pid=$!
    cleanup_pids+=("$pid")
    if wait_for 30 "the local DynamoDB server (dynoxide) on $host:$port" \
      bash -c "exec 3<>/dev/tcp/$host/$port || ! kill -0 $pid"; then
      kill -0 "$pid" 2>/dev/null && break
      echo "dynoxide could not bind $host:$port (attempt $attempt): $(cat "$work/dynamodb.log")" >&2
    fi
    ((attempt < 5)) || { echo "dynoxide did not start" >&2; return 1; }
  done
  endpoint="http://$host:$port"
  status_table=presence-status
  events_table=presence-events
  xtask tables --endpoint "$endpoint" --status "$status_table" --events "$events_table" \
    --template "$root/template.yaml"
  echo "local DynamoDB (dynoxide) on $endpoint with tables $status_table, $events_table (from template.yaml)" >&2
}

# start_local_messaging [HOST]: moto's server for SNS and SQS on a free port of HOST.
start_local_messaging() {
  local host="${1:-127.0.0.1}"
  "$root/scripts/local-servers.sh" install messaging
  "$python" "$root/scripts/moto_server.py" --host "$host" --port 0 --port-file "$work/messaging.port" \
    >"$work/messaging.log" 2>&1 &
  cleanup_pids+=("$!")
  wait_for 30 "the local SNS/SQS server (moto)" test -s "$work/messaging.port"
  messaging_endpoint="http://$host:$(cat "$work/messaging.port")"
  echo "local SNS and SQS (moto) on $messaging_endpoint" >&2
}
