"""Errors on the pages answered as pages: a missing page, a bad request, a failure, each said in words."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.services.errors import Forbidden, NotFound
from app.web.pages.rendering import error_page, not_found_page

logger = logging.getLogger(__name__)

PageHandler = Callable[[Request, Exception], Awaitable[Response]]


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return not_found_page(request, "There is no page at this address.")
    if status == 405:
        message = "This address cannot be used that way; follow a link or the form on the page instead."
    else:
        message = str(exc.detail) if isinstance(exc, HTTPException) else "The request could not be answered."
    headers = getattr(exc, "headers", None)
    response = error_page(request, status_code=status, heading="Request not accepted", message=message)
    if headers:
        response.headers.update(headers)
    return response


async def invalid_request(request: Request, exc: Exception) -> Response:
    problems = exc.errors() if isinstance(exc, RequestValidationError) else []
    fields = sorted({str(p.get("loc", ("?",))[-1]) for p in problems})
    detail = f" Check: {', '.join(fields)}." if fields else ""
    return error_page(
        request, status_code=422, heading="Request not accepted", message=f"Part of the request is not valid.{detail}"
    )


async def forbidden(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        status_code=403,
        heading="Not allowed",
        message=str(exc) or "Your account may not see or change this.",
    )


async def not_found(request: Request, exc: Exception) -> Response:
    return not_found_page(request, str(exc) or "There is nothing at this address.")


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("page %s failed", request.url.path, exc_info=exc)
    return error_page(
        request,
        status_code=500,
        heading="Something went wrong",
        message="The page could not be shown because of a fault on our side. Your earlier answers are safe.",
    )


page_error_handlers: Final[Mapping[type[Exception], PageHandler]] = {
    HTTPException: http_error,
    RequestValidationError: invalid_request,
    # A service's refusal reaching a page without a route catching it: answered as what it is, not as a fault.
    Forbidden: forbidden,
    NotFound: not_found,
    Exception: server_error,
}
