"""A small cache of values read from a database, kept per engine for a few seconds.

Lookups that every request makes (the published card, the decks that hide a card's solution, the learner of
an account) are kept in the process for a moment instead of being read again. Keyed by engine, because one
process may talk to several databases (the app has one; tests and commands make more), and weakly, so an
engine that is disposed of takes its entries with it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import ORMExecuteState, Session

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class EngineCache(Generic[K, V]):  # Python 3.11: no type parameter syntax
    """``fetch`` a value (read with the loader given, unless kept); ``get`` only looks, for callers that cannot wait.

    A value is kept for ``seconds``, less a random part of up to ``SPREAD`` of it: entries put at the same moment
    (fifty learners starting together) then expire at different moments, not all in one burst of reads every
    ``seconds``, each burst a stall the slowest answers show. With ``grace``, an expired value is read again by
    one caller at a time while everyone else keeps getting the old one for up to ``grace`` seconds more; without
    it, every request in flight when a busy entry expires would read the database at once, the same burst from a
    single entry. Code on the event loop ``get``s: the first to find the value expired gets None, takes the slow path
    (a thread) and ``fetch``es there, which reads it again; a ``fetch`` that finds it expired reads it again
    itself. Either way one caller reads, and the refresh cannot be lost between the two.
    """

    def __init__(self, *, seconds: float, size: int = 1024, grace: float = 0.0) -> None:
        self.seconds = seconds
        self.size = size
        self.grace = grace
        self._entries: WeakKeyDictionary[Engine, dict[K, _Entry[V]]] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, engine: Engine, key: K) -> V | None:
        """The value kept for ``key``, else None: not kept, or expired and this caller is to ``fetch`` it again."""
        entry = self._entry(engine, key)
        if entry is None:
            return None
        now = time.monotonic()
        if now < entry.until:
            return entry.value
        if not self.grace or self._mark(engine, key, entry, now, _CLAIMED):
            return None
        return self.get(engine, key)  # another caller marked it first: the value as it is now

    def fetch(self, engine: Engine, key: K, load: Callable[[], V]) -> V:
        """The value kept for ``key``; else (not kept, expired, or left to this caller by a ``get``) ``load()``
        and keep it. An exception from ``load`` is the caller's, and the old value is dropped."""
        entry = self._entry(engine, key)
        if entry is not None:
            now = time.monotonic()
            if now < entry.until and entry.state != _CLAIMED:
                return entry.value  # fresh, or being read again by another caller
            if self.grace and not self._mark(engine, key, entry, now, _LOADING):
                return self.fetch(engine, key, load)  # another caller marked it first
        try:
            value = load()
        except BaseException:
            self._forget(engine, key)  # what cannot be read again is not served any more (a card deleted)
            raise
        return self.put(engine, key, value)

    def put(self, engine: Engine, key: K, value: V) -> V:
        with self._lock:
            entries = self._entries.setdefault(engine, {})
            if len(entries) >= self.size:
                entries.clear()  # many distinct keys: start over rather than track ages
            entries[key] = _Entry(time.monotonic() + kept_for(self.seconds), value, _FRESH)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _forget(self, engine: Engine, key: K) -> None:
        with self._lock:
            entries = self._entries.get(engine)
            if entries is not None:
                entries.pop(key, None)

    def _entry(self, engine: Engine, key: K) -> _Entry[V] | None:
        entries = self._entries.get(engine)
        return None if entries is None else entries.get(key)

    def _mark(self, engine: Engine, key: K, seen: _Entry[V], now: float, state: int) -> bool:
        """Give the entry ``seen`` a grace period in ``state``; False if it changed since it was seen."""
        with self._lock:
            entries = self._entries.get(engine)
            if entries is None or entries.get(key) is not seen:
                return False
            entries[key] = _Entry(now + self.grace, seen.value, state)
            return True


SPREAD: Final = 0.25


def kept_for(seconds: float) -> float:
    """How long to keep a value at most ``seconds`` old: ``seconds`` less a random part of up to ``SPREAD``."""
    return seconds * (1.0 - SPREAD * random.random())


# An entry is fresh (put), claimed (expired, and a ``get`` sent its caller to ``fetch`` it) or loading (a
# ``fetch`` is reading it again). Claimed and loading entries serve their old value until the grace ends.
_FRESH, _CLAIMED, _LOADING = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    until: float
    value: V
    state: int


def session_engine(session: Session) -> Engine:
    """The engine a session's queries go to (a session bound to one of its connections counts as the engine's)."""
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def forget_on_change(cache: EngineCache[Any, Any], *models: type[Any], new_rows: bool = True) -> None:
    """Empty ``cache`` whenever a session of this process writes a row of ``models``: at the flush, and again
    at the commit, because another request may have read and kept the old rows in between. A bulk UPDATE or
    DELETE of those models, which bypasses the flush, empties it too. ``new_rows=False`` for a cache that new
    rows cannot make wrong (it keeps only what exists), so that frequent inserts do not empty it."""
    flag = f"changed:{id(cache)}"

    @event.listens_for(Session, "after_flush")
    def _after_flush(session: Session, flush_context: object) -> None:
        written = (*session.new, *session.dirty, *session.deleted) if new_rows else (*session.dirty, *session.deleted)
        if any(isinstance(row, models) for row in written):
            cache.clear()
            session.info[flag] = True

    @event.listens_for(Session, "do_orm_execute")
    def _on_execute(state: ORMExecuteState) -> None:
        mapper = state.bind_mapper
        if (state.is_update or state.is_delete) and mapper is not None and issubclass(mapper.class_, models):
            cache.clear()
            state.session.info[flag] = True

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.info.pop(flag, False):
            cache.clear()

    @event.listens_for(Session, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(flag, None)
