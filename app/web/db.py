"""Request-scoped settings and database session: ``SettingsDep`` and ``SessionDep`` (re-exported by ``deps``).

A request's session is made by its first dependency that asks for it and closed by ``RequestSessions``, a
middleware, once the request is over. A dependency with ``yield`` would do the same, but FastAPI runs each
inside an exit stack with a shielded cancel scope, which costs about as much as a short query on every request
that only might need the database (the submissions the app answers from what it keeps in memory, say).
"""

from __future__ import annotations

from typing import Annotated, Final

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings

_STATE_KEY: Final = "db_session"  # in the request's state: its _RequestSession
_INSTALLED: Final = "app.request_sessions"  # in the ASGI scope: RequestSessions will close the session


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class _RequestSession:
    """The request's session and the pool slot it holds, for ``RequestSessions`` to give back."""

    def __init__(self, session: Session, slots: anyio.CapacityLimiter | None) -> None:
        self.session = session
        self.slots = slots

    async def close(self) -> None:
        try:
            # Closing may roll back (a round trip to the database): in a thread, and finished even when the
            # request is cancelled, so the connection always goes back to the pool before the slot is freed.
            # A session holding no connection (nothing asked, or committed already) has nothing to roll back.
            if not _holds_connection(self.session):
                self.session.close()
            else:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.session.close)
        finally:
            if self.slots is not None:
                self.slots.release_on_behalf_of(self)


def _holds_connection(session: Session) -> bool:
    """Whether the session has taken a connection from the pool (a transaction may be begun without one: a
    cached user merged into the session begins one, but asks the database nothing)."""
    transaction = session.get_transaction()
    # SessionTransaction keeps its connections in ``_connections``; there is no public way to ask.
    return transaction is not None and bool(getattr(transaction, "_connections", True))


async def db_session(request: Request) -> Session:
    """The request's session, made on first use and closed (anything uncommitted rolled back) after the request.

    A request keeps its connection from its first query to the end, across the thread-pool hops of its
    dependencies and route. Were more requests than the pool has connections let in, the threads of those
    waiting for a connection could take every thread that the requests holding one need to finish, and all
    would stall until the pool timeout. So a request first takes one of ``app.state.db_slots`` (as many as
    the pool's connections; None for a pool that grows as needed), waiting on the event loop, not in a thread.
    """
    if not request.scope.get(_INSTALLED):
        raise RuntimeError("RequestSessions is not installed: nothing would close the request's session")
    state = request.scope["state"]
    held: _RequestSession | None = state.get(_STATE_KEY)
    if held is not None:
        return held.session
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    slots: anyio.CapacityLimiter | None = getattr(request.app.state, "db_slots", None)
    held = _RequestSession(factory(), slots)  # no connection yet: that is taken by the first query, in a thread
    if slots is not None:
        await slots.acquire_on_behalf_of(held)
    state[_STATE_KEY] = held
    return held.session


class RequestSessions:
    """ASGI middleware closing the session that a request's dependencies opened, once the request is over."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        scope[_INSTALLED] = True
        try:
            await self.app(scope, receive, send)
        finally:
            held: _RequestSession | None = scope["state"].pop(_STATE_KEY, None)
            if held is not None:
                await held.close()


SettingsDep = Annotated[Settings, Depends(app_settings)]
SessionDep = Annotated[Session, Depends(db_session)]
