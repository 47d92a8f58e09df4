#!/usr/bin/env bash
# The local AWS servers that the tests, the local run, the benches and `sam local` talk to:
#
#   DynamoDB      dynoxide (crate dynoxide-rs, pinned below): a DynamoDB emulator in Rust on
#                 SQLite, with a conformance suite run against real DynamoDB; it reports
#                 consumed capacity. Installed with `cargo install` into .local/dynoxide.
#   SNS and SQS   moto's server (scripts/moto_server.py, pinned in requirements-local.txt),
#                 into the virtualenv .local/venv. dynoxide serves DynamoDB only.
#
#   scripts/local-servers.sh install [all|dynamodb|messaging]   # idempotent; default all
#   scripts/local-servers.sh dynoxide                           # prints the dynoxide binary's path
#   scripts/local-servers.sh start    # install, then dynoxide on 127.0.0.1:$LOCAL_DYNAMODB_PORT
#                                     # (8000) and moto on 127.0.0.1:$LOCAL_MESSAGING_PORT (8001)
#   scripts/local-servers.sh stop
#   scripts/local-servers.sh env      # prints the exports that point the SDKs at them
#
# Why an installed binary rather than the crate embedded in the test harness: one server for
# every consumer (the test binaries, the `presence` CLI they run, `cargo lambda watch`, the
# SAM containers, the benches), the test binaries do not each link SQLite and an HTTP server,
# and `cargo clean` keeps it. The pin is the one place for its version.
# Everything lives in .local/ (git-ignored).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="$root/.local"
venv="$local_dir/venv"
dynoxide_version="3.2.0"
dynoxide_root="$local_dir/dynoxide"
dynoxide_bin="$dynoxide_root/bin/dynoxide"
# dynoxide's own release profile asks for fat LTO and one codegen unit, which makes the install
# take minutes on two cores; a local test server needs neither, so the config overrides them.
dynoxide_install=(env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  cargo install dynoxide-rs --version "$dynoxide_version" --locked
  --no-default-features --features native-sqlite,http-server,cli --root "$dynoxide_root")
dynamodb_port="${LOCAL_DYNAMODB_PORT:-8000}"
messaging_port="${LOCAL_MESSAGING_PORT:-8001}"

install_dynamodb() {
  local stamp="$dynoxide_root/.version"
  if [[ -x "$dynoxide_bin" && "$(cat "$stamp" 2>/dev/null)" == "$dynoxide_version" ]]; then
    return 0
  fi
  echo "installing the local DynamoDB server (dynoxide $dynoxide_version) into .local/dynoxide (about 1.5 minutes, once) ..." >&2
  mkdir -p "$dynoxide_root"
  if ! "${dynoxide_install[@]}" >"$local_dir/dynoxide-install.log" 2>&1; then
    tail -n 20 "$local_dir/dynoxide-install.log" >&2
    echo "local-servers: step 'install dynoxide' failed (log above, .local/dynoxide-install.log)." >&2
    echo "  Run it by hand: ${dynoxide_install[*]}" >&2
    echo "  Or point the tests at a DynamoDB you run yourself: IOT_PRESENCE_TEST_ENDPOINT=http://127.0.0.1:PORT" >&2
    return 1
  fi
  "$dynoxide_bin" --version >/dev/null
  echo "$dynoxide_version" >"$stamp"
}

install_messaging() {
  local want stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$root/scripts/requirements-local.txt" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  echo "installing the local SNS/SQS server (moto) into .local/venv ..." >&2
  mkdir -p "$local_dir"
  if ! { python3 -m venv "$venv" &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-local.txt"; }; then
    echo "local-servers: step 'install moto' failed. Run it by hand:" >&2
    echo "  python3 -m venv .local/venv && .local/venv/bin/pip install -r scripts/requirements-local.txt" >&2
    return 1
  fi
  echo "$want" >"$stamp"
}

running() { # running NAME
  [[ -f "$local_dir/$1.pid" ]] && kill -0 "$(cat "$local_dir/$1.pid")" 2>/dev/null
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# launch NAME PORT COMMAND...: starts COMMAND in the background and waits (30 s at most) until
# it accepts connections on PORT.
launch() {
  local name=$1 port=$2
  shift 2
  if running "$name"; then
    echo "$name already running (pid $(cat "$local_dir/$name.pid"))" >&2
    return 0
  fi
  if port_open "$port"; then
    echo "local-servers: 127.0.0.1:$port is taken; set the port variable to another one" >&2
    return 1
  fi
  nohup "$@" >"$local_dir/$name.log" 2>&1 &
  echo $! >"$local_dir/$name.pid"
  for _ in $(seq 1 150); do
    if port_open "$port"; then
      echo "$name listening on http://127.0.0.1:$port (log: .local/$name.log)" >&2
      return 0
    fi
    if ! running "$name"; then
      echo "local-servers: step 'start $name' failed; its log:" >&2
      cat "$local_dir/$name.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "local-servers: $name did not start within 30 s; see .local/$name.log" >&2
  return 1
}

start() {
  install_dynamodb
  install_messaging
  launch dynoxide "$dynamodb_port" "$dynoxide_bin" serve --host 127.0.0.1 --port "$dynamodb_port" --log quiet
  launch moto "$messaging_port" "$venv/bin/python" "$root/scripts/moto_server.py" --port "$messaging_port"
}

stop() {
  local name
  for name in dynoxide moto; do
    if running "$name"; then
      kill "$(cat "$local_dir/$name.pid")" 2>/dev/null || true
      for _ in $(seq 1 50); do running "$name" || break; sleep 0.1; done
    fi
    rm -f "$local_dir/$name.pid"
  done
}

print_env() {
  cat <<ENV
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dynamodb_port
export AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$messaging_port AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$messaging_port
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
ENV
}

case "${1:-}" in
  install)
    case "${2:-all}" in
      all) install_dynamodb; install_messaging ;;
      dynamodb) install_dynamodb ;;
      messaging) install_messaging ;;
      *) echo "usage: $0 install [all|dynamodb|messaging]" >&2; exit 2 ;;
    esac ;;
  dynoxide) echo "$dynoxide_bin" ;;
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 install [all|dynamodb|messaging] | dynoxide | start | stop | env" >&2; exit 2 ;;
esac
