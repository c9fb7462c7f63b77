"""How ``tutor serve`` runs uvicorn: workers, proxy headers, logs and the metrics of several processes.

``add_options(parser, settings)`` adds the options to the ``serve`` command; ``uvicorn_options(args)`` prepares
the environment the worker processes inherit and returns the keyword arguments for ``uvicorn.run``.

Every worker is a process of its own (its own event loop, database pool and interpreter) listening on the
same socket. The loop is uvloop, accepting every waiting connection at each turn (``app.event_loop``), and the
HTTP parser httptools; the loop sets TCP_NODELAY on every connection it accepts (uvloop's TCP transport does so
for each, in every worker), so small responses are not held back by Nagle's algorithm.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from app.config import Settings
from app.observability import MULTIPROC_ENV, logging_config


def add_options(serve: argparse.ArgumentParser, settings: Settings) -> None:
    serve.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=settings.proxy_headers,
        help="trust X-Forwarded-Proto and X-Forwarded-For from --forwarded-allow-ips (env PROXY_HEADERS; on)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=settings.forwarded_allow_ips,
        metavar="IPS",
        help="proxy addresses to trust, comma-separated, or '*' "
        f"(env FORWARDED_ALLOW_IPS; {settings.forwarded_allow_ips})",
    )
    serve.add_argument(
        "--log-format",
        choices=("json", "text"),
        default=settings.log_format,
        help=f"one JSON object a line, or text (env LOG_FORMAT; {settings.log_format})",
    )
    serve.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default=settings.log_level,
        help=f"(env LOG_LEVEL; {settings.log_level})",
    )


def worker_count(text: str) -> int:
    """``--workers``: a whole number from 1 to 64."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{count} is out of range: from 1 to 64 workers")
    return count


def _metrics_dir() -> None:
    """An empty folder for the workers' metric files, made for this run unless PROMETHEUS_MULTIPROC_DIR names one.

    A folder that is named is emptied of the files of a previous run, as prometheus_client asks: their counts
    would otherwise be added to this run's.
    """
    named = os.environ.get(MULTIPROC_ENV)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return
    made = tempfile.mkdtemp(prefix="tutor-metrics-")
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = made


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments for ``uvicorn.run``; sets the environment that the workers read their settings from.

    The workers are started afresh (spawned) and build the app from the environment, so the options that the
    app reads itself travel there: ``ACCESS_LOG`` and, with several workers, ``PROMETHEUS_MULTIPROC_DIR``.
    """
    os.environ["ACCESS_LOG"] = "false" if args.no_access_log else "true"
    if args.workers > 1 or os.environ.get(MULTIPROC_ENV):
        _metrics_dir()
    return {
        "workers": args.workers,
        "loop": "app.event_loop:new_event_loop",
        "http": "httptools",
        # The app has no WebSocket routes: loading a WebSocket protocol cost every start some 8 ms for nothing.
        "ws": "none",
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "log_config": logging_config(args.log_format, args.log_level),
        "log_level": args.log_level.lower(),
        # The app logs each request itself (with its request id and duration): uvicorn's line would repeat it.
        "access_log": False,
    }
