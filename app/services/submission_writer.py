"""The submission writer: one thread storing the graded submissions of concurrent requests, many per transaction.

Why: a submission costs a few inserts and a commit, and each statement costs more in Python than in the
database. With a transaction per request, 40 request threads queue for SQLite's single write lock (or for
PostgreSQL's commits) while fighting for the interpreter. Here a request grades its answers, hands the result
to the writer and waits; the writer takes everything that arrived meanwhile (up to ``max_batch``) and stores it
with one statement per table and one commit (``submission_store.store_submissions``). Nothing is acknowledged
before its commit: a request gets its submission back, with its id, only once it is stored.

When a batch breaks a constraint, its submissions are stored again one per transaction, so only the faulty one
fails (a learner deleted meanwhile: NotFound) and the others are unaffected. When the database is down, every
request of the batch gets the database's error, which the app answers with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.services.errors import NotFound
from app.services.submission_store import GradedSubmission, store_submissions
from app.services.submission_views import SubmissionView

log = logging.getLogger(__name__)

MAX_BATCH: Final = 64


@dataclass(frozen=True)
class _Job:
    graded: GradedSubmission
    loop: asyncio.AbstractEventLoop
    result: asyncio.Future[SubmissionView]  # of ``loop``: settled there, never from the writer's thread


_STOP: Final = object()


class SubmissionWriter:
    """``writer.start()``; ``await writer.store(graded)`` from requests; ``writer.stop()`` at shutdown."""

    def __init__(self, factory: sessionmaker[Session], *, max_batch: int = MAX_BATCH) -> None:
        self._factory = factory
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Kept from batch to batch: taking one from the pool pings the database first (a round trip per batch).
        self._connection: Connection | None = None
        self.batches = 0  # transactions committed, for the benchmark's figures and the tests
        self.stored = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="submission-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Store what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            if not self._thread.is_alive():  # else it is still storing: a later store() must not start another
                self._thread = None
            log.info("submission writer stopped: %d submissions stored in %d transactions", self.stored, self.batches)

    async def store(self, graded: GradedSubmission) -> SubmissionView:
        """Store ``graded`` with whatever else is waiting; the stored submission once it is committed.

        Raises what storing raised: NotFound for a learner that is gone, the database's errors when it is down.
        """
        self.start()  # started with the app; here too for an app served without its lifespan (a bare test client)
        loop = asyncio.get_running_loop()
        job = _Job(graded, loop, loop.create_future())
        self._queue.put(job)
        return await job.result

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._release()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True  # store this batch first
                    break
                batch.append(more)
            # A job whose request was cancelled before its turn is dropped: nobody waits for its answer. (Read
            # from this thread, ``cancelled()`` may lag; a job cancelled meanwhile is stored, as it would be a
            # moment later.)
            jobs = [job for job in batch if isinstance(job, _Job) and not job.result.cancelled()]
            if not jobs:
                continue
            # In the order of their cards: concurrent writers (other workers, other servers) then update the
            # cards' tally rows in the same order, and cannot deadlock on them.
            jobs.sort(key=lambda job: job.graded.card.card_id)
            outcomes: list[tuple[_Job, SubmissionView | BaseException]] = []
            try:
                self._write(jobs, outcomes)
            except Exception as exc:  # a bug, not the database: the requests get it, the writer goes on
                log.exception("the submission writer failed")
                settled = {id(job) for job, _ in outcomes}
                outcomes += [(job, exc) for job in jobs if id(job) not in settled]
            _settle(outcomes)

    def _connect(self) -> Connection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._release()
            bind = self._factory.kw["bind"]
            self._connection = bind.connect()
        return self._connection

    def _release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):  # a connection the database dropped: nothing to give back
                connection.close()

    def _write(
        self, jobs: list[_Job], outcomes: list[tuple[_Job, SubmissionView | BaseException]], *, retry: bool = True
    ) -> None:
        """Store ``jobs`` in one transaction; appends each one's stored submission, or error, to ``outcomes``."""
        try:
            with self._factory(bind=self._connect()) as session:
                try:
                    views = store_submissions(session=session, graded=[job.graded for job in jobs])
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except IntegrityError:
            if len(jobs) > 1:
                for job in jobs:  # one per transaction: only the faulty one fails
                    self._write([job], outcomes)
                return
            outcomes.append((jobs[0], NotFound(f"no learner {jobs[0].graded.learner_id}")))
            return
        except DBAPIError as exc:
            if _is_transient(exc) and retry:
                # A deadlock or serialization failure with another writer: PostgreSQL rolled this one back.
                self._write(jobs, outcomes, retry=False)
                return
            if exc.connection_invalidated and retry:
                # The kept connection was dropped while idle (a database restart): once more, on a new one.
                self._write(jobs, outcomes, retry=False)
                return
            outcomes += [(job, exc) for job in jobs]  # the database is unreachable, or locked past its timeout
            return
        except Exception as exc:
            outcomes += [(job, exc) for job in jobs]
            return
        self.batches += 1
        self.stored += len(jobs)
        outcomes += zip(jobs, views, strict=True)


# PostgreSQL's "serialization_failure" and "deadlock_detected": the transaction may simply be run again.
_TRANSIENT_STATES: Final = frozenset({"40001", "40P01"})


def _is_transient(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _TRANSIENT_STATES


def _settle(outcomes: list[tuple[_Job, SubmissionView | BaseException]]) -> None:
    """Hand each request its outcome on its own event loop: one wake-up per loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, SubmissionView | BaseException]]] = {}
    for job, outcome in outcomes:
        by_loop.setdefault(job.loop, []).append((job, outcome))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_set_results, settled)


def _set_results(settled: list[tuple[_Job, SubmissionView | BaseException]]) -> None:
    for job, outcome in settled:
        if job.result.done():  # cancelled: the request is gone
            continue
        if isinstance(outcome, BaseException):
            job.result.set_exception(outcome)
        else:
            job.result.set_result(outcome)
