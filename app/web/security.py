"""Security headers every response carries, set in one place: ``SecurityHeaders(app, frame_ancestors=..., hsts=...)``.

The Content-Security-Policy lets pages load scripts, styles and images from this server only (images also as
``data:`` URLs), never inline: templates keep their scripts in ``static/*.js`` and their styles in
``static/app.css``, so an injected ``<script>`` or ``onerror=`` does nothing even if it ever got through the
escaping. ``frame-ancestors`` says who may show the pages in a frame: only the app itself by default, and the
LMSs named in ``FRAME_ANCESTORS`` when the tool runs inside their iframes. A form may post only back here, except
on a response whose route called ``allow_form_action`` (the page that carries an LTI deep linking answer back to
the LMS adds that one platform's origin). A response that already has a policy keeps it, with the
frame-ancestors directive added when it has none.

Strict-Transport-Security is sent only where HTTPS is in use: ``COOKIE_SECURE=true`` or a request that came
over https (the scheme a trusted proxy reported).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP: Final = "Content-Security-Policy"
LTI_PREFIX: Final = "/lti/"
# Everything the pages need, nothing more: the app's own files, and data: images (Swagger UI's icons).
BASE_POLICY: Final = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
)
HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS: Final = "max-age=31536000; includeSubDomains"
# An LMS may open a launch in a window it keeps a handle on; its pages under /lti/ must not sever that link.
COOP: Final = "same-origin"
COOP_LTI: Final = "unsafe-none"
_STATE_FORM_ACTION: Final = "security_form_action"

# A source is a keyword ('self', 'none') or a scheme/host source; nothing that could end the directive.
_SOURCE: Final = re.compile(
    r"'(self|none)'|[A-Za-z][A-Za-z0-9+.-]*:|([A-Za-z][A-Za-z0-9+.-]*://)?[A-Za-z0-9*.-]+(:[0-9*]+)?(/[^\s;,']*)?"
)
_ORIGIN: Final = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def frame_ancestors_directive(sources: str) -> str:
    """``frame-ancestors 'self' https://lms.example.edu``; raises ValueError for a source that is not one."""
    parts = sources.split()
    if not parts:
        raise ValueError("FRAME_ANCESTORS is empty: use 'none' to forbid every frame, or 'self'")
    for part in parts:
        if not _SOURCE.fullmatch(part):
            raise ValueError(f"FRAME_ANCESTORS: {part!r} is not a CSP source ('self', 'none', https://lms.example)")
    return "frame-ancestors " + " ".join(parts)


def form_origin(url: str) -> str | None:
    """The origin a form posting to ``url`` reaches (``https://lms.example.edu``), None if it is no web URL."""
    parts = urlsplit(url)
    origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
    if parts.username is not None or parts.password is not None or not _ORIGIN.fullmatch(origin):
        return None
    return origin


def allow_form_action(request: Request, url: str) -> None:
    """Let this response's page post a form to ``url``'s origin as well as to this server."""
    origin = form_origin(url)
    if origin is not None:
        request.scope.setdefault("state", {}).setdefault(_STATE_FORM_ACTION, []).append(origin)


class SecurityHeaders:
    """ASGI middleware adding the app's security headers to every HTTP response (no buffering)."""

    def __init__(self, app: ASGIApp, *, frame_ancestors: str, hsts: bool = False) -> None:
        self.app = app
        self.frame_ancestors = frame_ancestors_directive(frame_ancestors)
        self.hsts = hsts

    def policy(self, form_origins: list[str]) -> str:
        form_action = " ".join(["form-action 'self'", *dict.fromkeys(form_origins)])
        return "; ".join([*BASE_POLICY, form_action, self.frame_ancestors])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Routes write into this same dict (``request.state``), so it must exist before they run.
        state = scope.setdefault("state", {})
        lti = str(scope.get("path", "")).startswith(LTI_PREFIX)
        hsts = self.hsts or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                policy = headers.get(CSP)
                if policy is None:
                    headers[CSP] = self.policy(state.get(_STATE_FORM_ACTION, []))
                elif "frame-ancestors" not in policy:
                    headers[CSP] = f"{policy.rstrip('; ')}; {self.frame_ancestors}"
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Cross-Origin-Opener-Policy", COOP_LTI if lti else COOP)
                if hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
