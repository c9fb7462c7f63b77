"""Prometheus metrics: requests by route template, submissions stored, grading errors, the outbox's backlog.

Counters and histograms live in the process that counts them. With several worker processes each keeps its
own, so ``tutor serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR`` at an empty folder before the workers
start: prometheus_client then writes every value to a memory-mapped file there, and ``GET /metrics`` (answered
by whichever worker gets the scrape) adds up all the workers' files. The outbox gauges are read from the
database at scrape time instead, so they are right whichever worker answers.

Label values are bounded: the route is the template (``/api/v1/cards/{slug}``), never the raw path, and the
method is one of the HTTP methods the app serves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import case, event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.integrations import OutboxMessage
from app.db.models import Submission, utcnow
from app.observability import MULTIPROC_ENV

logger = logging.getLogger(__name__)

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From a fast /healthz to a slow gradebook export.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "tutor_http_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tutor_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route template and status",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
SUBMISSIONS_STORED = Counter("tutor_submissions_stored", "Submissions graded and committed to the database")
GRADING_ERRORS = Counter(
    "tutor_grading_errors",
    "Answers that could not be graded: invalid_answer (422: unreadable answers, a seed with no variant) or "
    "server_error (5xx while grading or storing)",
    ["reason"],
)

# The children of labelled metrics, looked up once per label combination: .labels() takes a lock and checks
# the labels on every call, which the request path should not pay for.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request: ``observe_request("GET", "/healthz", 200, 0.0004)``."""
    # Any word can be sent as a method: the unknown ones share one label (and one entry here).
    key = (method if method in METHODS else "OTHER", route, status)
    found = _children.get(key)
    if found is None:
        found = _children[key] = (
            HTTP_REQUESTS.labels(key[0], route, str(status)),
            HTTP_LATENCY.labels(key[0], route, str(status)),
        )
    found[0].inc()
    found[1].observe(seconds)


# --- submissions stored: counted when their transaction commits, whichever service wrote them ----------------

_NEW_SUBMISSIONS: Final = "tutor.new_submissions"


def _after_flush(session: Session, flush_context: Any) -> None:
    # The session's `new` still lists what this flush inserted.
    added = sum(1 for row in session.new if isinstance(row, Submission))
    if added:
        session.info[_NEW_SUBMISSIONS] = session.info.get(_NEW_SUBMISSIONS, 0) + added


def note_stored_submissions(session: Session, added: int) -> None:
    """Count ``added`` submissions written with a Core insert (no ORM flush sees them) when the session commits."""
    session.info[_NEW_SUBMISSIONS] = session.info.get(_NEW_SUBMISSIONS, 0) + added


def _after_commit(session: Session) -> None:
    added = session.info.pop(_NEW_SUBMISSIONS, 0)
    if added:
        SUBMISSIONS_STORED.inc(added)


def _after_rollback(session: Session) -> None:
    session.info.pop(_NEW_SUBMISSIONS, None)


def count_stored_submissions(factory: sessionmaker[Session]) -> None:
    """Count every submission that the sessions of ``factory`` commit (and none that are rolled back)."""
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "after_commit", _after_commit)
    event.listen(factory, "after_rollback", _after_rollback)


# --- the scrape --------------------------------------------------------------------------------------------


class _OutboxBacklog(Collector):
    """The outbox's messages waiting (and due now) and failed, counted on the (status, next_attempt_at) index."""

    def __init__(self, factory: sessionmaker[Session], now: datetime) -> None:
        self.factory = factory
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.factory() as session:
                waiting, due = session.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(case((OutboxMessage.next_attempt_at <= self.now, 1), else_=0)), 0),
                    ).where(OutboxMessage.status == "pending")
                ).one()
                failed = session.scalar(select(func.count()).where(OutboxMessage.status == "failed")) or 0
        except SQLAlchemyError as exc:
            # The scrape still answers with the request metrics; readiness reports the database itself.
            logger.warning("metrics: the outbox could not be counted: %s", exc.__class__.__name__)
            return
        messages = GaugeMetricFamily(
            "tutor_outbox_messages",
            "Messages to LMSs and webhooks, by status (sent ones not counted)",
            labels=["status"],
        )
        messages.add_metric(["pending"], waiting)
        messages.add_metric(["failed"], failed)
        yield messages
        yield GaugeMetricFamily(
            "tutor_outbox_due",
            "Pending messages whose time to be sent has come: a backlog that keeps growing is stuck",
            value=due,
        )


class _ThisProcess(Collector):
    """Everything in the default registry (the metrics above and the process's own) when one process serves."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def render_metrics(factory: sessionmaker[Session], accept: str | None) -> tuple[bytes, str]:
    """The body and content type of a scrape, in the format the scraper asks for (``Accept``)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir() is not None:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(_OutboxBacklog(factory, utcnow()))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
