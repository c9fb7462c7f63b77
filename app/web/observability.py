"""Request ids, one log line per request and the request metrics, in one pure ASGI middleware.

``RequestObservability(app, access_log=True)`` takes the id from an incoming ``X-Request-ID`` when it is a
sensible one (``app.observability.valid_request_id``) or makes one, keeps it in a context variable for every
line logged meanwhile, and sends it back in the response's ``X-Request-ID``. When the response is done it
counts the request under its route template and status (``app.metrics``) and logs it to ``tutor.access``.

It is plain ASGI rather than Starlette's BaseHTTPMiddleware, which runs every request through an extra task and
memory streams: with the metrics it costs about 10 µs of CPU per request (``bench/observability.py``).
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import GRADING_ERRORS, observe_request
from app.observability import ACCESS_LOGGER, REQUEST_ID, new_request_id, valid_request_id

HEADER: Final = b"x-request-id"
UNMATCHED: Final = "unmatched"  # the route label of a request no route answers (404s): one value, not each path
MAX_LOGGED_PATH: Final = 1000
# The routes that grade answers: a 422 or a 5xx there is an answer that could not be graded.
SUBMISSION_ROUTES: Final = frozenset(
    {"api_create_submission", "api_create_deck_submission", "page_submit", "page_deck_submit"}
)
# Probes that succeed are counted but not logged: a load balancer asks every few seconds, and /healthz is the
# ceiling of the load benchmark, where a log line would cost more than the request itself.
QUIET_ROUTES: Final = frozenset({"/healthz", "/readyz", "/metrics"})

access_logger = logging.getLogger(ACCESS_LOGGER)


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == HEADER:
            text = value.decode("latin-1")
            return text if valid_request_id(text) else None
    return None


def route_template(scope: Scope, mounts: tuple[str, ...] = ()) -> str:
    """The template of the route that answered (``/api/v1/cards/{slug}``), else the mount, else ``unmatched``."""
    # FastAPI keeps the route of an included router with the router's prefix in its own part of the scope;
    # the route object alone knows only its path inside its router.
    context = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(context, "path", None)
    if isinstance(path, str):
        return path
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    request_path: str = scope.get("path", "")
    for mount in mounts:
        if request_path.startswith(mount + "/"):
            return mount + "/{path}"
    return UNMATCHED


def _mounts(scope: Scope) -> tuple[str, ...]:
    routes = getattr(scope.get("app"), "routes", ())
    return tuple(route.path for route in routes if isinstance(route, Mount) and route.path)


async def _answer_server_error(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Answer with the app's own 500 handler, here, so that the answer carries the request id.

    Starlette runs that handler in ServerErrorMiddleware, outside every middleware the app adds, where the id
    could not be added. Once this answer has started, ServerErrorMiddleware sends nothing more and only
    re-raises the exception for the server to log; if the handler fails, it answers as it would have.
    """
    handlers: dict[Any, Any] = getattr(scope.get("app"), "exception_handlers", {})
    handler = handlers.get(500) or handlers.get(Exception)
    try:
        if handler is None:
            response: Response = PlainTextResponse("Internal Server Error", status_code=500)
        elif inspect.iscoroutinefunction(handler):
            response = await handler(Request(scope, receive), exc)
        else:
            response = await run_in_threadpool(handler, Request(scope, receive), exc)
        await response(scope, receive, send)
    except Exception:
        access_logger.exception("the server error handler failed")


class RequestObservability:
    """ASGI middleware: request id in and out, then the request's metrics and its access log line."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.mounts: tuple[str, ...] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = incoming_request_id(scope["headers"]) or new_request_id()
        token = REQUEST_ID.set(request_id)
        echoed = (HEADER, request_id.encode("latin-1"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error = exc
            if not status:
                await _answer_server_error(scope, receive, send_with_id, exc)
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            if error is not None and not status:
                # A cancellation is the client going away before its answer (nginx's 499), not a server fault;
                # an error the 500 handler could not answer either is left to the server, which answers 500.
                status = 500 if isinstance(error, Exception) else 499
            self._finish(scope, status, time.perf_counter() - started, request_id, error)
            REQUEST_ID.reset(token)

    def _finish(self, scope: Scope, status: int, seconds: float, request_id: str, error: BaseException | None) -> None:
        if self.mounts is None:
            self.mounts = _mounts(scope)
        route = route_template(scope, self.mounts)
        method: str = scope["method"]
        observe_request(method, route, status, seconds)
        if (status == 422 or status >= 500) and getattr(scope.get("route"), "name", None) in SUBMISSION_ROUTES:
            GRADING_ERRORS.labels("invalid_answer" if status == 422 else "server_error").inc()
        if error is None and (not self.access_log or (route in QUIET_ROUTES and status < 400)):
            return
        raw: Any = scope.get("raw_path")
        # The path as sent (still percent-encoded: a decoded %0A cannot start a forged line in a text log).
        path = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "")
        path = path[:MAX_LOGGED_PATH]
        duration_ms = round(seconds * 1000, 2)
        fields = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
        }
        if error is not None and isinstance(error, Exception):
            access_logger.error("%s %s %s failed", method, path, status, extra=fields, exc_info=error)
        elif error is None and access_logger.isEnabledFor(logging.INFO):
            # The record is made here rather than by .info(), which would walk the stack to find its caller
            # on every request.
            record = access_logger.makeRecord(
                ACCESS_LOGGER,
                logging.INFO,
                __file__,
                0,
                "%s %s %s %.1f ms",
                (method, path, status, duration_ms),
                None,
                extra=fields,
            )
            access_logger.handle(record)
