"""Values kept per engine for a few seconds, and forgotten the moment this process writes what they were read from."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, create_engine, delete, update
from sqlalchemy.orm import Session

import app.services.engine_cache as engine_cache
from app.db.integrations import Webhook
from app.db.models import Learner
from app.services.engine_cache import EngineCache, forget_on_change, session_engine


class Clock:
    """``time.monotonic`` as the cache reads it, moved on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(engine_cache, "time", SimpleNamespace(monotonic=made.monotonic))
    return made


@pytest.fixture
def engines() -> Iterator[tuple[Engine, Engine]]:
    """Two engines that never connect: the cache only uses them as keys."""
    one, two = create_engine("sqlite://"), create_engine("sqlite://")
    yield one, two
    one.dispose()
    two.dispose()


# Listeners are added to every Session of the process for good: made once per run, not once per test.
learners_seen: EngineCache[str, str] = EngineCache(seconds=60)
forget_on_change(learners_seen, Learner)
learners_existing: EngineCache[str, str] = EngineCache(seconds=60)
forget_on_change(learners_existing, Learner, new_rows=False)
_guest_numbers = itertools.count()


def new_guest() -> Learner:
    return Learner(guest_id=f"guest-cache-{next(_guest_numbers)}")


# --- EngineCache ------------------------------------------------------------------------------------------


def expired_card(clock: Clock, engine: Engine) -> EngineCache[str, int]:
    """A cache with a grace period whose value for "card" (7) has just expired."""
    cache: EngineCache[str, int] = EngineCache(seconds=1.0, grace=0.5)
    cache.put(engine, "card", 7)
    clock.now += 1.0
    return cache


def test_with_grace_one_caller_reads_an_expired_value_again_while_the_others_keep_it(
    clock: Clock, engines: tuple[Engine, Engine]
) -> None:
    engine, _ = engines
    cache = expired_card(clock, engine)
    assert cache.get(engine, "card") is None  # the first to find it expired reads the database
    assert [cache.get(engine, "card") for _ in range(3)] == [7, 7, 7]  # the others meanwhile keep the old value
    clock.now += 0.5
    assert cache.get(engine, "card") is None  # the refresh never came: the next caller tries
    assert cache.get(engine, "card") == 7
    cache.put(engine, "card", 8)
    assert cache.get(engine, "card") == 8
    clock.now += (1 - engine_cache.SPREAD) * 0.999  # kept at least the seconds less the spread
    assert cache.get(engine, "card") == 8


def test_a_refresh_claimed_on_the_event_loop_is_read_by_the_fetch_that_follows(
    clock: Clock, engines: tuple[Engine, Engine]
) -> None:
    engine, _ = engines
    cache = expired_card(clock, engine)
    assert cache.get(engine, "card") is None  # this request goes to the thread pool...
    assert cache.get(engine, "card") == 7  # ...while the others keep the old value
    assert cache.fetch(engine, "card", lambda: 8) == 8  # ...and reads the new one there
    assert cache.get(engine, "card") == 8
    # Before, the fetch found the old value in its grace period and kept serving it: under steady traffic
    # every claim renewed the grace, and a change made elsewhere was never seen.


def test_while_one_fetch_reads_an_expired_value_the_others_keep_the_old_one(
    clock: Clock, engines: tuple[Engine, Engine]
) -> None:
    engine, _ = engines
    cache = expired_card(clock, engine)
    seen_meanwhile: list[int | None] = []

    def slow_read() -> int:
        seen_meanwhile.extend([cache.get(engine, "card"), cache.fetch(engine, "card", lambda: 99)])
        return 8

    assert cache.fetch(engine, "card", slow_read) == 8
    assert seen_meanwhile == [7, 7]  # nobody else read the database meanwhile
    assert cache.fetch(engine, "card", lambda: 99) == 8


def test_a_value_that_cannot_be_read_again_is_dropped(clock: Clock, engines: tuple[Engine, Engine]) -> None:
    engine, _ = engines
    cache = expired_card(clock, engine)

    def gone() -> int:
        raise LookupError("no such card any more")

    with pytest.raises(LookupError):
        cache.fetch(engine, "card", gone)
    assert cache.get(engine, "card") is None  # not the old value: the next caller asks the database
    assert cache.fetch(engine, "card", lambda: 9) == 9


def test_without_grace_every_fetch_of_an_expired_value_reads_it(clock: Clock, engines: tuple[Engine, Engine]) -> None:
    engine, _ = engines
    cache: EngineCache[str, int] = EngineCache(seconds=1.0)
    assert cache.fetch(engine, "card", lambda: 7) == 7
    assert cache.fetch(engine, "card", lambda: 99) == 7
    clock.now += 1.0
    assert cache.get(engine, "card") is None
    assert cache.get(engine, "card") is None
    assert cache.fetch(engine, "card", lambda: 8) == 8


def test_emptied_means_gone_even_with_grace(clock: Clock, engines: tuple[Engine, Engine]) -> None:
    engine, _ = engines
    cache: EngineCache[str, int] = EngineCache(seconds=1.0, grace=0.5)
    cache.put(engine, "card", 7)
    cache.clear()  # a change made in this process: nobody gets the old value again
    assert cache.get(engine, "card") is None
    assert cache.get(engine, "card") is None


