"""Sign-in throttling: failures counted per email and per address, a lock after too many, forgotten later."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from limits.storage import Storage
from redis_support import redis_prefix, redis_url

from app.services.rate_limits import make_storage
from app.services.throttle import Limit, MemoryAttemptStore, SignInThrottle, StorageAttemptStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **limits: Limit) -> SignInThrottle:
    return SignInThrottle(MemoryAttemptStore(clock=clock), **limits)


def test_ten_failures_for_one_email_lock_it_for_a_quarter_of_an_hour() -> None:
    clock = Clock()
    throttle = make(clock)

    caused = [throttle.failed(email="ada@example.org", address=f"10.0.0.{i}") for i in range(10)]

    assert caused == [0] * 9 + [900]
    assert throttle.retry_after(email="ADA@example.org ", address="10.9.9.9") == 900
    assert throttle.retry_after(email="bob@example.org", address="10.9.9.9") == 0
    clock.now += 600
    assert throttle.retry_after(email="ada@example.org", address="10.9.9.9") == 300
    clock.now += 300
    assert throttle.retry_after(email="ada@example.org", address="10.9.9.9") == 0


def test_failures_spread_beyond_the_window_do_not_add_up() -> None:
    clock = Clock()
    throttle = make(clock)
    for _ in range(9):
        throttle.failed(email="ada@example.org", address="10.0.0.1")
    clock.now += 15 * 60 + 1

    assert throttle.failed(email="ada@example.org", address="10.0.0.1") == 0
    assert throttle.retry_after(email="ada@example.org", address="10.0.0.1") == 0


def test_an_address_trying_many_emails_is_locked_whatever_the_email() -> None:
    clock = Clock()
    throttle = make(clock, address_limit=Limit(failures=5, window=60, lockout=120))
    for i in range(5):
        throttle.failed(email=f"user{i}@example.org", address="203.0.113.7")

    assert throttle.retry_after(email="new@example.org", address="203.0.113.7") == 120
    assert throttle.retry_after(email="new@example.org", address="203.0.113.8") == 0


def test_a_right_password_clears_the_emails_failures_but_not_the_addresss() -> None:
    clock = Clock()
    throttle = make(clock, address_limit=Limit(failures=12, window=60, lockout=60))
    for _ in range(9):
        throttle.failed(email="ada@example.org", address="10.0.0.1")
    throttle.succeeded(email="ada@example.org", address="10.0.0.1")

    assert throttle.failed(email="ada@example.org", address="10.0.0.1") == 0  # counting starts again
    assert throttle.failed(email="ada@example.org", address="10.0.0.1") == 0
    assert throttle.failed(email="ada@example.org", address="10.0.0.1") == 60  # the address's twelfth


def test_the_memory_store_stays_bounded() -> None:
    clock = Clock()
    store = MemoryAttemptStore(clock=clock, max_keys=100)
    for i in range(1000):
        store.increment(f"email:{i}@example.org", window=60)
    assert len(store._entries) <= 100
    assert store.increment("email:999@example.org", window=60) == 2  # the newest are kept


# --- the store shared by several servers: a ``limits`` storage (Redis, or memory) -----------------------------


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    if request.param == "memory":
        yield make_storage("")
        return
    url = redis_url()
    with redis_prefix(url) as prefix:
        yield make_storage(url, key_prefix=prefix)


def test_a_storage_store_counts_locks_and_forgets(storage: Storage) -> None:
    store = StorageAttemptStore(storage)

    counts = [store.increment("email:ada@example.org", window=60) for _ in range(3)]
    store.lock("email:ada@example.org", seconds=120)
    store.lock("email:ada@example.org", seconds=5)  # a lock already running keeps its end

    assert counts == [1, 2, 3]
    assert store.increment("email:bob@example.org", window=60) == 1
    assert 118 <= store.locked_for("email:ada@example.org") <= 120
    assert store.locked_for("email:bob@example.org") == 0
    store.reset("email:ada@example.org")
    assert store.locked_for("email:ada@example.org") == 0
    assert store.increment("email:ada@example.org", window=60) == 1


def test_a_storage_store_forgets_failures_when_the_window_ends(storage: Storage) -> None:
    store = StorageAttemptStore(storage)
    store.increment("address:10.0.0.1", window=1)
    store.lock("address:10.0.0.1", seconds=1)

    time.sleep(1.1)

    assert store.increment("address:10.0.0.1", window=1) == 1
    assert store.locked_for("address:10.0.0.1") == 0


def test_the_throttle_locks_out_through_a_storage_store(storage: Storage) -> None:
    throttle = SignInThrottle(StorageAttemptStore(storage))

    caused = [throttle.failed(email="ada@example.org", address=f"10.0.0.{i}") for i in range(10)]

    assert caused == [0] * 9 + [900]
    assert 899 <= throttle.retry_after(email="ADA@example.org", address="10.9.9.9") <= 900
    assert throttle.retry_after(email="bob@example.org", address="10.9.9.9") == 0


def test_an_unreachable_storage_locks_nobody_out(caplog: pytest.LogCaptureFixture) -> None:
    throttle = SignInThrottle(StorageAttemptStore(make_storage("redis://127.0.0.1:1/0")))

    with caplog.at_level(logging.WARNING):
        caused = [throttle.failed(email="ada@example.org", address="10.0.0.1") for _ in range(12)]
        waiting = throttle.retry_after(email="ada@example.org", address="10.0.0.1")

    assert caused == [0] * 12
    assert waiting == 0
    assert ["cannot be reached" in record.getMessage() for record in caplog.records] == [True]
