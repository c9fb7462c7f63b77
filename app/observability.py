"""Logs: one JSON object a line (or plain text for a terminal), each carrying the id of the request it belongs to.

``logging_config("json")`` is a :func:`logging.config.dictConfig` dictionary; ``tutor serve`` hands it to uvicorn
(which applies it in every worker before the app is imported) and a gunicorn configuration can hand it over as
``logconfig_dict`` (see ``gunicorn.conf.py``). The request id lives in a context variable that the request
middleware (``app.web.observability``) sets, so any line logged while a request is handled carries it.

A JSON line looks like::

    {"time": "2026-01-31T12:00:00.123Z", "level": "INFO", "logger": "tutor.access", "message": "GET /healthz 200",
     "request_id": "5f0c…", "method": "GET", "path": "/healthz", "status": 200, "duration_ms": 0.41}
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["json", "text"]

ACCESS_LOGGER: Final = "tutor.access"
# Where prometheus_client keeps the metrics of several worker processes (app.metrics, app.serving).
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# An incoming X-Request-ID is kept only when it is short and made of characters that cannot forge a log line or
# a header (a UUID, a hex digest, a load balancer's "Root=1-…" trace id); anything else is replaced by a new id.
MAX_REQUEST_ID: Final = 128
_REQUEST_ID: Final = re.compile(rf"[A-Za-z0-9._:;=+/@-]{{1,{MAX_REQUEST_ID}}}")

# uvicorn adds a coloured copy of each message as an extra; it is noise in a JSON line.
_NOT_FIELDS: Final = (*RESERVED_ATTRS, "color_message", "taskName")


def valid_request_id(value: str) -> bool:
    """Whether an incoming ``X-Request-ID`` may be used as it is: ``valid_request_id("5f0c-9a")`` is True."""
    return _REQUEST_ID.fullmatch(value) is not None


# A new id is this process's random prefix and a count: unique across processes and restarts like a random
# UUID, at a fraction of the cost of reading the system's randomness on every request (ids need not be secret).
_ids = itertools.count(1)
_prefix = os.urandom(8).hex()


def _new_prefix() -> None:
    global _prefix
    _prefix = os.urandom(8).hex()


# A worker forked from a process that had already made its prefix gets one of its own.
os.register_at_fork(after_in_child=_new_prefix)


def new_request_id() -> str:
    """32 hex digits: 16 of a random per-process prefix, then 16 of a counter."""
    return f"{_prefix}{next(_ids):016x}"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or None outside a request) on every record a handler formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonLineFormatter(JsonFormatter):
    """python-json-logger's formatter with the time first, in UTC with milliseconds, and short field names."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=list(_NOT_FIELDS),
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        log_data["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_data, record, message_dict)


class TextFormatter(logging.Formatter):
    """``2026-01-31 12:00:00,123 INFO tutor.access [5f0c…] GET /healthz 200 0.4 ms`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def logging_config(log_format: LogFormat = "text", level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the server: every logger to stderr in ``log_format``, requests logged by the app.

    uvicorn's and gunicorn's own access loggers are silenced: the app's middleware writes one line per request
    with the fields a log collector needs, and two lines per request would double the cost and the volume.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"line": {"()": JsonLineFormatter if log_format == "json" else TextFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # Their own handlers are dropped so that each line goes out once, through the root's.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "gunicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # Alembic announces each of its plugins when the readiness check reads the migration scripts.
            "alembic": {"level": "WARNING"},
        },
    }
