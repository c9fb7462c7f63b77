"""Guests: learners known by a signed cookie until accounts exist.

The cookie holds a random guest id signed with the app's key (``itsdangerous.TimestampSigner``), so a
guest cannot claim another guest's id; a cookie that fails the signature check is ignored and a new
guest is issued. Routes ask for the guest through ``current_guest_id``; a cookie to send back is left
in the request's state and ``GuestCookieMiddleware`` adds it to whatever response goes out, pages,
API answers and error responses alike.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Final

from fastapi import Request
from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME: Final = "tutor_guest"
COOKIE_MAX_AGE: Final = 365 * 24 * 60 * 60
# A returning guest's cookie is signed afresh once it is this old, so the year counts from the last visit.
REFRESH_AFTER: Final = 30 * 24 * 60 * 60
SEED_MODULUS: Final = 2**31

_GUEST_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_STATE_GUEST: Final = "tutor_guest_id"  # this request's guest id, once known
_STATE_COOKIE: Final = "tutor_guest_cookie"  # a signed cookie value to send with the response


class GuestSigner:
    """Signs guest ids for the cookie and reads them back; ``read`` returns None for anything tampered with."""

    def __init__(self, key: str) -> None:
        self._signer = TimestampSigner(key, salt="tutor-guest")

    def sign(self, guest_id: str) -> str:
        return self._signer.sign(guest_id).decode("ascii")

    def read(self, cookie: str | None) -> tuple[str, float] | None:
        """The guest id in ``cookie`` and the cookie's age in seconds, or None when missing or not genuine."""
        if not cookie:
            return None
        try:
            value, signed_at = self._signer.unsign(cookie, return_timestamp=True)
        except (BadSignature, UnicodeError):
            return None
        guest_id = value.decode("ascii", errors="replace")
        if not _GUEST_ID.fullmatch(guest_id):
            return None
        return guest_id, time.time() - signed_at.timestamp()


def new_guest_id() -> str:
    return secrets.token_urlsafe(18)


def _signer(request: Request) -> GuestSigner:
    signer: GuestSigner = request.app.state.guest_signer
    return signer


def known_guest_id(request: Request) -> str | None:
    """The guest id of a genuine cookie (or one issued earlier in this request); never issues one."""
    issued: str | None = request.scope.get("state", {}).get(_STATE_GUEST)
    if issued is not None:
        return issued
    found = _signer(request).read(request.cookies.get(COOKIE_NAME))
    return None if found is None else found[0]


async def current_guest_id(request: Request) -> str:
    """The caller's guest id, issuing a new one (and its cookie) when the request has no genuine cookie."""
    return guest_id_for(request)


def reissue_guest_id(request: Request) -> str:
    """A new guest id (and cookie) in place of the request's: for a cookie whose guest has become an account."""
    state = request.scope.setdefault("state", {})
    guest_id = new_guest_id()
    state[_STATE_COOKIE] = _signer(request).sign(guest_id)
    state[_STATE_GUEST] = guest_id
    return guest_id


def guest_id_for(request: Request) -> str:
    """``current_guest_id`` for callers that are not dependencies (a template's ``csrf_token()``)."""
    state = request.scope.setdefault("state", {})
    if _STATE_GUEST in state:
        guest_id: str = state[_STATE_GUEST]
        return guest_id
    signer = _signer(request)
    found = signer.read(request.cookies.get(COOKIE_NAME))
    if found is None:
        guest_id = new_guest_id()
        state[_STATE_COOKIE] = signer.sign(guest_id)
    else:
        guest_id, age = found
        if age > REFRESH_AFTER:
            state[_STATE_COOKIE] = signer.sign(guest_id)
    state[_STATE_GUEST] = guest_id
    return guest_id


def stable_seed(guest_id: str, slug: str) -> int:
    """A seed of its own for each guest and card: ``int(sha256(guest_id + slug)) mod 2**31``."""
    digest = hashlib.sha256((guest_id + slug).encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % SEED_MODULUS


def default_seed(*, guest_id: str, slug: str, drawn: bool) -> int:
    """The variant a guest gets without asking for a seed: 0 for fixed cards, their own for drawn ones."""
    return stable_seed(guest_id, slug) if drawn else 0


def cookie_header(value: str, *, secure: bool) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header for a signed guest id: HttpOnly, SameSite=Lax, kept for a year."""
    response = Response()
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    return next((name, header) for name, header in response.raw_headers if name == b"set-cookie")


class GuestCookieMiddleware:
    """Adds the guest cookie that a dependency issued during the request to the response (ASGI, no buffering)."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The routes write into this same dict (``request.state``), so it must exist before they run.
        state = scope.setdefault("state", {})

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and (value := state.get(_STATE_COOKIE)):
                headers = MutableHeaders(scope=message)
                name, header = cookie_header(value, secure=self.secure)
                headers.append(name.decode("latin-1"), header.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
