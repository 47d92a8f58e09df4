#!/usr/bin/env bash
# The local DynamoDB-compatible server (moto, serialized; see scripts/moto_server.py).
#
#   scripts/local-dynamodb.sh install   # idempotent: .local/venv with the pinned moto[server]
#   scripts/local-dynamodb.sh start     # install, then start on 127.0.0.1:$LOCAL_DYNAMODB_PORT (8000)
#   scripts/local-dynamodb.sh stop
#   scripts/local-dynamodb.sh env       # prints the exports that point the SDKs at it
#
# Everything lives in .local/ (git-ignored): the virtualenv, the pid file and the log.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="$root/.local"
venv="$local_dir/venv"
pid_file="$local_dir/dynamodb.pid"
log_file="$local_dir/dynamodb.log"
port="${LOCAL_DYNAMODB_PORT:-8000}"

install() {
  local want stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$root/scripts/requirements-local.txt" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  echo "installing the local DynamoDB server (moto) into .local/venv ..." >&2
  mkdir -p "$local_dir"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-local.txt"
  echo "$want" > "$stamp"
}

running() {
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

start() {
  install
  if running; then
    echo "local DynamoDB already running (pid $(cat "$pid_file"))" >&2
    return 0
  fi
  rm -f "$local_dir/dynamodb.port"
  nohup "$venv/bin/python" "$root/scripts/moto_server.py" --port "$port" \
    --port-file "$local_dir/dynamodb.port" >"$log_file" 2>&1 &
  echo $! > "$pid_file"
  for _ in $(seq 1 150); do
    if [[ -s "$local_dir/dynamodb.port" ]]; then
      echo "local DynamoDB listening on http://127.0.0.1:$port (log: .local/dynamodb.log)" >&2
      return 0
    fi
    if ! running; then
      echo "local DynamoDB failed to start; its log:" >&2
      cat "$log_file" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "local DynamoDB did not start within 30 s; see $log_file" >&2
  return 1
}

stop() {
  if running; then
    kill "$(cat "$pid_file")" 2>/dev/null || true
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
  fi
  rm -f "$pid_file" "$local_dir/dynamodb.port"
}

print_env() {
  cat <<ENV
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$port
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
ENV
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