def test_a_value_is_kept_for_its_seconds_and_no_longer(clock: Clock, engines: tuple[Engine, Engine]) -> None:
    engine, _ = engines
    cache: EngineCache[str, int] = EngineCache(seconds=2.0)
    assert cache.get(engine, "card") is None

    assert cache.put(engine, "card", 7) == 7
    clock.now += (1 - engine_cache.SPREAD) * 1.999  # kept at least the seconds less the spread
    assert cache.get(engine, "card") == 7
    clock.now = 1000.0 + 2.0  # and never longer than its seconds
    assert cache.get(engine, "card") is None

    cache.put(engine, "card", 8)  # put again: kept another two seconds (less the spread) from now
    clock.now += 1.4
    assert cache.get(engine, "card") == 8


def test_each_engine_has_entries_of_its_own(clock: Clock, engines: tuple[Engine, Engine]) -> None:
    one, two = engines
    cache: EngineCache[str, str] = EngineCache(seconds=5.0)
    cache.put(one, "card", "from one")

    assert cache.get(two, "card") is None
    cache.put(two, "card", "from two")
    assert (cache.get(one, "card"), cache.get(two, "card")) == ("from one", "from two")

    cache.clear()
    assert (cache.get(one, "card"), cache.get(two, "card")) == (None, None)


def test_a_full_cache_starts_over_rather_than_grow(clock: Clock, engines: tuple[Engine, Engine]) -> None:
    one, two = engines
    cache: EngineCache[int, int] = EngineCache(seconds=5.0, size=3)
    for key in range(3):
        cache.put(one, key, key)
    cache.put(two, 0, 100)
    assert [cache.get(one, key) for key in range(3)] == [0, 1, 2]

    cache.put(one, 3, 3)  # a fourth key: the engine's entries are dropped, the new one kept

    assert [cache.get(one, key) for key in range(4)] == [None, None, None, 3]
    assert cache.get(two, 0) == 100  # another engine's entries are not its concern
    for key in range(1000):
        cache.put(one, key, key)
    assert sum(cache.get(one, key) is not None for key in range(1000)) <= 3


def test_an_engine_that_is_gone_takes_its_entries_with_it(clock: Clock) -> None:
    cache: EngineCache[str, str] = EngineCache(seconds=5.0)
    engine = create_engine("sqlite://")
    cache.put(engine, "card", "kept")
    engine.dispose()
    del engine
    gc.collect()

    assert dict(cache._entries) == {}


def test_a_session_bound_to_a_connection_counts_as_its_engines(engine: Engine) -> None:
    # The submission writer keeps one connection and binds each batch's session to it.
    with engine.connect() as connection, Session(bind=connection) as session:
        assert session_engine(session) is engine
    with Session(bind=engine) as session:
        assert session_engine(session) is engine


# --- forget_on_change -------------------------------------------------------------------------------------


def test_a_flush_of_a_watched_row_empties_the_cache_and_so_does_its_commit(engine: Engine, session: Session) -> None:
    learners_seen.put(engine, "key", "value")

    session.add(new_guest())
    session.flush()
    assert learners_seen.get(engine, "key") is None

    # Another request may read the old rows between the flush and the commit and keep them: emptied again.
    learners_seen.put(engine, "key", "read meanwhile")
    session.commit()
    assert learners_seen.get(engine, "key") is None


def test_changed_and_deleted_rows_empty_the_cache(engine: Engine, session: Session) -> None:
    guest = new_guest()
    session.add(guest)
    session.commit()

    learners_seen.put(engine, "key", "value")
    guest.external_id = "lms-9"
    session.commit()
    assert learners_seen.get(engine, "key") is None

    learners_seen.put(engine, "key", "value")
    session.delete(guest)
    session.commit()
    assert learners_seen.get(engine, "key") is None


def test_rows_of_other_models_leave_the_cache_alone(engine: Engine, session: Session) -> None:
    learners_seen.put(engine, "key", "value")

    session.add(Webhook(url="https://a.example/hook", secret="a-shared-secret-of-some-length"))
    session.commit()
    session.execute(update(Webhook).values(active=False))
    session.commit()

    assert learners_seen.get(engine, "key") == "value"


def test_a_bulk_update_or_delete_empties_the_cache(engine: Engine, session: Session) -> None:
    guest = new_guest()
    session.add(guest)
    session.commit()

    learners_seen.put(engine, "key", "value")
    session.execute(update(Learner).where(Learner.id == guest.id).values(external_id="lms-10"))
    assert learners_seen.get(engine, "key") is None
    learners_seen.put(engine, "key", "read meanwhile")
    session.commit()
    assert learners_seen.get(engine, "key") is None

    learners_seen.put(engine, "key", "value")
    session.execute(delete(Learner).where(Learner.id == guest.id))
    session.commit()
    assert learners_seen.get(engine, "key") is None


def test_a_rolled_back_change_does_not_empty_the_cache_at_the_next_commit(engine: Engine, session: Session) -> None:
    session.add(new_guest())
    session.flush()
    session.rollback()

    learners_seen.put(engine, "key", "value")
    session.commit()
    assert learners_seen.get(engine, "key") == "value"


def test_new_rows_leave_a_cache_of_existing_rows_alone(engine: Engine, session: Session) -> None:
    learners_existing.put(engine, "key", "value")

    guest = new_guest()
    session.add(guest)
    session.commit()
    assert learners_existing.get(engine, "key") == "value"

    guest.external_id = "lms-11"  # a change to an existing row still counts
    session.commit()
    assert learners_existing.get(engine, "key") is None

    learners_existing.put(engine, "key", "value")
    session.execute(update(Learner).values(external_id=None))
    assert learners_existing.get(engine, "key") is None
