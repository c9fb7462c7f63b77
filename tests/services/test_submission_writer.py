"""The submission writer: concurrent requests stored many per transaction, each told only its own outcome."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from event_loops import run_in_own_loop
from graded_support import RIGHT, graded
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Learner, Submission, SubmissionPart
from app.db.session import make_sessionmaker
from app.services.errors import NotFound
from app.services.submission_store import GradedSubmission
from app.services.submission_views import SubmissionView
from app.services.submission_writer import SubmissionWriter

T = TypeVar("T")
GIVE_UP = 30.0  # seconds: far past any store in these tests; reaching it means the writer hangs


class HeldWriter(SubmissionWriter):
    """A writer whose thread starts only when ``release()`` is called: the jobs queued before it are one batch."""

    held = True

    def start(self) -> None:
        if not self.held:
            super().start()

    def release(self) -> None:
        self.held = False
        super().start()


class GatedSessions(sessionmaker[Session]):
    """Sessions that wait for ``proceed`` before the first is handed out, after setting ``entered``."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(bind=engine, expire_on_commit=False)
        self.entered = threading.Event()
        self.proceed = threading.Event()

    def __call__(self, **local_kw: Any) -> Session:
        self.entered.set()
        self.proceed.wait(GIVE_UP)
        return super().__call__(**local_kw)


