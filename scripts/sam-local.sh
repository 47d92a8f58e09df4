#!/usr/bin/env bash
# `sam local invoke` of the sample events, checked against the `cargo lambda watch` path.
#
#   scripts/sam-local.sh
#
# 1. installs Docker if missing (apt-get install docker.io) and starts dockerd if none is
#    running (with its default bridge: SAM CLI attaches every function container to it first,
#    and with `--bridge=none` the invoke never answers);
# 2. builds, once, the Lambda base image SAM CLI expects for provided.al2023 on x86_64 (no
#    registry is needed: /bin/sh, mv, chmod and the glibc libraries, put in with `docker import`);
# 3. `sam build` (debug mode, Architecture=x86_64: see docs/deploy.md);
# 4. creates its own docker network and starts the local servers (dynoxide: DynamoDB; moto: SNS)
#    on that network's gateway address, with the tables from template.yaml (two pairs: sam,
#    reference) and an SNS topic for the alerter;
# 5. `sam local invoke PresenceFunction -e FILE` for every events/*.json, then the scenarios
#    (events/scenarios) through `sam local start-lambda` (127.0.0.1, warm container);
# 6. the same events through `cargo lambda watch` into the reference tables; every answer and
#    every status item must be equal (`cargo xtask sam-compare`), or the run fails;
# 7. `sam local invoke AlerterFunction` once, on a scheduled event;
# 8. the HTTP API once through `sam local start-api` (127.0.0.1): a status, a page, a
#    summary and an unknown client, each answer's status and content type checked;
# 9. stops everything it started (sam, containers, the network, the server, dockerd if it
#    started it), also on Ctrl-C or failure (KEEP_LOGS=1 keeps the logs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export SAM_CLI_TELEMETRY=0

phase_start=$SECONDS
phase_name=""
timings=()
phase() { # phase NAME: ends the current phase (printing its seconds) and starts NAME
  if [[ -n "$phase_name" ]]; then
    timings+=("$(printf '%4d s  %s' $((SECONDS - phase_start)) "$phase_name")")
    echo "[sam-local] $phase_name: $((SECONDS - phase_start)) s" >&2
  fi
  phase_name=$1
  phase_start=$SECONDS
  [[ -n "$phase_name" ]] && echo "[sam-local] $phase_name ..." >&2
  return 0
}
fail() {
  echo "sam-local: $*" >&2
  exit 1
}

# 1. Docker ---------------------------------------------------------------------------------
phase "docker"
if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
  echo "installing Docker (apt-get install docker.io) ..." >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; } \
    >"$work/apt.log" 2>&1; then
    tail -n 20 "$work/apt.log" >&2
    fail "could not install Docker. Install it yourself (Debian/Ubuntu: 'sudo apt-get install docker.io'; see https://docs.docker.com/engine/install/), then run this again."
  fi
fi
if ! docker info >/dev/null 2>&1; then
  if pgrep -x dockerd >/dev/null; then
    fail "a dockerd is running but 'docker info' fails (permissions? run as root or join the docker group)."
  fi
  echo "starting dockerd (stopped on exit) ..." >&2
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  disown "$dockerd_pid"   # not a job: cleanup's `wait` must not wait for it
  # shellcheck disable=SC2016
  cleanup_hooks+=('stop_dockerd')
  if ! wait_for 60 "dockerd" docker info; then
    tail -n 20 "$work/dockerd.log" >&2
    fail "dockerd did not start (log above, $work/dockerd.log). Start Docker yourself ('sudo dockerd &' or 'sudo service docker start'), then run this again."
  fi
fi
stop_dockerd() {
  kill -TERM "$dockerd_pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + 20))
  while kill -0 "$dockerd_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -KILL "$dockerd_pid" 2>/dev/null || true
}

# 2. The base image ---------------------------------------------------------------------------
phase "base image"
scripts/tools.sh install base
export PATH="$(scripts/tools.sh path):$PATH"
# The tag is SAM CLI's own answer, so a SAM CLI that expects another tag gets that one built.
image="$(python -c "from samcli.local.docker.lambda_image import Runtime as R
print('public.ecr.aws/lambda/' + R.get_image_name_tag('provided.al2023', 'x86_64'))" 2>"$work/tag.log")" ||
  fail "could not ask SAM CLI which base image it expects ($(tail -n 1 "$work/tag.log")); SAM CLI's code changed: update scripts/sam-local.sh (the 'base image' step)."
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image: already built" >&2
else
  echo "building the base image $image (sh, mv, chmod, glibc; docker import) ..." >&2
  rootfs="$work/rootfs"
  mkdir -p "$rootfs"/{bin,tmp,var/task,var/runtime,opt}
  cp -L /bin/dash "$rootfs/bin/sh"
  cp -L "$(command -v mv)" "$(command -v chmod)" "$rootfs/bin/"
  # The libraries of those, and the ones a Rust binary links: libc, libm, libgcc_s, the loader.
  libs="$(ldd /bin/dash "$(command -v mv)" "$(command -v chmod)" | awk '$2 == "=>" && $3 ~ /^\// {print $3} NF == 2 && $1 ~ /^\// {print $1}')"
  for lib in libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1; do
    # awk reads to the end (no `exit`): an early exit can kill ldconfig with SIGPIPE, which
    # pipefail turns into a failed run.
    found="$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !seen {print $NF; seen = 1}')"
    [[ -n "$found" ]] && libs+=$'\n'"$found"
  done
  while read -r lib; do
    [[ -n "$lib" ]] || continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done < <(sort -u <<<"$libs")
  # The CA bundle: the AWS SDK's TLS setup panics without root certificates, even for http.
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/etc/pki/tls/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/pki/tls/certs/ca-bundle.crt"
  tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
  rm -rf "$rootfs"
