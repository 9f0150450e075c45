"""Run a fake ERP or ECP in its own process until interrupted.

    python -m orderbridge.fake_apis erp --api-key KEY [--latency 0.05] [--latency-method POST]

Prints `listening on http://127.0.0.1:PORT` once it accepts requests. A separate process keeps
the server's own work off the interpreter that is being measured or tested.
"""
from __future__ import annotations

import argparse
import signal
import threading

from orderbridge.fake_apis import FakeEcp, FakeErp
from orderbridge.fake_apis._server import Latency, RecordedRequest


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, serve, and stop on SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m orderbridge.fake_apis", description=__doc__.split("\n")[0])
    parser.add_argument("system", choices=["erp", "ecp"])
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--latency-method", help="add the latency to requests of this HTTP method only")
    args = parser.parse_args(argv)
    latency: Latency = args.latency
    if args.latency_method:
        method, seconds = args.latency_method.upper(), args.latency

        def latency(request: RecordedRequest) -> float:
            return seconds if request.method == method else 0.0

    server = (FakeErp if args.system == "erp" else FakeEcp)(api_key=args.api_key, latency=latency)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        print(f"listening on {server.base_url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
