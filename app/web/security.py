"""Security headers every response carries, set in one place: ``SecurityHeaders(app, frame_ancestors=...)``.

``Content-Security-Policy: frame-ancestors`` says who may show the pages in a frame: only the app itself by
default, and the LMSs named in ``FRAME_ANCESTORS`` when the tool runs inside their iframes. A response that
already has a policy keeps it, with the frame-ancestors directive added when it has none.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP: Final = "Content-Security-Policy"
# A source is a keyword ('self', 'none') or a scheme/host source; nothing that could end the directive.
_SOURCE: Final = re.compile(
    r"'(self|none)'|[A-Za-z][A-Za-z0-9+.-]*:|([A-Za-z][A-Za-z0-9+.-]*://)?[A-Za-z0-9*.-]+(:[0-9*]+)?(/[^\s;,']*)?"
)


def frame_ancestors_directive(sources: str) -> str:
    """``frame-ancestors 'self' https://lms.example.edu``; raises ValueError for a source that is not one."""
    parts = sources.split()
    if not parts:
        raise ValueError("FRAME_ANCESTORS is empty: use 'none' to forbid every frame, or 'self'")
    for part in parts:
        if not _SOURCE.fullmatch(part):
            raise ValueError(f"FRAME_ANCESTORS: {part!r} is not a CSP source ('self', 'none', https://lms.example)")
    return "frame-ancestors " + " ".join(parts)


class SecurityHeaders:
    """ASGI middleware adding the app's security headers to every HTTP response (no buffering)."""

    def __init__(self, app: ASGIApp, *, frame_ancestors: str) -> None:
        self.app = app
        self.directive = frame_ancestors_directive(frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                policy = headers.get(CSP)
                if policy is None:
                    headers[CSP] = self.directive
                elif "frame-ancestors" not in policy:
                    headers[CSP] = f"{policy.rstrip('; ')}; {self.directive}"
            await send(message)

        await self.app(scope, receive, send_with_headers)
