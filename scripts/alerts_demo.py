#!/usr/bin/env python3
"""Plays an alert timeline on a simulated clock: events through the real function, alert
passes through `presence alert-pass --at`, alerts read from an SQS queue subscribed to the
local SNS topic.

Used by scripts/replay.sh after the replay. The timeline (JSON Lines, one lifecycle event per
line) is shifted so that its first event happens now; the clock then advances a simulated
minute at a time, as the scheduled alerter would, running one pass per minute and delivering
each event when the clock reaches it. Every alert that arrives is printed with its simulated
time. `--expect` names the alerts the timeline must produce (kind:client, in any order); any
difference fails the run, so CI checks the whole path: function -> tables -> alerter -> SNS.
"""

import argparse
import json
import os
import subprocess
import sys
import urllib.request

from local_aws import client

MINUTE = 60_000


def subscribed_queue(endpoint):
    """An SNS topic with an SQS queue subscribed to it; returns (topic ARN, queue URL)."""
    sns, sqs = client("sns", endpoint), client("sqs", endpoint)
    topic = sns.create_topic(Name="presence-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="presence-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def drain(endpoint, queue):
    sqs = client("sqs", endpoint)
    received = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return received
        for m in messages:
            envelope = json.loads(m["Body"])
            received.append((envelope["Subject"], json.loads(envelope["Message"])))
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def invoke(url, event):
    request = urllib.request.Request(
        url, data=json.dumps(event).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read().decode() or "{}")
        if response.headers.get("X-Amz-Function-Error") or "outcome" not in body:
            sys.exit(f"alerts: the function failed on {event['clientId']}: {body}")
        return body["outcome"]


def iso(ms):
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timeline")
    parser.add_argument("--invoke-url", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--presence", required=True, help="the presence CLI binary")
    parser.add_argument("--status-table", required=True)
    parser.add_argument("--events-table", required=True)
    parser.add_argument("--minutes-after", type=int, default=12, help="simulated minutes after the last event")
    parser.add_argument("--expect", nargs="*", default=[], help="kind:client alerts the timeline must produce")
    args = parser.parse_args()

    with open(args.timeline) as f:
        events = [json.loads(line) for line in f if line.strip()]
    import time

    start = int(time.time()) * 1000
    shift = start - min(e["timestamp"] for e in events)
    for e in events:
        e["timestamp"] += shift
    events.sort(key=lambda e: e["timestamp"])
    end = events[-1]["timestamp"] + args.minutes_after * MINUTE

    topic, queue = subscribed_queue(args.endpoint)
    env = dict(os.environ, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")

    def alert_pass(at):
        out = subprocess.run(
            [args.presence, "--endpoint-url", args.endpoint, "--status-table", args.status_table,
             "--events-table", args.events_table, "-o", "json",
             "alert-pass", "--topic-arn", topic, "--at", iso(at)],
            env=env, capture_output=True, text=True,
        )
        if out.returncode != 0:
            sys.exit(f"alerts: presence alert-pass failed ({out.returncode}): {out.stderr.strip()}")
        return json.loads(out.stdout)["report"]

    print(f"\nalert timeline {args.timeline}: {len(events)} events shifted to start now; "
          f"one alert pass per simulated minute, threshold and flapping settings at their defaults")
    timeline_clients = {e["clientId"] for e in events}
    received = []
    pending = list(events)
    tick = start
    while tick <= end:
        while pending and pending[0]["timestamp"] < tick:
            invoke(args.invoke_url, pending.pop(0))
        report = alert_pass(tick)
        minutes, seconds = divmod((tick - start) // 1000, 60)
        others = []
        for subject, message in drain(args.endpoint, queue):
            if message["clientId"] in timeline_clients:
                received.append(message)
                print(f"  +{minutes:02d}:{seconds:02d}  {message['kind']:<11} {subject}")
            else:
                others.append(message)
        if others:
            kinds = sorted({m["kind"] for m in others})
            names = sorted(m["clientId"] for m in others)
            listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            print(f"  +{minutes:02d}:{seconds:02d}  {'/'.join(kinds):<11} {len(others)} "
                  f"client{'s' if len(others) > 1 else ''} replayed earlier, offline since "
                  f"their sample events: {listed}")
        if report["errors"]:
            sys.exit(f"alerts: the pass at {iso(tick)} failed: {report['errors']}")
        tick += MINUTE

    shown = set()
    for m in received:
        if m["kind"] not in shown:
            shown.add(m["kind"])
            print(f"  {m['kind']} message: {json.dumps(m)}")
    got = sorted(f"{m['kind']}:{m['clientId']}" for m in received)
    print(f"{len(received)} alerts for the timeline's {len(timeline_clients)} clients from {len(events)} events "
          f"over {(end - start) // MINUTE} simulated minutes")
    if args.expect and got != sorted(args.expect):
        sys.exit(f"alerts: expected {sorted(args.expect)}, got {got}")


if __name__ == "__main__":
    main()
