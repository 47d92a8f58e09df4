#!/usr/bin/env python3
"""The local SNS and SQS server for iot-presence: moto's server on 127.0.0.1 (or a gateway).

dynoxide serves DynamoDB (scripts/local-servers.sh); moto serves what dynoxide does not.

It listens on 127.0.0.1 unless told a docker network's gateway. `--port 0` picks a free port;
the chosen port is printed as the first line of stdout ("PORT <n>") and, with --port-file,
written to that file. With --exit-on-stdin-eof it stops when its parent closes stdin (tests use
this, so that the server never outlives the test process that started it).

Requests run concurrently, as moto's own server runs them. The suite can point its DynamoDB at
this server too (IOT_PRESENCE_TEST_ENDPOINT); tests/concurrency.rs passes there as well.
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
from werkzeug.serving import make_server


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
    app = DomainDispatcherApplication(create_backend_app)
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
