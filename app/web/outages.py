"""The database going away is a 503 with ``Retry-After``, never a 500, and the app recovers by itself.

A connection that is refused or lost (the database restarting, a network cut), a pool with no connection free
in time, or a SQLite file locked beyond its busy timeout is an outage, not a fault of the request: the client is
told to come back shortly. The API answers ``{"detail": [{"field": null, "message": "the database is
unavailable, try again shortly"}]}``; pages answer with an error page that says the same in words.

Nothing is left half-written: the error leaves the route through the request's session (``app.web.db``), which
rolls back whatever it had not committed. Recovery needs nothing from here either: the engine checks a pooled
connection before handing it out (``pool_pre_ping``), so the first request after the database returns gets a
fresh connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Final

from fastapi import FastAPI, Request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.responses import Response

from app.web.errors import error_response, is_api_request
from app.web.pages.rendering import error_page

logger = logging.getLogger(__name__)

MESSAGE: Final = "the database is unavailable, try again shortly"
# Raised for these classes, and for DBAPIError itself when the driver reported the connection as gone.
OUTAGE_ERRORS: Final = (OperationalError, InterfaceError, PoolTimeoutError)
# Where app.web.auth keeps who the caller is, once resolved for this request.
_AUTH_RESOLVED: Final = "auth_resolved"


def is_outage(exc: BaseException) -> bool:
    """True for an error that says the database cannot be reached now, rather than that the request is wrong.

    SQLite reports a lock held beyond the busy timeout ("database is locked") and a file it cannot open as
    OperationalError; PostgreSQL's driver does the same for a refused or dropped connection, and SQLAlchemy
    marks any error that invalidated the connection (``connection_invalidated``).
    """
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def outage_page(request: Request, *, headers: dict[str, str]) -> Response:
    """The error page for an outage; drawn without the database (the page's header shows who is signed in)."""
    state = request.state
    if not getattr(state, _AUTH_RESOLVED, False):
        # Asking the database who is signed in would fail again; the page is drawn as for a visitor.
        state.user = None
        setattr(state, _AUTH_RESOLVED, True)
    response = error_page(
        request,
        status_code=503,
        heading="Back in a moment",
        message="The tutor cannot reach its database just now, so this page could not be shown. "
        "Please try again in a few seconds. Your earlier answers are safe.",
    )
    response.headers.update(headers)
    return response


def install_outage_handlers(app: FastAPI, *, retry_after: int) -> None:
    """Answer database outages with 503 and ``Retry-After: retry_after`` (seconds), as JSON on the API."""
    headers = {"Retry-After": str(retry_after)}

    async def handle(request: Request, exc: Exception) -> Response:
        if not is_outage(exc):
            raise exc  # another database error (a constraint, a bug): the server error handler answers it
        logger.warning("database unavailable for %s %s: %s", request.method, request.url.path, _first_line(exc))
        if is_api_request(request):
            return error_response(503, [(None, MESSAGE)], headers=headers)
        return outage_page(request, headers=dict(headers))

    for cls in (*OUTAGE_ERRORS, DBAPIError):
        app.add_exception_handler(cls, handle)

    # An error page drawn for another error (a 404 for a signed-in user) asks the database who is signed in;
    # when that fails, the failure reaches the last-resort handler, which must answer it as the outage it is.
    last_resort = app.exception_handlers.get(Exception)

    async def server_error(request: Request, exc: Exception) -> Response:
        if is_outage(exc) or last_resort is None:
            return await handle(request, exc)
        response = last_resort(request, exc)
        return await response if isinstance(response, Awaitable) else response

    app.add_exception_handler(Exception, server_error)
