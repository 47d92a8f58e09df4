#!/usr/bin/env python3
"""Creates the iot-presence tables on a local DynamoDB server from template.yaml's own
definitions, so that the template is the one source of truth for key schemas, indexes and TTL.

    local_tables.py --endpoint http://127.0.0.1:8000 --status NAME --events NAME
    local_tables.py --print      # the CreateTable requests, as JSON, without a server

Deployment-only properties (names, encryption, PITR, deletion protection) are left out: they
mean nothing to a local server. Everything that shapes the data is taken over verbatim.
"""

import argparse
import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = {"StatusTable": "status", "EventsTable": "events"}
# CreateTable takes these as they are in CloudFormation.
SHAPE = ["AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode"]


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !If, ...), kept as {tag: value}."""


def _tagged(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"Fn::{tag_suffix}" if tag_suffix != "Ref" else "Ref": value}


CfnLoader.add_multi_constructor("!", _tagged)


def table_requests(template_path):
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    requests = {}
    for logical_id, role in TABLES.items():
        props = template["Resources"][logical_id]["Properties"]
        request = {key: props[key] for key in SHAPE if key in props}
        ttl = props.get("TimeToLiveSpecification")
        requests[role] = {"CreateTable": request, "TimeToLive": ttl}
    return requests


def function_environment(template_path, logical_id="PresenceFunction"):
    """The environment variable names the template gives a function."""
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    props = template["Resources"][logical_id]["Properties"]
    return sorted(props["Environment"]["Variables"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default=os.path.join(ROOT, "template.yaml"))
    parser.add_argument("--endpoint")
    parser.add_argument("--status", help="status table name")
    parser.add_argument("--events", help="event table name")
    parser.add_argument("--print", action="store_true", help="print the requests and exit")
    args = parser.parse_args()

    requests = table_requests(args.template)
    if args.print:
        printed = dict(
            requests,
            functionEnvironment=function_environment(args.template),
            alerterEnvironment=function_environment(args.template, "AlerterFunction"),
            reconcilerEnvironment=function_environment(args.template, "ReconcilerFunction"),
        )
        json.dump(printed, sys.stdout, indent=2, sort_keys=True)
        print()
        return
    if not (args.endpoint and args.status and args.events):
        parser.error("--endpoint, --status and --events are required (or --print)")
    # Local only: loopback, or the gateway of the docker network scripts/sam-local.sh created.
    local = ["http://127.", "http://localhost", "http://[::1]"]
    if os.environ.get("IOT_PRESENCE_DOCKER_GATEWAY"):
        local.append(f"http://{os.environ['IOT_PRESENCE_DOCKER_GATEWAY']}:")
    if not args.endpoint.startswith(tuple(local)):
        parser.error(f"refusing a non-local endpoint: {args.endpoint}")

    from local_aws import client as local_client

    client = local_client("dynamodb", args.endpoint)
    for role, name in (("status", args.status), ("events", args.events)):
        spec = requests[role]
        client.create_table(TableName=name, **spec["CreateTable"])
        if spec["TimeToLive"]:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=spec["TimeToLive"])


if __name__ == "__main__":
    main()