fi

# 3. sam build --------------------------------------------------------------------------------
phase "sam build"
overrides=(Architecture=x86_64)
# Debug mode (aws-lambda-builders' rust-cargolambda: no --release): the same code, built faster.
# CARGO_LAMBDA_COMPILER=cargo: plain cargo instead of zig, whose only job is to link against an
# older glibc; the base image above carries this machine's own glibc, and with plain cargo the
# build reuses the dependencies an earlier build of the same target compiled (in CI, the test
# build's: .ci/run sets CARGO_BUILD_TARGET to the host triple, the directory cargo-lambda uses).
# The deployable arm64 build (.ci/run's last step) links with zig.
if ! CARGO_LAMBDA_COMPILER=cargo SAM_BUILD_MODE=debug sam build --beta-features \
  --parameter-overrides "${overrides[@]}" \
  >"$work/sam-build.log" 2>&1; then
  tail -n 30 "$work/sam-build.log" >&2
  fail "sam build failed (log above, $work/sam-build.log)"
fi

# 4. Network, local server, tables ------------------------------------------------------------
phase "network, local server, tables"
network="iot-presence-sam-$$"
docker network create "$network" >/dev/null
cleanup_hooks=("remove_network" "${cleanup_hooks[@]}")   # before dockerd stops
remove_network() {
  local ids
  ids="$(docker ps -aq --filter "network=$network" 2>/dev/null || true)"
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
  docker network rm "$network" >/dev/null 2>&1 || true
}
gateway="$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$network")"
[[ "$gateway" =~ ^[0-9.]+$ ]] || fail "docker network $network has no IPv4 gateway ($gateway)"
export IOT_PRESENCE_DOCKER_GATEWAY="$gateway"   # lets `cargo xtask` accept these endpoints
start_local_dynamodb "$gateway"
start_local_messaging "$gateway"
xtask tables --endpoint "$endpoint" --status sam-status --events sam-events
xtask tables --endpoint "$endpoint" --status ref-status --events ref-events
topic="$(xtask topic --endpoint "$messaging_endpoint" --name presence-alerts)"
sed -e "s|@STATUS_TABLE@|sam-status|g" -e "s|@EVENTS_TABLE@|sam-events|g" \
  -e "s|@ALERT_TOPIC_ARN@|$topic|g" -e "s|@ENDPOINT@|$endpoint|g" \
  -e "s|@MESSAGING_ENDPOINT@|$messaging_endpoint|g" events/local/env.json >"$work/env.json"
overrides+=("LocalDynamoDBEndpoint=$endpoint" "LocalSnsEndpoint=$messaging_endpoint")
echo "local servers: DynamoDB $endpoint, SNS $messaging_endpoint (network $network); tables sam-*, ref-*; topic $topic" >&2
sam_args=(--skip-pull-image --docker-network "$network" --env-vars "$work/env.json"
  --parameter-overrides "${overrides[*]}")

