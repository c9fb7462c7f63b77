"""One JSON error shape for the API: ``{"detail": [{"field": "answers.loss_a", "message": "..."}]}``.

Every API error, from a malformed body to an unknown card, answers with a list of entries that each name
the field (or null when no single field is at fault) and the problem in words. Only requests under
``/api/`` get JSON; for any other path the handlers hand over to the page handlers the pages register,
or to FastAPI's defaults.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain.cards import SpecError, VariantError
from app.domain.divergence import DistributionError
from app.domain.grading import AnswerFormatError
from app.services.errors import Forbidden, InvalidSeed, NotFound

API_PREFIX: Final = "/api/"
_SOURCES: Final = frozenset({"body", "query", "path", "header", "cookie"})
_UNPARSED_BODY: Final = "There was an error parsing the body"  # FastAPI's detail when decoding the body fails

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class ApiError(Exception):
    """An error a route reports itself: ``ApiError(422, [("label", "must be below 3")])``."""

    def __init__(self, status_code: int, errors: Sequence[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.status_code = status_code
        self.errors = list(errors)


def is_api_request(request: Request) -> bool:
    path: str = request.scope.get("path", "")
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def error_response(
    status_code: int, errors: Iterable[tuple[str | None, str]], *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The API's error body: each (field, message) once, in the order found."""
    unique = dict.fromkeys(errors)
    detail = [{"field": field, "message": message} for field, message in unique]
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


# --- turning validation errors into (field, message) ----------------------------------------------------


def field_path(loc: Sequence[Any]) -> str | None:
    """``("body", "answers", "loss_a")`` → ``answers.loss_a``; ``("body", "p", 3)`` → ``p[3]``."""
    parts = list(loc[1:] if loc and loc[0] in _SOURCES else loc)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    if path:
        return path
    return str(loc[0]) if loc else None


def validation_message(error: Mapping[str, Any]) -> str:
    """Pydantic's message, reworded where it would leave a learner or a client guessing."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    loc: Sequence[Any] = error.get("loc") or ()
    if kind == "json_invalid":
        position = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return f"is not valid JSON ({ctx.get('error', 'cannot be parsed')}{position})"
    if kind == "missing":
        return "is required" if len(loc) > 1 else "is required: send a JSON object"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "too_long" and isinstance(ctx.get("max_length"), int):
        actual = ctx.get("actual_length")
        count = f"{actual:,}" if isinstance(actual, int) else "too many"
        return f"has {count} entries; at most {ctx['max_length']:,} are allowed"
    if kind == "too_short" and isinstance(ctx.get("min_length"), int):
        least = ctx["min_length"]
        return f"needs at least {least:,} {'entry' if least == 1 else 'entries'}"
    message = str(error.get("msg", "is not valid"))
    return message[:1].lower() + message[1:]


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for error in errors:
        # A body that is not JSON at all has no field inside it to blame; its loc holds a character offset.
        field = "body" if error.get("type") == "json_invalid" else field_path(error.get("loc") or ())
        found.append((field, validation_message(error)))
    return found


# --- the handlers ---------------------------------------------------------------------------------------


def _not_found_field(request: Request) -> str | None:
    # A route with one path parameter (a slug, an id) has nothing else that could be missing.
    params = list(request.path_params)
    return params[0] if len(params) == 1 else None


def api_errors(exc: Exception, request: Request) -> tuple[int, list[tuple[str | None, str]]] | None:
    """The status and entries for an exception the API reports as the caller's mistake, else None."""
    if isinstance(exc, ApiError):
        return exc.status_code, exc.errors
    if isinstance(exc, RequestValidationError):
        return 422, validation_errors(exc.errors())
    if isinstance(exc, AnswerFormatError):
        return 422, [(f"answers.{key}", message) for key, message in exc.errors.items()]
    if isinstance(exc, DistributionError):
        return 422, [(exc.field, exc.message)]
    if isinstance(exc, SpecError):
        return 422, [(problem.field, problem.message) for problem in exc.problems]
    if isinstance(exc, VariantError):
        return 422, [("seed", f"gives no variant of this card ({exc})")]
    if isinstance(exc, InvalidSeed):
        return 422, [("seed", str(exc))]
    if isinstance(exc, NotFound):
        return 404, [(_not_found_field(request), str(exc))]
    if isinstance(exc, Forbidden):
        return 403, [(None, str(exc))]
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 400 and exc.detail == _UNPARSED_BODY:
        # FastAPI's bare 400 for a body it cannot even decode: bad input like any malformed JSON, so a 422 naming it.
        reason = "is not UTF-8 text" if isinstance(exc.__cause__, UnicodeDecodeError) else "cannot be parsed"
        return 422, [("body", reason)]
    return None


def install_error_handlers(
    app: FastAPI, *, page_handlers: Mapping[type[Exception], ExceptionHandler] | None = None
) -> None:
    """Register the API's JSON handlers; ``page_handlers`` answer the same exceptions on every other path."""
    pages = dict(page_handlers or {})

    def page_handler(exc: Exception) -> ExceptionHandler | None:
        for cls in type(exc).__mro__:
            if cls in pages:
                return pages[cls]
        return None

    async def handle(request: Request, exc: Exception) -> Response:
        if is_api_request(request):
            found = api_errors(exc, request)
            if found is not None:
                return error_response(*found)
            if isinstance(exc, StarletteHTTPException):
                # Unknown API paths, wrong methods, oversized bodies: the same shape, the original status.
                return error_response(exc.status_code, [(None, str(exc.detail))], headers=exc.headers)
            return error_response(500, [(None, "internal server error")])
        handler = page_handler(exc)
        if handler is not None:
            return await handler(request, exc)
        if isinstance(exc, RequestValidationError):
            return await request_validation_exception_handler(request, exc)
        if isinstance(exc, StarletteHTTPException):
            return await http_exception_handler(request, exc)
        found = api_errors(exc, request)
        if found is not None and isinstance(exc, NotFound | Forbidden | ApiError):
            status_code, errors = found
            return PlainTextResponse("; ".join(message for _, message in errors), status_code=status_code)
        raise exc

    handled: tuple[type[Exception], ...] = (
        ApiError,
        RequestValidationError,
        StarletteHTTPException,
        AnswerFormatError,
        DistributionError,
        SpecError,
        VariantError,
        InvalidSeed,
        NotFound,
        Forbidden,
        *(cls for cls in pages if cls is not Exception),
    )
    for cls in dict.fromkeys(handled):
        app.add_exception_handler(cls, handle)
    app.add_exception_handler(Exception, _server_error(pages.get(Exception)))


def _server_error(page_handler: ExceptionHandler | None) -> ExceptionHandler:
    async def handle(request: Request, exc: Exception) -> Response:
        if is_api_request(request):
            return error_response(500, [(None, "internal server error")])
        if page_handler is not None:
            return await page_handler(request, exc)
        return PlainTextResponse("Internal Server Error", status_code=500)

    return handle


class BodySizeLimit:
    """Refuses a request body over ``max_bytes`` with a 413 that the handlers above word (JSON on the API).

    The limit is raised from ``receive`` while a route reads its body, so the refusal goes through the
    exception handlers like any other error; a declared Content-Length that is too large is refused
    before a byte of the body is read.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> StarletteHTTPException:
        return StarletteHTTPException(413, f"the request body is larger than {self.max_bytes:,} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        too_large = declared.isdigit() and int(declared) > self.max_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)
