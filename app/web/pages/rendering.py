"""The Jinja2 environment of the pages, its filters, and the helpers that turn a template into a response."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from app.domain.expressions import format_number
from app.web.auth import rendering_request, template_user
from app.web.csrf import template_csrf_token


def _beside_app(folder: str) -> Path:
    """``templates/`` or ``static/`` beside the ``app`` package (a source checkout), else in the current directory."""
    beside = Path(__file__).resolve().parents[3] / folder
    return beside if beside.is_dir() else Path.cwd() / folder


TEMPLATES_DIR: Final = _beside_app("templates")
STATIC_DIR: Final = _beside_app("static")
_MINUS: Final = re.compile(r"(?<![eE])-")  # a sign, not the hyphen of an exponent such as 2.68e-05


def percent(score: float | None) -> str:
    """A score in [0, 1] as a whole percentage: ``percent(0.5) == "50%"``."""
    if score is None or not math.isfinite(score):
        return "—"
    return f"{round(score * 100)}%"


def number(value: Any, digits: int = 4) -> str:
    """A number as a learner reads it, with a true minus sign: ``number(-0.0405) == "−0.0405"``."""
    return _MINUS.sub("−", format_number(value, digits))


def isodate(moment: datetime) -> str:
    """Machine-readable time for ``<time datetime>``; stored times without a zone are UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def when(moment: datetime) -> str:
    """A short, unambiguous date and time in UTC: ``29 Nov 2026, 18:52 UTC``."""
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return f"{utc.day} {utc:%b %Y, %H:%M} UTC"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails in the tests rather than printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(percent=percent, number=number, isodate=isodate, when=when)
    # Every form writes csrf_token(); the navigation shows current_user() (both read the request in the context).
    env.globals.update(csrf_token=template_csrf_token, current_user=template_user)
    return env


ENV: Final = _environment()


# Route paths already looked up, per app. Starlette finds a name by trying every route in turn (each miss an
# exception), a millisecond for a page's link, and a page has a dozen links; the routes never change once
# the app serves, so each (name, parameters) is looked up once. Bounded: ids in links make new keys forever.
_PATHS_KEPT: Final = 4096


def url_path(request: Request, name: str, /, **params: Any) -> str:
    """The path of a named route, relative to the host, so links work behind a proxy as well."""
    root: str = request.scope.get("root_path", "")
    state = request.app.state
    paths: dict[tuple[str, tuple[tuple[str, str], ...]], str] | None = getattr(state, "route_paths", None)
    if paths is None:
        paths = state.route_paths = {}
    values = tuple((k, str(v)) for k, v in params.items())
    key = (name, values)
    found = paths.get(key)
    if found is None:
        found = str(request.app.url_path_for(name, **dict(values)))
        if len(paths) >= _PATHS_KEPT:
            paths.clear()
        paths[key] = found
    return root + found


def render_page(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """Render ``templates/{name}`` with ``context`` and ``url_for`` into an HTML response."""

    def url_for(route: str, /, **params: Any) -> str:
        return url_path(request, route, **params)

    token = rendering_request.set(request)
    try:
        html = ENV.get_template(name).render({"request": request, "url_for": url_for, "nav": None, **context})
    finally:
        rendering_request.reset(token)
    return HTMLResponse(html, status_code=status_code)


def error_page(
    request: Request, *, status_code: int, heading: str, message: str, retry_url: str | None = None
) -> HTMLResponse:
    """The error page: a heading, what went wrong in words, and a way back."""
    context = {"heading": heading, "message": message, "retry_url": retry_url}
    return render_page(request, "error.html", context, status_code=status_code)


def not_found_page(request: Request, message: str) -> HTMLResponse:
    """The 404 page, for a card or submission that does not exist (or is not the caller's)."""
    return error_page(request, status_code=404, heading="Not found", message=message)


__all__ = ["ENV", "STATIC_DIR", "error_page", "not_found_page", "render_page", "url_path"]
