#!/usr/bin/env bash
# The live fleet widget in a real browser: renders the widget from the sample events and
# checks what headless Chromium shows against the status table.
#
#   scripts/widget-screenshot.sh [FILE_OR_FOLDER ...]
#
# With no arguments it uses the replay's samples (events/*.json and events/scenarios/).
# 1. installs Chromium (Debian's `chromium`, apt-get) when missing, and the local servers;
# 2. starts them (dynoxide for DynamoDB, moto for the alert pass's SNS) on free ports of
#    127.0.0.1, creates the tables from template.yaml;
# 3. `cargo xtask widget-screenshot`: records the events through the library's ingest path,
#    renders the fleet view and the busiest client's timeline, screenshots them into
#    docs/widget.png and docs/widget-timeline.png, dumps the DOM, and checks the page's text
#    against the status table read by key (counts, every offline client, the timeline's
#    events); prints the HTML sizes and render times.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (apt-get) ..." >&2
  apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi
if [[ $# -eq 0 ]]; then
  set -- events/*.json events/scenarios
fi
start_local_dynamodb
start_local_messaging
xtask widget-screenshot "$@" --endpoint "$endpoint" --messaging-endpoint "$messaging_endpoint" \
  --status-table "$status_table" --events-table "$events_table" \
  --work "$work" --out "$root/docs"
