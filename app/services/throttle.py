"""Sign-in throttling: failed attempts counted per email and per address, with a lock-out after too many.

``SignInThrottle`` holds the policy; the counting lives behind ``AttemptStore``. ``MemoryAttemptStore`` counts
within one process; ``StorageAttemptStore`` counts in a ``limits`` storage, the same Redis the rate limits use
when ``REDIS_URL`` is set, so a lock-out made on one server holds on all of them.

Why an adapter rather than moving the throttle onto ``limits``' strategies: the policy is "so many failures,
then locked for a while", which no rate-limit strategy expresses (a limit frees one slot as each old hit ages
out; a lock holds for its whole length), and its tests stay as they are. The storage's two primitives are
enough: ``incr`` with an expiry set on the first increment is a count over a window starting at the first
failure, and a lock is a counter whose expiry is its end. The store fails open like the rate limits (see
``app.services.rate_limits``): with Redis unreachable nobody is locked out, and a warning is logged.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final, Protocol

from limits.storage import Storage

from app.services.rate_limits import FailOpen

Clock = Callable[[], float]


class AttemptStore(Protocol):
    """Counters that expire: the one thing the throttle needs from a store."""

    def increment(self, key: str, *, window: float) -> int:
        """Add one failure to ``key`` and return the count within the current window."""

    def lock(self, key: str, *, seconds: float) -> None:
        """Refuse ``key`` for ``seconds`` from now."""

    def locked_for(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it is not locked."""

    def reset(self, key: str) -> None:
        """Forget the failures and any lock of ``key``."""


@dataclass
class _Entry:
    count: int
    window_ends: float
    locked_until: float = 0.0


class MemoryAttemptStore:
    """An ``AttemptStore`` in this process's memory, bounded so a flood of made-up emails cannot grow it."""

    def __init__(self, *, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # routes run on a thread pool

    def _prune(self, now: float) -> None:
        expired = [k for k, e in self._entries.items() if e.window_ends <= now and e.locked_until <= now]
        for key in expired:
            del self._entries[key]
        # Still full of live entries: drop the oldest windows (dicts keep insertion order).
        while len(self._entries) >= self._max_keys:
            del self._entries[next(iter(self._entries))]

    def increment(self, key: str, *, window: float) -> int:
        with self._lock:
            now = self._clock()
            entry = self._entries.get(key)
            if entry is None or entry.window_ends <= now:
                if entry is None and len(self._entries) >= self._max_keys:
                    self._prune(now)
                locked_until = entry.locked_until if entry is not None else 0.0
                entry = _Entry(count=0, window_ends=now + window, locked_until=locked_until)
                self._entries[key] = entry
            entry.count += 1
            return entry.count

    def lock(self, key: str, *, seconds: float) -> None:
        with self._lock:
            now = self._clock()
            entry = self._entries.setdefault(key, _Entry(count=0, window_ends=now))
            entry.locked_until = max(entry.locked_until, now + seconds)

    def locked_for(self, key: str) -> float:
        with self._lock:
            entry = self._entries.get(key)
            return 0.0 if entry is None else max(0.0, entry.locked_until - self._clock())

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


class StorageAttemptStore:
    """An ``AttemptStore`` in a ``limits`` storage (Redis shared by every server, or memory); see the module."""

    def __init__(self, storage: Storage, *, guard: FailOpen | None = None) -> None:
        self._storage = storage
        self._guard = guard or FailOpen()

    @staticmethod
    def _key(kind: str, key: str) -> str:
        # Hashed: no email address is written to Redis, and a 2,000-character "email" makes a short key.
        return f"signin-{kind}/{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    def increment(self, key: str, *, window: float) -> int:
        count_key = self._key("failures", key)
        return self._guard.run(lambda: self._storage.incr(count_key, math.ceil(window)), 0)

    def lock(self, key: str, *, seconds: float) -> None:
        # The expiry is set by the first increment only: a lock already running keeps its end.
        lock_key = self._key("lock", key)
        self._guard.run(lambda: self._storage.incr(lock_key, math.ceil(seconds)), 0)

    def locked_for(self, key: str) -> float:
        lock_key = self._key("lock", key)

        def remaining() -> float:
            if not self._storage.get(lock_key):
                return 0.0
            return max(0.0, self._storage.get_expiry(lock_key) - time.time())

        return self._guard.run(remaining, 0.0)

    def reset(self, key: str) -> None:
        for kind in ("failures", "lock"):
            self._guard.run(partial(self._storage.clear, self._key(kind, key)), None)


@dataclass(frozen=True)
class Limit:
    failures: int  # this many failures within ``window`` seconds lock the key
    window: float
    lockout: float  # for this many seconds


# Ten wrong passwords for one email lock it for a quarter of an hour. A classroom signs in from one
# address behind its router, so an address gets more room before it is locked.
EMAIL_LIMIT: Final = Limit(failures=10, window=15 * 60, lockout=15 * 60)
ADDRESS_LIMIT: Final = Limit(failures=50, window=15 * 60, lockout=15 * 60)


class SignInThrottle:
    """``check`` before verifying a password, ``failed`` or ``succeeded`` after."""

    def __init__(
        self, store: AttemptStore, *, email_limit: Limit = EMAIL_LIMIT, address_limit: Limit = ADDRESS_LIMIT
    ) -> None:
        self.store = store
        self.email_limit = email_limit
        self.address_limit = address_limit

    @staticmethod
    def _keys(email: str, address: str) -> tuple[str, str]:
        return f"email:{email.strip().lower()}", f"address:{address}"

    def retry_after(self, *, email: str, address: str) -> int:
        """Whole seconds until this email or address may try again; 0 when neither is locked."""
        email_key, address_key = self._keys(email, address)
        waiting = max(self.store.locked_for(email_key), self.store.locked_for(address_key))
        return math.ceil(waiting)

    def failed(self, *, email: str, address: str) -> int:
        """Count a failure; returns the seconds of a lock it caused (0 when none)."""
        caused = 0.0
        for key, limit in zip(self._keys(email, address), (self.email_limit, self.address_limit), strict=True):
            if self.store.increment(key, window=limit.window) >= limit.failures:
                self.store.lock(key, seconds=limit.lockout)
                caused = max(caused, limit.lockout)
        return math.ceil(caused)

    def succeeded(self, *, email: str, address: str) -> None:
        """A right password clears the email's failures (the address's stay: others may be guessing from it)."""
        self.store.reset(self._keys(email, address)[0])