def run(main: Callable[[], Awaitable[T]]) -> T:
    """``main()`` on an event loop of its own, failing rather than hanging past ``GIVE_UP``."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), GIVE_UP)

    return run_in_own_loop(bounded)


def stored(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Submission)) or 0


_guest_numbers = itertools.count()


def writer_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "submission-writer")


def guests(session: Session, number: int) -> list[int]:
    learners = [Learner(guest_id=f"guest-writer-{next(_guest_numbers)}") for _ in range(number)]
    session.add_all(learners)
    session.commit()
    return [learner.id for learner in learners]


def batch_of(session: Session, learner_ids: list[int], size: int) -> list[GradedSubmission]:
    """``size`` submissions to the drawn card, seed ``n`` for the n-th: the seed tells them apart."""
    return [graded(session, learner_ids[n % len(learner_ids)], "drawn-kl", n, {"kl": "0.1"}) for n in range(size)]


@pytest.fixture
def writer(engine: Engine) -> Iterator[SubmissionWriter]:
    made = SubmissionWriter(make_sessionmaker(engine))
    yield made
    made.stop(GIVE_UP)


def test_forty_concurrent_submissions_are_stored_in_fewer_transactions(
    session: Session, loaded: Path, writer: SubmissionWriter
) -> None:
    items = batch_of(session, guests(session, 4), 40)

    async def main() -> list[SubmissionView]:
        return list(await asyncio.gather(*(writer.store(item) for item in items)))

    views = run(main)

    assert [view.seed for view in views] == list(range(40))  # each request got its own submission
    assert len({view.id for view in views}) == 40
    assert stored(session) == 40 == writer.stored
    assert 1 <= writer.batches < 40
    rows = dict(session.execute(select(Submission.id, Submission.seed)).all())
    assert {view.id: view.seed for view in views} == rows
    assert session.scalar(select(func.count()).select_from(SubmissionPart)) == 40


def test_a_batch_never_exceeds_its_bound(engine: Engine, session: Session, loaded: Path) -> None:
    items = batch_of(session, guests(session, 2), 20)
    writer = HeldWriter(make_sessionmaker(engine), max_batch=8)

    async def main() -> list[SubmissionView]:
        tasks = [asyncio.ensure_future(writer.store(item)) for item in items]
        await asyncio.sleep(0)  # every request queued before the writer starts
        writer.release()
        return list(await asyncio.gather(*tasks))

    try:
        views = run(main)
    finally:
        writer.stop(GIVE_UP)

    assert len(views) == 20
    assert (writer.batches, writer.stored) == (3, 20)  # 8 + 8 + 4


def test_a_learner_that_does_not_exist_fails_only_its_own_request(
    engine: Engine, session: Session, loaded: Path
) -> None:
    learner_ids = guests(session, 3)
    items = batch_of(session, learner_ids, 10)
    items[6] = graded(session, 987_654, "two-students", 0, RIGHT)
    writer = HeldWriter(make_sessionmaker(engine))

    async def main() -> list[SubmissionView | BaseException]:
        tasks = [asyncio.ensure_future(writer.store(item)) for item in items]
        await asyncio.sleep(0)
        writer.release()  # all ten in one batch, which breaks the foreign key
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    try:
        outcomes = run(main)
    finally:
        writer.stop(GIVE_UP)

    failed = outcomes.pop(6)
    assert isinstance(failed, NotFound) and str(failed) == "no learner 987654"
    assert all(isinstance(outcome, SubmissionView) for outcome in outcomes), outcomes
    assert stored(session) == 9 == writer.stored
    assert writer.batches == 9  # retried one per transaction
    assert session.scalar(select(func.count()).select_from(Submission).where(Submission.learner_id == 987_654)) == 0


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}/no-such-folder/tutor.db",  # the folder is missing: the file cannot be opened
        "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=5",  # nothing listens on port 1
    ],
    ids=["sqlite", "postgresql"],
)
def test_with_the_database_out_of_reach_every_request_fails_and_none_hangs(
    session: Session, loaded: Path, tmp_path: Path, url: str
) -> None:
    items = batch_of(session, guests(session, 2), 6)
    unreachable = create_engine(url.format(tmp=tmp_path))
    writer = SubmissionWriter(sessionmaker(bind=unreachable))

    async def main() -> list[SubmissionView | BaseException]:
        return list(await asyncio.gather(*(writer.store(item) for item in items), return_exceptions=True))

    try:
        first = run(main)
        second = run(main)  # the writer is still there for the next requests
    finally:
        writer.stop(GIVE_UP)
        unreachable.dispose()

    assert [type(outcome) for outcome in first + second] == [OperationalError] * 12
    assert (writer.batches, writer.stored) == (0, 0)


def test_stop_stores_what_was_queued_before_it(session: Session, loaded: Path, writer: SubmissionWriter) -> None:
    items = batch_of(session, guests(session, 3), 25)
    before = writer_threads()

    async def main() -> list[SubmissionView]:
        tasks = [asyncio.ensure_future(writer.store(item)) for item in items]
        await asyncio.sleep(0)  # all queued
        await asyncio.to_thread(writer.stop, GIVE_UP)
        return list(await asyncio.gather(*tasks))

    views = run(main)

    assert len(views) == 25
    assert stored(session) == 25 == writer.stored
    assert writer_threads() == before  # the thread has ended

    # A store after the stop starts the writer again.
    [later] = batch_of(session, guests(session, 1), 1)

    async def again() -> SubmissionView:
        return await writer.store(later)

    assert run(again).seed == 0
    assert stored(session) == 26


def test_a_request_cancelled_before_its_turn_is_dropped_and_the_writer_goes_on(
    engine: Engine, session: Session, loaded: Path
) -> None:
    items = batch_of(session, guests(session, 2), 3)
    writer = HeldWriter(make_sessionmaker(engine))

    async def main() -> list[SubmissionView | BaseException]:
        tasks = [asyncio.ensure_future(writer.store(item)) for item in items]
        await asyncio.sleep(0)
        tasks[1].cancel()
        await asyncio.sleep(0)  # the cancellation reaches the job's future
        writer.release()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    try:
        outcomes = run(main)
        [later] = batch_of(session, guests(session, 1), 1)

        async def again() -> SubmissionView:
            return await writer.store(later)

        after = run(again)
    finally:
        writer.stop(GIVE_UP)

    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert [outcome.seed for outcome in (outcomes[0], outcomes[2]) if isinstance(outcome, SubmissionView)] == [0, 2]
    assert sorted(session.scalars(select(Submission.seed))) == [0, 0, 2]  # seed 1 was dropped; the later one is 0
    assert after.seed == 0


def test_a_request_cancelled_while_its_batch_is_stored_is_stored_and_nothing_breaks(
    engine: Engine, session: Session, loaded: Path
) -> None:
    items = batch_of(session, guests(session, 2), 2)
    factory = GatedSessions(engine)
    writer = SubmissionWriter(factory)
    loop_errors: list[dict[str, Any]] = []

    async def main() -> tuple[BaseException | SubmissionView, ...]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        gone = asyncio.ensure_future(writer.store(items[0]))
        await asyncio.to_thread(factory.entered.wait, GIVE_UP)  # the writer has the job and is opening a session
        gone.cancel()
        factory.proceed.set()
        kept = await writer.store(items[1])
        outcome = (await asyncio.gather(gone, return_exceptions=True))[0]
        await asyncio.sleep(0.05)  # time for a late settlement of the cancelled job to misbehave
        return outcome, kept

    try:
        cancelled, kept = run(main)
    finally:
        writer.stop(GIVE_UP)

    assert isinstance(cancelled, asyncio.CancelledError)
    assert isinstance(kept, SubmissionView) and kept.seed == 1
    assert sorted(session.scalars(select(Submission.seed))) == [0, 1]  # the cancelled one was already on its way
    assert loop_errors == []


def test_requests_on_different_event_loops_each_get_their_own_answer(
    session: Session, loaded: Path, writer: SubmissionWriter
) -> None:
    items = batch_of(session, guests(session, 2), 12)
    results: dict[int, list[int]] = {}

    def one_loop(index: int) -> None:
        async def main() -> list[SubmissionView]:
            return list(await asyncio.gather(*(writer.store(item) for item in items[index::3])))

        results[index] = [view.seed for view in asyncio.run(main())]

    threads = [threading.Thread(target=one_loop, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GIVE_UP)

    assert results == {index: list(range(index, 12, 3)) for index in range(3)}
    assert stored(session) == 12
