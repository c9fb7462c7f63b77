"""A small cache of values read from a database, kept per engine for a few seconds.

Lookups that every request makes (the published card, the decks that hide a card's solution, the learner of
an account) are kept in the process for a moment instead of being read again. Keyed by engine, because one
process may talk to several databases (the app has one; tests and commands make more), and weakly, so an
engine that is disposed of takes its entries with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import ORMExecuteState, Session

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class EngineCache(Generic[K, V]):  # Python 3.11: no type parameter syntax
    """``put`` a value read from ``engine``'s database; ``get`` gives it back for ``seconds``, then None.

    With ``grace``, an expired value is read again by one caller only: the first to find it expired gets None
    (and reads the database, then ``put``s), while everyone else keeps getting the old value for up to ``grace``
    seconds more. Without it, every request in flight when a busy entry expires would read the database at once,
    a burst each ``seconds`` that shows in the slowest answers.
    """

    def __init__(self, *, seconds: float, size: int = 1024, grace: float = 0.0) -> None:
        self.seconds = seconds
        self.size = size
        self.grace = grace
        self._entries: WeakKeyDictionary[Engine, dict[K, tuple[float, V]]] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, engine: Engine, key: K) -> V | None:
        """The value kept for ``key`` in the last ``seconds`` (see ``grace``), else None."""
        entries = self._entries.get(engine)
        found = None if entries is None else entries.get(key)
        if found is None:
            return None
        now = time.monotonic()
        if now < found[0]:
            return found[1]
        if not self.grace:
            return None
        with self._lock:
            if entries is not None and entries.get(key) is found:  # nobody has claimed the refresh yet: this caller
                entries[key] = (now + self.grace, found[1])
                return None
        return self.get(engine, key)  # claimed (or put) meanwhile: the value as it is now

    def put(self, engine: Engine, key: K, value: V) -> V:
        with self._lock:
            entries = self._entries.setdefault(engine, {})
            if len(entries) >= self.size:
                entries.clear()  # many distinct keys: start over rather than track ages
            entries[key] = (time.monotonic() + self.seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


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
