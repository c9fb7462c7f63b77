"""SQLite writers of one process queue on the engine's write lock: no thread sleeps in the busy handler, no write
fails, readers never wait, and the lock is free again after every commit, rollback and failed statement."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from app.db.session import PoolOptions, make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'writers.db'}", pool=PoolOptions(size=2))
    with made.begin() as connection:
        connection.execute(text("CREATE TABLE tally (id INTEGER PRIMARY KEY, n INTEGER NOT NULL UNIQUE)"))
    yield made
    made.dispose()


def write_lock(engine: Engine) -> threading.Lock:
    with engine.connect() as connection:
        lock: threading.Lock = connection.connection.dbapi_connection.write_lock  # type: ignore[union-attr]
    return lock


def test_many_threads_write_at_once_and_every_write_lands(engine: Engine) -> None:
    def write(n: int) -> float:
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO tally (n) VALUES (:n)"), {"n": n})
            connection.execute(text("SELECT count(*) FROM tally")).scalar_one()
        return time.perf_counter() - started

    # More threads than the pool's size: the pool grows rather than making them wait for one another.
    with ThreadPoolExecutor(max_workers=16) as pool:
        waits = list(pool.map(write, range(400)))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tally")).scalar_one() == 400
    # Sleeping in SQLite's busy handler would show as waits of several ms to seconds; queued writers go in turn.
    assert max(waits) < 5
    assert not write_lock(engine).locked()


def test_a_reader_goes_on_while_a_writer_holds_the_lock(engine: Engine) -> None:
    with engine.connect() as writer:
        writer.execute(text("INSERT INTO tally (n) VALUES (1)"))
        assert write_lock(engine).locked()
        with engine.connect() as reader:
            assert reader.execute(text("SELECT count(*) FROM tally")).scalar_one() == 0  # WAL: the last commit
        writer.commit()
    assert not write_lock(engine).locked()


def test_the_lock_is_given_back_on_rollback_and_after_a_failed_write(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO tally (n) VALUES (1)"))
        connection.rollback()
    assert not write_lock(engine).locked()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO tally (n) VALUES (1)"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("INSERT INTO tally (n) VALUES (1)"))
    assert not write_lock(engine).locked()
    with engine.begin() as connection:  # and the next writer gets it at once
        connection.execute(text("INSERT INTO tally (n) VALUES (2)"))
    assert not write_lock(engine).locked()


def test_a_connection_closed_mid_transaction_gives_the_lock_back(engine: Engine) -> None:
    connection = engine.connect()
    connection.execute(text("INSERT INTO tally (n) VALUES (1)"))
    connection.invalidate()  # the pool closes the DBAPI connection
    connection.close()
    assert not write_lock(engine).locked()
