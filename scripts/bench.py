#!/usr/bin/env python3
"""Figures for the README: cold start, peak RSS while replaying, and a Python contrast.

Run through scripts/bench.sh, which builds the release binary and starts the local DynamoDB
server first. A fake Lambda Runtime API (this script, on 127.0.0.1) stands in for Lambda:

- cold start: time from spawning the process to its first poll of
  GET /2018-06-01/runtime/invocation/next -- the moment Lambda considers init done.
- peak RSS: VmHWM of the process after it has handled a replay of the events/ corpus many times
  over (distinct client ids per round, so every round really writes).
- the contrast: a Python function that only imports boto3 and creates a DynamoDB client before
  its first poll, measured by the same clock in the same run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PYTHON_FUNCTION = r"""
import os, urllib.request
import boto3
client = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
urllib.request.urlopen("http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/next")
"""


class RuntimeApi:
    """The part of the Lambda Runtime API a function uses, with hooks for measuring."""

    def __init__(self):
        self.lock = threading.Lock()
        self.first_poll = threading.Event()
        self.first_poll_at = None
        self.queue = []
        self.done = threading.Event()
        self.expected = 0
        self.responses = []
        self.errors = []
        self.stopping = threading.Event()

    def reset(self, events=()):
        with self.lock:
            self.first_poll.clear()
            self.first_poll_at = None
            self.queue = list(events)
            self.expected = len(self.queue)
            self.responses = []
            self.errors = []
            self.done.clear()

    def record(self, kind, body):
        with self.lock:
            (self.responses if kind == "response" else self.errors).append(body)
            if len(self.responses) + len(self.errors) >= self.expected:
                self.done.set()

    def handler(api):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404)
                with api.lock:
                    if api.first_poll_at is None:
                        api.first_poll_at = time.perf_counter()
                        api.first_poll.set()
                    event = api.queue.pop(0) if api.queue else None
                if event is None:
                    # Nothing to do: hold the poll, as Lambda freezes an idle function.
                    api.stopping.wait()
                    return self.reply(503)
                deadline = int(time.time() * 1000) + 10_000
                self.reply(200, event.encode(), [
                    ("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4())),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                    ("Content-Type", "application/json"),
                ])

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                kind = "response" if self.path.endswith("/response") else "error"
                api.record(kind, body)
                self.reply(202, b"{}")

        return Handler


def rss_peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def spawn(cmd, env):
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cold_starts(api, cmd, env, runs):
    times, rss = [], []
    for _ in range(runs):
        api.reset()
        start = time.perf_counter()
        proc = spawn(cmd, env)
        if not api.first_poll.wait(30):
            proc.kill()
            raise RuntimeError(f"{cmd[0]} never polled the runtime API")
        times.append((api.first_poll_at - start) * 1000)
        rss.append(rss_peak_kb(proc.pid))
        proc.kill()
        proc.wait()
    return times, rss


def corpus(events_dir):
    lines = []
    for dirpath, _, names in os.walk(events_dir):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            with open(path) as f:
                text = f.read()
            if name.endswith(".jsonl"):
                lines.extend(l for l in text.splitlines() if l.strip())
            elif name.endswith(".json"):
                lines.append(text)
    return [json.loads(l) for l in lines]


def replay_events(events, rounds):
    out = []
    for r in range(rounds):
        for e in events:
            e = dict(e)
            e["clientId"] = f"{e['clientId']}-r{r}"
            e.pop("topicClientId", None)
            out.append(json.dumps(e))
    return out


def attribute_size(value):
    """Approximate bytes of a DynamoDB attribute value, by the documented item size rules."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return len(v.lstrip("-").replace(".", "")) // 2 + 1 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(x) + 1 for k, x in v.items())
    raise ValueError(kind)


def item_size(item):
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def table_item_sizes(endpoint, status_table, events_table):
    """Mean sizes of the items the replay wrote (local, small tables: a Scan is fine here)."""
    from local_aws import client as local_client

    client = local_client("dynamodb", endpoint)
    sizes = {}
    for name, table in (("status item", status_table), ("event row", events_table)):
        items = client.scan(TableName=table, Limit=500)["Items"]
        sizes[name] = (statistics.mean(item_size(i) for i in items), max(item_size(i) for i in items))
    return sizes


