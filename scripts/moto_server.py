#!/usr/bin/env python3
"""A local DynamoDB-compatible server for iot-presence: moto's server, one request at a time.

Why a wrapper instead of `moto_server`: moto's server is threaded and its in-memory store is
not thread-safe, so two concurrent conditional updates of one item can both pass -- a lost
update that real DynamoDB never allows. Our concurrency tests exist to catch exactly that, so
this launcher applies requests one at a time (a single lock around moto's WSGI app), which is
what DynamoDB's per-item atomicity guarantees. Connections are still accepted concurrently.

It listens on 127.0.0.1 only. `--port 0` picks a free port; the chosen port is printed as the
first line of stdout ("PORT <n>") and, with --port-file, written to that file.
With --exit-on-stdin-eof it stops when its parent closes stdin (tests use this, so that the
server never outlives the test process that started it).
"""

import argparse
import logging
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.dynamodb.models.table import Table
from werkzeug.serving import make_server


class Serialized:
    """Runs the wrapped WSGI app, including producing its whole body, under one lock."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


def query_one_partition():
    """Make a Query on a table's own key read one partition, as DynamoDB does.

    moto answers every Query by listing and sorting the whole table, then filtering on the
    partition key, so a Query costs O(table) and a test that reads 10,000 clients' histories
    costs O(clients x rows). Its own filter keeps only items of the asked partition, so handing
    it that partition alone gives the same answer. Index queries are left as they are. Safe
    because requests run one at a time (Serialized): the override lives for one call only.
    """
    original = Table.query

    def query(self, hash_key, *args, **kwargs):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on: 127.0.0.1, or the gateway of a docker network the caller "
        "created (scripts/sam-local.sh); never 0.0.0.0",
    )
    parser.add_argument("--port-file", help="write the chosen port to this file")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    if args.host in ("0.0.0.0", "::", ""):
        sys.exit("moto_server: refusing to listen on every address; pass 127.0.0.1 or a gateway")

    # One log line per request costs more than some requests; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    query_one_partition()
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"PORT {port}", flush=True)

    if args.exit_on_stdin_eof:
        def watch_stdin():
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()

    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
