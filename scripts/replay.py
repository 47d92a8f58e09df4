#!/usr/bin/env python3
"""Replays lifecycle events through the function's invoke endpoint and prints the result.

Used by scripts/replay.sh, which starts the local DynamoDB server and the real function under
`cargo lambda watch` first. Inputs (files or folders, read recursively, in name order):

  *.json   one event (the format of `sam local invoke -e` / `cargo lambda invoke --data-file`),
           or a JSON array of events
  *.jsonl  JSON Lines: one event per line, in delivery order (blank lines are skipped)

Each event is POSTed to the emulator's Invoke API exactly as it will arrive from the IoT rule.
The status table is then read by key (GetItem per client seen; no Scan) and printed.
"""

import argparse
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

OUTCOMES = ["applied", "stale", "duplicate", "recorded"]


def load_events(paths):
    """Yields (source, raw JSON text) for every event under `paths`."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            for dirpath, _, names in os.walk(path):
                files.extend(os.path.join(dirpath, n) for n in names if n.endswith((".json", ".jsonl")))
        elif os.path.isfile(path):
            files.append(path)
        else:
            sys.exit(f"replay: no such file or folder: {path}")
    for file in sorted(files):
        with open(file) as f:
            text = f.read()
        if file.endswith(".jsonl"):
            for number, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    yield f"{file}:{number}", line
        else:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                # Not JSON at all: send it anyway, the function reports what is wrong.
                yield file, text
                continue
            if isinstance(value, list):
                for index, event in enumerate(value):
                    yield f"{file}[{index}]", json.dumps(event)
            else:
                yield file, text


def invoke(url, payload):
    """Returns (ok, body dict). A function error comes back as ok=False with errorType."""
    request = urllib.request.Request(
        url, data=payload.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read().decode()
            failed = response.headers.get("X-Amz-Function-Error") is not None
    except urllib.error.HTTPError as err:
        body, failed = err.read().decode(), True
    try:
        parsed = json.loads(body) if body else {}
    except json.JSONDecodeError:
        parsed = {"errorType": "Unknown", "errorMessage": body}
    if failed or not isinstance(parsed, dict) or "outcome" not in parsed:
        if not isinstance(parsed, dict):
            parsed = {"errorType": "Unknown", "errorMessage": body}
        return False, parsed
    return True, parsed


def status_items(endpoint, table, client_ids):
    from local_aws import client as local_client

    client = local_client("dynamodb", endpoint)
    items = {}
    ids = sorted(client_ids)
    for start in range(0, len(ids), 100):
        keys = [{"clientId": {"S": c}} for c in ids[start:start + 100]]
        request = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(table, []):
                items[item["clientId"]["S"]] = item
            request = response.get("UnprocessedKeys") or None
    return items


def iso(ms):
    return datetime.datetime.fromtimestamp(int(ms) / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def row(item):
    connected = item.get("connected", {}).get("BOOL")
    since_attr = "connectedAt" if connected else "disconnectedAt"
    since = item.get(since_attr, {}).get("N")
    return [
        item["clientId"]["S"],
        "yes" if connected else "no",
        iso(since) if since else "?",
        item.get("disconnectReason", {}).get("S", ""),
        item.get("sessionIdentifier", {}).get("S", "")[:8],
        item.get("versionNumber", {}).get("N", ""),
    ]


def print_table(rows, headers):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    for r in [headers] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["events"])
    parser.add_argument("--invoke-url", required=True)
    parser.add_argument("--endpoint", required=True, help="the local DynamoDB endpoint")
    parser.add_argument("--status-table", required=True)
    args = parser.parse_args()

    events = list(load_events(args.paths))
    if not events:
        sys.exit(f"replay: no events in {' '.join(args.paths)}")
    counts = {o: 0 for o in OUTCOMES}
    counts.update(invalid=0, failed=0)
    clients = set()
    tty = sys.stderr.isatty()
    last_report = time.monotonic()
    started = last_report
    for done, (source, payload) in enumerate(events, 1):
        ok, body = invoke(args.invoke_url, payload)
        if ok:
            counts[body["outcome"]] += 1
            clients.add(body["clientId"])
        elif body.get("errorType") == "InvalidEvent" or "DeserializeError" in body.get("errorType", ""):
            # The runtime itself rejects a payload that is not JSON (Lambda's Invoke API would
            # refuse it before that); both are the input's fault.
            counts["invalid"] += 1
            print(f"invalid  {source}: {body.get('errorMessage')}", file=sys.stderr)
        else:
            counts["failed"] += 1
            print(f"FAILED   {source}: {body.get('errorType')}: {body.get('errorMessage')}", file=sys.stderr)
        now = time.monotonic()
        if done == len(events) or now - last_report >= (0.2 if tty else 2.0):
            last_report = now
            progress = f"replayed {done}/{len(events)} events ({done / max(now - started, 1e-9):.0f}/s)"
            print(("\r" if tty else "") + progress, end="" if tty else "\n", file=sys.stderr, flush=True)
    if tty:
        print(file=sys.stderr)

    items = status_items(args.endpoint, args.status_table, clients)
    print()
    print_table(
        [row(items[c]) for c in sorted(items)],
        ["CLIENT", "CONNECTED", "SINCE", "REASON", "SESSION", "VERSION"],
    )
    print()
    print(
        f"{len(events)} events: applied {counts['applied']}, stale {counts['stale']}, "
        f"duplicate {counts['duplicate']}, recorded {counts['recorded']}, "
        f"invalid {counts['invalid']}, failed {counts['failed']}; {len(items)} clients"
    )
    # Invalid events are the input's fault and reported; a failure to record is ours.
    sys.exit(1 if counts["failed"] else 0)


if __name__ == "__main__":
    main()
