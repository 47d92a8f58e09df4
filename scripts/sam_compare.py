#!/usr/bin/env python3
"""Checks `sam local` against the `cargo lambda watch` path: same events, same results.

Used by scripts/sam-local.sh. The sample events (`events/*.json`) went through
`sam local invoke -e FILE` one by one (their answers are in --sam-results, one JSON line per
file: {"source", "answer"}); this sends the same files, in the same order, to the reference
function (--ref-invoke-url, `cargo lambda watch`), then sends every scenario event
(`events/scenarios/*.jsonl`) to both (--sam-invoke-url is `sam local start-lambda`). It then
compares every answer, and per client the status items of the two table pairs, prints the
status table, and exits 1 on any difference, listing it.
"""

import argparse
import json
import sys

from replay import invoke, load_events, print_table, row, status_items

COMPARED = ["connected", "eventType", "sessionIdentifier", "versionNumber", "eventTimestamp",
            "disconnectReason", "connectedAt", "disconnectedAt", "lastEventKey"]


def answer_key(ok, body):
    """What must match between the two paths: the outcome, or the kind of failure."""
    if ok:
        return ("ok", body.get("clientId"), body.get("eventKey"), body.get("outcome"))
    return ("error", body.get("errorType"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", nargs="+", required=True)
    parser.add_argument("--scenarios", required=True)
    parser.add_argument("--sam-results", required=True)
    parser.add_argument("--sam-invoke-url", required=True)
    parser.add_argument("--ref-invoke-url", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--sam-status-table", required=True)
    parser.add_argument("--ref-status-table", required=True)
    args = parser.parse_args()

    differences = []
    clients = set()
    with open(args.sam_results) as f:
        sam_answers = {r["source"]: r["answer"] for r in map(json.loads, f)}
    samples = list(load_events(args.samples))
    for source, payload in samples:
        if source not in sam_answers:
            differences.append(f"{source}: no `sam local invoke` answer")
            continue
        sam_body = sam_answers[source]
        sam_key = answer_key("outcome" in sam_body, sam_body)
        ref_key = answer_key(*invoke(args.ref_invoke_url, payload))
        if sam_key != ref_key:
            differences.append(f"{source}: sam {sam_key} != cargo lambda {ref_key}")
        if sam_key[0] == "ok":
            clients.add(sam_key[1])
    scenario_events = list(load_events([args.scenarios]))
    for source, payload in scenario_events:
        sam_key = answer_key(*invoke(args.sam_invoke_url, payload))
        ref_key = answer_key(*invoke(args.ref_invoke_url, payload))
        if sam_key != ref_key:
            differences.append(f"{source}: sam {sam_key} != cargo lambda {ref_key}")
        if sam_key[0] == "ok":
            clients.add(sam_key[1])

    sam_items = status_items(args.endpoint, args.sam_status_table, clients)
    ref_items = status_items(args.endpoint, args.ref_status_table, clients)
    for client in sorted(clients):
        sam, ref = sam_items.get(client, {}), ref_items.get(client, {})
        for name in COMPARED:
            if sam.get(name) != ref.get(name):
                differences.append(f"{client}.{name}: sam {sam.get(name)} != cargo lambda {ref.get(name)}")

    print()
    print_table(
        [row(sam_items[c]) for c in sorted(sam_items)],
        ["CLIENT", "CONNECTED", "SINCE", "REASON", "SESSION", "VERSION"],
    )
    print()
    total = len(samples) + len(scenario_events)
    if differences:
        print(f"sam local and cargo lambda DIFFER ({len(differences)}):", file=sys.stderr)
        for d in differences:
            print(f"  {d}", file=sys.stderr)
        sys.exit(1)
    print(
        f"{len(samples)} sample files through `sam local invoke -e`, {len(scenario_events)} scenario "
        f"events through `sam local start-lambda`: every answer and all {len(clients)} status "
        f"items equal the cargo lambda watch run's ({total} events)"
    )


if __name__ == "__main__":
    main()
