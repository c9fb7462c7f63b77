"""Sign-in throttling: failures counted per email and per address, a lock after too many, forgotten later."""

from __future__ import annotations

from app.services.throttle import Limit, MemoryAttemptStore, SignInThrottle


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
