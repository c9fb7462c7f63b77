"""Request-scoped settings and database session: ``SettingsDep`` and ``SessionDep`` (re-exported by ``deps``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import nullcontext
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def db_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed (and anything uncommitted rolled back) when the request ends.

    A request keeps its connection from its first query to the end, across the thread-pool hops of its
    dependencies and route. Were more requests than the pool has connections let in, the threads of those
    waiting for a connection could take every thread that the requests holding one need to finish, and all
    would stall until the pool timeout. So a request first takes one of ``app.state.db_slots`` (as many as
    the pool's connections; None for a pool that grows as needed), waiting on the event loop, not in a thread.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    slots: anyio.CapacityLimiter | None = getattr(request.app.state, "db_slots", None)
    async with slots if slots is not None else nullcontext():
        session = factory()  # no connection yet: that is taken by the first query, in a thread
        try:
            yield session
        finally:
            # Closing may roll back (a round trip to the database): in a thread, and finished even when the
            # request is cancelled, so the connection always goes back to the pool before the slot is freed.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close)


SettingsDep = Annotated[Settings, Depends(app_settings)]
SessionDep = Annotated[Session, Depends(db_session)]
