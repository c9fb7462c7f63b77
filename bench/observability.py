"""What the request id, metrics and access-log middleware costs on ``GET /healthz``, the cheapest request.

Run: ``python bench/observability.py [--requests 5000] [--rounds 7]``. Calls the app in-process (plain ASGI
calls, no sockets, no client), timing the CPU the process spends per request. Four variants of the same
app, interleaved round by round so that a machine shared with other work treats them alike:

* ``bare``: the app without ``RequestObservability`` and ``SecureCookiesOverHttps``;
* ``metrics``: with them, the access log off (``ACCESS_LOG=false``);
* ``text log`` and ``json log``: with them and one log line per request, formatted and written to /dev/null.

Prints the best and median microseconds per request of each, and the difference to ``bare``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.observability import logging_config
from app.web.forwarded import SecureCookiesOverHttps
from app.web.observability import RequestObservability

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/healthz",
    "raw_path": b"/healthz",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        raise RuntimeError(f"/healthz answered {message['status']}")


def make(folder: Path, *, observed: bool, access_log: bool) -> FastAPI:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{folder / 'bench.db'}",
        secret_key="bench-" * 6,
        outbox_interval=0,
        access_log=access_log,
    )
    app = create_app(settings)
    if not observed:
        app.user_middleware = [
            m for m in app.user_middleware if m.cls not in (RequestObservability, SecureCookiesOverHttps)
        ]
    return app


async def per_request(app: FastAPI, requests: int) -> float:
    # CPU time of this process, not wall time: on a machine shared with other work it is the steadier figure.
    started = time.process_time()
    for _ in range(requests):
        await app(dict(SCOPE), _receive, _send)
    return (time.process_time() - started) / requests * 1e6


def log_to_devnull(log_format: str) -> None:
    config = logging_config("json" if log_format == "json" else "text")
    config["handlers"]["stderr"] = {**config["handlers"]["stderr"], "class": "logging.FileHandler"}
    del config["handlers"]["stderr"]["stream"]
    config["handlers"]["stderr"]["filename"] = "/dev/null"
    logging.config.dictConfig(config)


async def run(requests: int, rounds: int) -> dict[str, list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-observability-"))
    apps = {
        "bare": make(folder, observed=False, access_log=False),
        "metrics": make(folder, observed=True, access_log=False),
        "text log": make(folder, observed=True, access_log=True),
        "json log": make(folder, observed=True, access_log=True),
    }
    times: dict[str, list[float]] = {name: [] for name in apps}
    for app in apps.values():  # warm up: the middleware stack is built on the first call
        await per_request(app, 500)
    for _ in range(rounds):
        for name, app in apps.items():
            if name.endswith("log"):
                log_to_devnull(name.split()[0])
            times[name].append(await per_request(app, requests))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    times = asyncio.run(run(args.requests, args.rounds))
    bare = min(times["bare"])
    print(f"GET /healthz in-process, {args.requests} requests x {args.rounds} rounds (µs per request)")
    print(f"{'variant':<10} {'best':>8} {'median':>8} {'vs bare':>8}")
    for name, values in times.items():
        best = min(values)
        print(f"{name:<10} {best:8.1f} {statistics.median(values):8.1f} {best - bare:+8.1f}")


if __name__ == "__main__":
    main()
