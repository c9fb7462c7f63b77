"""The ``lti_state`` cookie: the logins this browser started, so a launch is accepted only where it began.

It holds the state, nonce and platform of the last few logins (an LMS page may embed several links, each
launching at once), signed with the app's key and kept for ten minutes. The launch comes as a cross-site form
post from the LMS, so the cookie is ``SameSite=None; Secure``; it is HttpOnly and sent only to ``/lti/``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from app.services.lti.launch import PendingLogin

COOKIE_NAME: Final = "lti_state"
COOKIE_PATH: Final = "/lti/"
MAX_AGE: Final = 10 * 60
KEPT: Final = 5  # logins remembered at once; the oldest goes first
_MAX_COOKIE: Final = 3000


class StateSigner:
    """Signs and reads the list of pending logins: ``StateSigner(key).read(cookie)``."""

    def __init__(self, key: str) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="tutor-lti-state")

    def sign(self, logins: list[PendingLogin]) -> str:
        return self._serializer.dumps([[login.state, login.nonce, login.platform_id] for login in logins[-KEPT:]])

    def read(self, cookie: str | None) -> list[PendingLogin]:
        if not cookie or len(cookie) > _MAX_COOKIE:
            return []
        try:
            data: Any = self._serializer.loads(cookie, max_age=MAX_AGE)
        except (BadSignature, UnicodeError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [
            PendingLogin(state=entry[0], nonce=entry[1], platform_id=entry[2])
            for entry in data
            if isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and isinstance(entry[1], str)
            and isinstance(entry[2], int)
        ]


def _signer(request: Request) -> StateSigner:
    signer: StateSigner = request.app.state.lti_state_signer
    return signer


def pending_logins(request: Request) -> list[PendingLogin]:
    return _signer(request).read(request.cookies.get(COOKIE_NAME))


def store_logins(request: Request, response: Response, logins: list[PendingLogin]) -> None:
    """Write ``logins`` to the cookie on ``response`` (or delete it when there are none left)."""
    if not logins:
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, secure=True, httponly=True, samesite="none")
        return
    response.set_cookie(
        COOKIE_NAME,
        _signer(request).sign(logins),
        max_age=MAX_AGE,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="none",
    )
