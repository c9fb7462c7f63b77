"""Cookies marked ``Secure`` whenever the request came over HTTPS, including through a proxy.

Behind a proxy that ends TLS the app itself is spoken to over plain HTTP; the server (``tutor serve
--proxy-headers``, uvicorn's ProxyHeadersMiddleware) trusts ``X-Forwarded-Proto: https`` from the addresses in
``FORWARDED_ALLOW_IPS`` and sets the request's scheme to https. ``SecureCookiesOverHttps`` then adds
``Secure`` to every ``Set-Cookie`` of such a request, so a deployment behind an HTTPS proxy gets Secure cookies
without also having to set ``COOKIE_SECURE`` (which still forces them for every request).
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SET_COOKIE: Final = b"set-cookie"


def with_secure(cookie: bytes) -> bytes:
    """``b"a=1; Path=/"`` → ``b"a=1; Path=/; Secure"``; a cookie already Secure is left as it is."""
    attributes = [part.strip().lower() for part in cookie.split(b";")[1:]]
    return cookie if b"secure" in attributes else cookie + b"; Secure"


class SecureCookiesOverHttps:
    """ASGI middleware: on an https request, every cookie the response sets is marked Secure."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if any(name == SET_COOKIE for name, _ in headers):
                    message["headers"] = [
                        (name, with_secure(value) if name == SET_COOKIE else value) for name, value in headers
                    ]
            await send(message)

        await self.app(scope, receive, send_secure)