def summary(values):
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return statistics.median(values), p90, values[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--bootstrap", help="the arm64 bootstrap, for its size")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--status-table", required=True)
    parser.add_argument("--events-table", required=True)
    parser.add_argument("--events-dir", default="events")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--python-runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # A measured process is killed mid-poll on purpose; its broken pipe is no news.
            pass

    api = RuntimeApi()
    server = QuietServer(("127.0.0.1", 0), api.handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_FORMAT="JSON",
        AWS_ENDPOINT_URL_DYNAMODB=args.endpoint,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        STATUS_TABLE_NAME=args.status_table,
        EVENTS_TABLE_NAME=args.events_table,
    )

    rust_ms, rust_rss = cold_starts(api, [args.binary], env, args.runs)
    py_ms, py_rss = cold_starts(api, [sys.executable, "-c", PYTHON_FUNCTION], env, args.python_runs)

    events = replay_events(corpus(args.events_dir), args.rounds)
    api.reset(events)
    log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"iot-presence-bench-{os.getpid()}.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([args.binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    start = time.perf_counter()
    if not api.done.wait(600):
        proc.kill()
        raise RuntimeError("the replay did not finish in 10 minutes")
    elapsed = time.perf_counter() - start
    replay_rss = rss_peak_kb(proc.pid)
    proc.kill()
    proc.wait()
    log.close()
    with open(log_path, "rb") as f:
        log_lines = [l for l in f.read().splitlines() if b'"event recorded"' in l]
    os.remove(log_path)
    sizes = table_item_sizes(args.endpoint, args.status_table, args.events_table)
    outcomes = {}
    for body in api.responses:
        o = json.loads(body)["outcome"]
        outcomes[o] = outcomes.get(o, 0) + 1
    api.stopping.set()
    server.shutdown()

    r_med, r_p90, r_min = summary(rust_ms)
    p_med, p_p90, p_min = summary(py_ms)
    print("| figure | iot-presence (Rust) | Python + boto3 client | ratio |")
    print("|---|---|---|---|")
    print(f"| cold start, spawn -> first runtime API poll (median of {args.runs} / {args.python_runs}) "
          f"| {r_med:.1f} ms (p90 {r_p90:.1f}, min {r_min:.1f}) | {p_med:.0f} ms (p90 {p_p90:.0f}) "
          f"| {p_med / r_med:.0f}x |")
    print(f"| RSS at first poll (median) | {statistics.median(rust_rss) / 1024:.1f} MiB "
          f"| {statistics.median(py_rss) / 1024:.1f} MiB | {statistics.median(py_rss) / statistics.median(rust_rss):.1f}x |")
    print(f"| peak RSS after replaying {len(events)} events | {replay_rss / 1024:.1f} MiB | - | - |")
    if args.bootstrap and os.path.exists(args.bootstrap):
        size = os.path.getsize(args.bootstrap)
        print(f"| arm64 bootstrap size | {size / 1024 / 1024:.2f} MiB ({size} bytes) | - | - |")
    print()
    latencies = [json.loads(l)["fields"]["latencyMs"] for l in log_lines]
    print(f"per event: handler latency (logged latencyMs, two writes to the local server) median "
          f"{statistics.median(latencies):.1f} ms; one JSON log line of {statistics.mean(len(l) + 1 for l in log_lines):.0f} bytes "
          f"(mean of {len(log_lines)}); " + "; ".join(
              f"{name} {mean:.0f} bytes mean, {largest} max" for name, (mean, largest) in sizes.items()))
    print(f"replay: {len(api.responses)} responses, {len(api.errors)} errors in {elapsed:.1f} s "
          f"({len(events) / elapsed:.0f} events/s against the local server); outcomes {outcomes}")
    if api.errors:
        print("errors:", api.errors[:3], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
