#!/usr/bin/env python3
"""Read-path figures for the README: load a fleet of N clients into the local status table,
then time the `presence` commands that dashboards run over the whole fleet.

Run through scripts/bench-read.sh (which starts the local server and builds the binary). The
items carry the attributes the handler writes (README "Status table"); they are loaded with
BatchWriteItem, since pushing 100k events through the function one at a time would take the
serialized local server most of an hour, and this measures the read path only.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

from local_aws import client as local_client

REASONS = ["CONNECTION_LOST", "MQTT_KEEP_ALIVE_TIMEOUT", "CLIENT_INITIATED_DISCONNECT",
           "DUPLICATE_CLIENTID", "SERVER_INITIATED_DISCONNECT", "AUTH_ERROR"]
SHARDS = 16


def shard_of(client_id):
    """FNV-1a 32, as src/store.rs computes it."""
    h = 0x811C9DC5
    for byte in client_id.encode():
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h % SHARDS


def item(i, now, rng):
    client = f"device-{i:06d}"
    connected = rng.random() < 0.6
    session = f"{i:08x}-7e22-4ace-a308-df2c229d27d0"
    connected_at = now - rng.randint(60_000, 7 * 86_400_000)
    it = {
        "clientId": {"S": client},
        "connected": {"BOOL": connected},
        "sessionIdentifier": {"S": session},
        "versionNumber": {"N": str(rng.randint(0, 500))},
        "principalIdentifier": {"S": "226c64225fce225672257c31e2cb6d3ad21ca514af690bc5cb44f5f58c2222"},
        "updatedAt": {"N": str(now)},
        "connectedSession": {"M": {session: {"M": {"connectedAt": {"N": str(connected_at)}}}}},
        "connectedAt": {"N": str(connected_at)},
    }
    if connected:
        ts = connected_at
        it.update(eventType={"S": "connected"}, disconnectReason={"S": "NONE"},
                  ipAddress={"S": "198.51.100.7"})
    else:
        ts = now - rng.randint(1_000, 3 * 86_400_000)
        ts = max(ts, connected_at + 1)
        it.update(eventType={"S": "disconnected"}, disconnectReason={"S": rng.choice(REASONS)},
                  disconnectedAt={"N": str(ts)}, clientInitiatedDisconnect={"BOOL": False})
    state = "connected" if connected else "disconnected"
    it.update(eventTimestamp={"N": str(ts)}, statusShard={"S": f"{state}#{shard_of(client):02d}"},
              lastEventKey={"S": f"{ts:013d}#{state}#{session}"})
    return it, connected, ts


def load(client, table, n, now):
    rng = random.Random(42)
    counts = {"connected": 0, "offline_since": []}
    batch = []
    started = time.monotonic()
    for i in range(n):
        it, connected, ts = item(i, now, rng)
        counts["connected"] += connected
        if not connected:
            counts["offline_since"].append(ts)
        batch.append({"PutRequest": {"Item": it}})
        if len(batch) == 25 or i == n - 1:
            request = {table: batch}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or None
            batch = []
        if (i + 1) % 10_000 == 0:
            print(f"loaded {i + 1}/{n} clients ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return counts


def offline_for(since, minutes, at_ms):
    return sum(1 for ts in since if ts < at_ms - minutes * 60_000)


def timed(cmd, runs, expect=None):
    """Runs `cmd`; `expect(start_ms, end_ms)` gives the (low, high) bounds of the line count."""
    times, lines = [], None
    for _ in range(runs):
        start_ms = int(time.time() * 1000)
        start = time.perf_counter()
        env = dict(os.environ, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="local",
                   AWS_SECRET_ACCESS_KEY="local")
        out = subprocess.run(cmd, capture_output=True, env=env)
        if out.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.decode()}")
        times.append(time.perf_counter() - start)
        lines = out.stdout.decode().count("\n")
        if expect is not None:
            low, high = expect(start_ms, int(time.time() * 1000))
            if not low <= lines <= high:
                sys.exit(f"{' '.join(cmd)}: {lines} clients listed, expected {low}..{high}")
    return statistics.median(times), min(times), lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--status-table", required=True)
    parser.add_argument("--events-table", required=True)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    client = local_client("dynamodb", args.endpoint)
    now = int(time.time() * 1000)
    load_start = time.monotonic()
    expected = load(client, args.status_table, args.clients, now)
    load_seconds = time.monotonic() - load_start

    base = [args.binary, "--endpoint-url", args.endpoint, "--status-table", args.status_table,
            "--events-table", args.events_table, "-o", "json",
            # The local server answers one request at a time and scans the whole index for
            # each query: give it the time it needs.
            "--timeout", "30m"]
    rows = []
    since = expected["offline_since"]
    for label, extra, want in [
        ("list --connected", ["list", "--connected"],
         lambda a, b: (expected["connected"], expected["connected"])),
        ("list --disconnected --offline-for 10m", ["list", "--disconnected", "--offline-for", "10m"],
         lambda a, b: (offline_for(since, 10, a), offline_for(since, 10, b))),
        ("summary", ["summary"], None),
    ]:
        median, best, lines = timed(base + extra, args.runs, want)
        rows.append((label, median, best, lines if want is not None else "-"))

    print(f"| command ({args.clients} clients, local server) | median of {args.runs} | best | clients listed |")
    print("|---|---|---|---|")
    for label, median, best, lines in rows:
        print(f"| `presence {label}` | {median:.2f} s | {best:.2f} s | {lines} |")
    print()
    print(f"loading {args.clients} status items with BatchWriteItem took {load_seconds:.0f} s")


if __name__ == "__main__":
    main()
