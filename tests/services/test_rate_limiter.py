"""The rate limiter: fixed windows per key, the wait it reports, switching off, and failing open."""

from __future__ import annotations

import logging

import pytest
from limits import parse
from limits.errors import StorageError
from limits.storage import MemoryStorage

from app.services.rate_limits import (
    SUBMISSIONS,
    SUBMISSIONS_IP,
    Check,
    FailOpen,
    RateLimiter,
    RatePolicy,
    Refusal,
    make_storage,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def policy(*, enabled: bool = True, submissions: str = "2/minute", submissions_ip: str = "3/minute") -> RatePolicy:
    return RatePolicy.from_text(
        enabled=enabled, submissions=submissions, submissions_ip=submissions_ip, signin="5/minute"
    )


def test_each_key_has_its_own_count_and_a_refusal_names_the_limit_and_the_wait() -> None:
    limiter = RateLimiter(storage=MemoryStorage(), policy=policy())
    ada = Check(SUBMISSIONS, limiter.policy.submissions, "guest:ada")
    bob = Check(SUBMISSIONS, limiter.policy.submissions, "guest:bob")

    results = [limiter.hit(ada), limiter.hit(ada), limiter.hit(bob)]
    refusal = limiter.hit(ada)

    assert results == [None, None, None]
    assert refusal is not None
    assert refusal.check == ada
    assert 59 <= refusal.retry_after <= 60
    assert refusal.rate == "2 per minute"


def test_a_request_refused_by_its_learner_does_not_use_up_the_address() -> None:
    limiter = RateLimiter(storage=MemoryStorage(), policy=policy(submissions="1/minute", submissions_ip="2/minute"))
    address = Check(SUBMISSIONS_IP, limiter.policy.submissions_ip, "10.0.0.1")

    def request(learner: str) -> Refusal | None:
        return limiter.hit(Check(SUBMISSIONS, limiter.policy.submissions, learner), address)

    assert request("guest:ada") is None
    assert request("guest:ada") is not None  # over Ada's own limit: the address's count stays at one
    assert request("guest:bob") is None
    refused = request("guest:eve")
    assert refused is not None and refused.check == address


def test_a_switched_off_policy_never_touches_the_storage() -> None:
    class Unusable(MemoryStorage):
        def incr(self, key: str, expiry: float, amount: int = 1) -> int:
            raise AssertionError("the storage was used")

    limiter = RateLimiter(storage=Unusable(), policy=policy(enabled=False, submissions="1/minute"))

    assert all(limiter.hit(Check(SUBMISSIONS, limiter.policy.submissions, "guest:ada")) is None for _ in range(5))


@pytest.mark.parametrize(
    ("rate", "words"),
    [("60/minute", "60 per minute"), ("600/10 minutes", "600 per 10 minutes"), ("1/second", "1 per second")],
)
def test_a_refusal_says_the_rate_in_words(rate: str, words: str) -> None:
    assert Refusal(check=Check(SUBMISSIONS, parse(rate), "k"), retry_after=1).rate == words


def test_a_failing_storage_is_let_through_logged_once_and_retried_after_a_pause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    guard = FailOpen(pause=5, clock=clock)
    calls: list[str] = []

    def broken() -> bool:
        calls.append("tried")
        raise StorageError(ConnectionError("connection refused"))

    with caplog.at_level(logging.WARNING, logger="app.services.rate_limits"):
        first = [guard.run(broken, True) for _ in range(3)]
        clock.now += 5
        after_pause = guard.run(broken, True)
        clock.now += 5
        recovered = guard.run(lambda: False, True)

    assert first == [True] * 3 and after_pause is True
    assert calls == ["tried", "tried"]  # once, then again only when the pause is over
    assert recovered is False and not guard.down
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "cannot be reached (connection refused)" in messages[0]
    assert "answers again" in messages[1]


def test_an_unreachable_redis_lets_requests_through() -> None:
    limiter = RateLimiter(storage=make_storage("redis://127.0.0.1:1/0"), policy=policy(submissions="1/minute"))
    check = Check(SUBMISSIONS, limiter.policy.submissions, "guest:ada")

    assert [limiter.hit(check) for _ in range(3)] == [None] * 3
    assert limiter.shared and limiter.guard.down
