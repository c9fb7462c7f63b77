"""Rate limits: how many submissions a learner or an address, and how many sign-ins an address, may send.

The counting is the ``limits`` library's, in Redis when ``REDIS_URL`` is set (every server counts in the same
place, so N requests spread over N servers are still N) and in this process's memory otherwise. Usage::

    limiter = RateLimiter(storage=make_storage(""), policy=RatePolicy.from_text(enabled=True, ...))
    refusal = limiter.hit(Check(SUBMISSIONS, limiter.policy.submissions, "user:12"))
    if refusal: ...  # 429, Retry-After: refusal.retry_after

Counting uses fixed windows: a key's window starts at its first hit and lasts the limit's period. That is one
atomic ``INCR`` per limit per request (the moving window keeps a list of timestamps per key), and the wait
it reports is exact (the key's time to live). Its known weakness, up to twice the rate across a window's
edge, does not matter for what these limits are for: stopping one runaway script or flood, never metering a
person.

When the storage cannot be reached the limits fail open: the request goes through, a warning is logged once
per outage, and the storage is left alone for a few seconds before it is tried again, so an outage of Redis
costs neither a 500 nor a connection timeout on every request. A rate limit protects capacity; refusing every
learner because the counter is down would be the outage it exists to prevent.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final, TypeVar

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Short enough that a Redis that stopped answering delays one request by at most about a second before the
# limits fail open; a healthy Redis answers in well under a millisecond.
REDIS_TIMEOUT_SECONDS: Final = 0.5
# How long the limits stay open (unchecked) after the storage failed, before it is tried again.
OUTAGE_PAUSE_SECONDS: Final = 5.0

# The names under which each limit counts (the first part of every key).
SUBMISSIONS: Final = "submissions"
SUBMISSIONS_IP: Final = "submissions-ip"
SIGNIN: Final = "signin"

# How often counters whose window is over are dropped from memory (each one is also dropped when next read).
SWEEP_SECONDS: Final = 10.0


class SweptMemoryStorage(MemoryStorage):
    """The library's in-memory storage, its expired fixed-window counters dropped without a thread per hit.

    ``MemoryStorage.incr`` starts a ``threading.Timer`` whenever the last one has finished (each lives 10 ms), so
    at a request every few milliseconds nearly every hit pays for starting a thread, the dearest part of a
    submission's limit check. Here a counter is dropped when it is read after its window (as the library's
    ``get`` already does) and a sweep of every expired counter runs at most every ``SWEEP_SECONDS``, keeping
    memory bounded by the keys of the last few windows.
    """

    def __init__(self) -> None:
        super().__init__()
        self._next_sweep = 0.0

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.get(key)  # a counter whose window is over starts again from nothing
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            self._sweep(now)
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = now + expiry
        return self.storage.get(key, 0)

    def _sweep(self, now: float) -> None:
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


def make_storage(redis_url: str, *, key_prefix: str = "tutor") -> Storage:
    """Redis at ``redis_url`` (keys under ``key_prefix``), or memory when the URL is empty; connects lazily."""
    if not redis_url:
        return SweptMemoryStorage()
    return RedisStorage(
        redis_url,
        key_prefix=key_prefix,
        wrap_exceptions=True,  # every failure of the connection arrives as a StorageError
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


class FailOpen:
    """Runs a storage call, answering ``fallback`` instead while the storage is unreachable (see the module)."""

    def __init__(self, *, pause: float = OUTAGE_PAUSE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._pause = pause
        self._clock = clock
        self._retry_at = 0.0
        self._down = False
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down

    def run(self, call: Callable[[], T], fallback: T) -> T:
        if self._down and self._clock() < self._retry_at:
            return fallback
        try:
            result = call()
        except StorageError as exc:
            with self._lock:
                if not self._down:
                    logger.warning(
                        "the rate-limit store cannot be reached (%s): requests are let through unlimited "
                        "until it answers again",
                        exc.storage_error,
                    )
                self._down = True
                self._retry_at = self._clock() + self._pause
            return fallback
        if self._down:
            with self._lock:
                if self._down:
                    logger.warning("the rate-limit store answers again: limits apply once more")
                self._down = False
        return result


@dataclass(frozen=True)
class RatePolicy:
    """The limits in force; ``enabled=False`` lets everything through without touching the storage."""

    enabled: bool
    submissions: RateLimitItem  # per learner
    submissions_ip: RateLimitItem  # per address
    signin: RateLimitItem  # per address

    @classmethod
    def from_text(cls, *, enabled: bool, submissions: str, submissions_ip: str, signin: str) -> RatePolicy:
        """From the settings' strings (``app.config`` has checked that each holds one rate)."""
        return cls(
            enabled=enabled, submissions=parse(submissions), submissions_ip=parse(submissions_ip), signin=parse(signin)
        )


@dataclass(frozen=True)
class Check:
    """One limit to count a request against: ``Check(SUBMISSIONS, policy.submissions, "user:12")``."""

    name: str
    item: RateLimitItem
    key: str


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: which one, and the whole seconds until the caller may send again."""

    check: Check
    retry_after: int

    @property
    def rate(self) -> str:
        """The limit in words: "60 per minute", "600 per 10 minutes"."""
        item = self.check.item
        period = item.GRANULARITY.name
        per = period if item.multiples == 1 else f"{item.multiples} {period}s"
        return f"{item.amount} per {per}"


class RateLimiter:
    """Counts requests against the policy's limits in one storage, shared by every server when it is Redis."""

    def __init__(self, *, storage: Storage, policy: RatePolicy, guard: FailOpen | None = None) -> None:
        self.storage = storage
        self.policy = policy
        self.guard = guard or FailOpen()
        self._strategy = FixedWindowRateLimiter(storage)

    @property
    def shared(self) -> bool:
        """Whether the counts live outside this process (Redis), each one a network round trip."""
        return not isinstance(self.storage, MemoryStorage)

    def hit(self, *checks: Check) -> Refusal | None:
        """Count the request against each check in turn; the first one it exceeds is the refusal (later ones
        are then not counted, so a refused request does not use up the other limits)."""
        if not self.policy.enabled:
            return None
        for check in checks:
            allowed = self.guard.run(partial(self._strategy.hit, check.item, check.name, check.key), True)
            if not allowed:
                return Refusal(check=check, retry_after=self._wait(check))
        return None

    def _wait(self, check: Check) -> int:
        fallback = time.time() + check.item.get_expiry()
        stats = partial(self._strategy.get_window_stats, check.item, check.name, check.key)
        reset = self.guard.run(lambda: stats().reset_time, fallback)
        return max(1, math.ceil(reset - time.time()))

    def clear(self, check: Check) -> None:
        """Forget what ``check``'s key has used (for tests and for an administrator lifting a limit)."""
        self.guard.run(partial(self._strategy.clear, check.item, check.name, check.key), None)