# 5. sam local invoke, every sample file --------------------------------------------------------
phase "sam local invoke (events/*.json)"
: >"$work/sam-results.jsonl"
samples=()
for file in events/*.json; do
  [[ "$file" == events/local/env.json ]] || samples+=("$file")
done
for file in "${samples[@]}"; do
  log="$work/invoke-$(basename "$file" .json).log"
  if ! timeout 120 sam local invoke PresenceFunction -e "$file" "${sam_args[@]}" \
    >"$log.out" 2>"$log"; then
    tail -n 20 "$log" >&2
    if grep -qiE "pull access denied|no such image|not found.*image|image.*not found|manifest unknown" "$log"; then
      fail "$file: SAM CLI could not find its base image. It expects $image (built by this script); if SAM CLI now names another tag in the log above, build that one (see the 'base image' step)."
    fi
    fail "$file: sam local invoke failed (log above, $log)"
  fi
  if ! xtask sam-answer "$file" "$log.out" >>"$work/sam-results.jsonl" 2>"$log.check"; then
    tail -n 20 "$log" >&2
    fail "$file: the function failed inside the container ($(cat "$log.check"); log above, $log)"
  fi
  if grep -q '"errorType"' "$log.out"; then
    echo "  $file: $(tail -n 1 "$log.out")" >&2
  fi
done
echo "$(wc -l <"$work/sam-results.jsonl") sample files through sam local invoke" >&2
transcript_file="${samples[0]}"

# 6. start-lambda and cargo lambda watch, then the comparison -----------------------------------
phase "start-lambda + cargo lambda watch, scenarios, comparison"
sam_port="$(free_port)"
setsid sam local start-lambda --host 127.0.0.1 --port "$sam_port" --warm-containers LAZY \
  "${sam_args[@]}" >"$work/start-lambda.log" 2>&1 &
cleanup_pids=("-$!" "${cleanup_pids[@]}")
cargo build --quiet --features cli --bin presence-handler
ref_port="$(free_port)"
setsid cargo lambda watch --quiet --ignore-changes --features cli --bin presence-handler \
  --invoke-address 127.0.0.1 --invoke-port "$ref_port" \
  --env-var "STATUS_TABLE_NAME=ref-status,EVENTS_TABLE_NAME=ref-events" \
  --env-var "AWS_ENDPOINT_URL_DYNAMODB=$endpoint,AWS_REGION=us-east-1" \
  --env-var "AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local,AWS_LAMBDA_LOG_FORMAT=JSON" \
  --env-var "FUTURE_SKEW_MS=3600000" \
  >"$work/cargo-lambda.log" 2>&1 &
cleanup_pids=("-$!" "${cleanup_pids[@]}")
wait_for 120 "sam local start-lambda on 127.0.0.1:$sam_port" port_open "$sam_port"
wait_for 120 "cargo lambda watch on 127.0.0.1:$ref_port" port_open "$ref_port"
xtask sam-compare \
  --samples "${samples[@]}" --scenarios events/scenarios \
  --sam-results "$work/sam-results.jsonl" \
  --sam-invoke-url "http://127.0.0.1:$sam_port/2015-03-31/functions/PresenceFunction/invocations" \
  --ref-invoke-url "http://127.0.0.1:$ref_port/2015-03-31/functions/presence-handler/invocations" \
  --endpoint "$endpoint" --sam-status-table sam-status --ref-status-table ref-status

# 7. The alerter, once ---------------------------------------------------------------------------
phase "sam local invoke AlerterFunction"
cat >"$work/scheduled.json" <<JSON
{"version": "0", "id": "sam-local", "detail-type": "Scheduled Event", "source": "aws.events",
 "account": "123456789012", "time": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "region": "us-east-1",
 "resources": [], "detail": {}}
JSON
# A function that fails at init answers nothing: an empty answer is a failure too.
if ! timeout 120 sam local invoke AlerterFunction -e "$work/scheduled.json" "${sam_args[@]}" \
  >"$work/alerter.out" 2>"$work/alerter.log" || grep -q '"errorType"' "$work/alerter.out" ||
  [[ ! -s "$work/alerter.out" ]]; then
  tail -n 20 "$work/alerter.log" "$work/alerter.out" >&2
  fail "the alerter failed inside the container (log above, $work/alerter.log)"
fi
echo "alerter: $(tail -n 1 "$work/alerter.out")" >&2

# 8. The HTTP API, once through sam local start-api -----------------------------------------------
# SAM CLI runs ApiFunction behind a local HTTP API (payload format 2.0). It does not check IAM
# or JWT authorization, so this is the function and its routing, not API Gateway's auth.
phase "sam local start-api (ApiFunction)"
api_port="$(free_port)"
setsid sam local start-api --host 127.0.0.1 --port "$api_port" --warm-containers LAZY \
  "${sam_args[@]}" >"$work/start-api.log" 2>&1 &
cleanup_pids=("-$!" "${cleanup_pids[@]}")
wait_for 120 "sam local start-api on 127.0.0.1:$api_port" port_open "$api_port"
# A client with a status: its connect is among the samples that went through invoke above.
known="$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["clientId"])' events/connected-certificate.json)"
api_get() { # api_get PATH STATUS CONTENT-TYPE: one request (the first starts the container)
  local out="$work/api-$((++api_calls)).json" got
  got="$(curl -sS --max-time 90 -o "$out" -w '%{http_code} %{content_type}' \
    "http://127.0.0.1:$api_port$1")" || {
    tail -n 20 "$work/start-api.log" >&2
    fail "GET $1 through sam local start-api failed (log above, $work/start-api.log)"
  }
  if [[ "$got" != "$2 $3"* ]]; then
    tail -n 20 "$work/start-api.log" >&2
    fail "GET $1: expected $2 $3, got $got: $(head -c 300 "$out")"
  fi
  echo "  GET $1: $got, $(wc -c <"$out") bytes" >&2
}
api_calls=0
api_get "/clients/$known" 200 application/json
api_get "/clients?state=connected&limit=2" 200 application/json
api_get "/fleet/summary" 200 application/json
api_get "/clients/never-seen-client" 404 application/problem+json
api_get "/clients?state=sideways" 400 application/problem+json

phase ""
echo >&2
echo "sam-local: phases (seconds):" >&2
printf '  %s\n' "${timings[@]}" >&2
echo "  $SECONDS s  total" >&2
echo "transcript of one invoke ($transcript_file): $work/invoke-$(basename "$transcript_file" .json).log" >&2
