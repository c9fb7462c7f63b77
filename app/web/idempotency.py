"""The ``Idempotency-Key`` header of the submission routes: a retried POST gets the first response back.

A route opens a guard before doing anything; the guard either holds the stored response to replay, or stores
the new one through ``keep`` inside the transaction that makes it::

    guard = IdempotencyGuard.open(request, session, key=key, body=body.model_dump(mode="json"), ...)
    if guard.replay is not None:
        return guard.replay
    view = submit(..., on_stored=guard.keep(lambda view: SubmissionPublic.build(view)))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.db.models import Learner, User
from app.services.idempotency import (
    HEADER,
    MAX_KEY_LENGTH,
    KeyReused,
    StoredResponse,
    fingerprint,
    store_response,
    stored_response,
)
from app.services.submissions import SubmissionView
from app.web.errors import ApiError

REPLAYED_HEADER: Final = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="A key of the client's choosing (a UUID): a retry with the same key and body returns the "
        "first response and stores nothing again; the same key with another body is a 422",
        examples=["5f0c6a4e-8f1e-4c59-9a51-2d8f7c3f0b1a"],
    ),
]


def caller_scope(request: Request, user: User | None, learner: Learner) -> str:
    """Whose keys these are: the token's, else the signed-in user's, else the guest's."""
    token_id = getattr(request.state, "token_id", None)
    if token_id is not None:
        return f"token:{token_id}"
    if user is not None:
        return f"user:{user.id}"
    return f"guest:{learner.guest_id}"


@dataclass
class IdempotencyGuard:
    """What a route needs to honour one ``Idempotency-Key``; a no-op without one."""

    session: Session
    scope: str
    key: str | None
    request_hash: str
    location: Callable[[int], str]
    replay: JSONResponse | None = None
    built: BaseModel | None = None  # the response made by ``keep``, before the commit

    @classmethod
    def open(
        cls,
        request: Request,
        session: Session,
        *,
        key: str | None,
        body: Mapping[str, Any],
        scope: str,
        location: Callable[[int], str],
    ) -> IdempotencyGuard:
        """Look the key up; ``replay`` is set when it answered this request before; 422 for another request."""
        # Only a key is ever compared with the request it came with: without one, hashing the body is wasted.
        request_hash = "" if key is None else fingerprint(method=request.method, path=request.url.path, body=body)
        guard = cls(session=session, scope=scope, key=key, request_hash=request_hash, location=location)
        if key is not None:
            try:
                found = stored_response(session=session, scope=scope, key=key, request_hash=request_hash)
            except KeyReused as exc:
                raise ApiError(422, [(HEADER, str(exc))]) from exc
            if found is not None:
                guard.replay = guard.response(found)
        return guard

    def response(self, stored: StoredResponse) -> JSONResponse:
        headers = {REPLAYED_HEADER: "true"}
        ident = stored.body.get("id")
        if isinstance(ident, int):
            headers["Location"] = self.location(ident)
        return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)

    def keep(
        self, build: Callable[[SubmissionView], BaseModel], *, status_code: int = 201
    ) -> Callable[[SubmissionView], None]:
        """A hook for ``submit(on_stored=...)``: builds the response (``built``) and stores it with the submission."""

        def store(view: SubmissionView) -> None:
            self.built = build(view)
            if self.key is None:
                return
            body = self.built.model_dump(mode="json")
            store_response(
                session=self.session,
                scope=self.scope,
                key=self.key,
                request_hash=self.request_hash,
                status_code=status_code,
                body=body,
            )

        return store

    def winner(self) -> JSONResponse:
        """The response of the request that stored the key first (after this one lost the race)."""
        assert self.key is not None
        self.session.rollback()
        try:
            found = stored_response(
                session=self.session, scope=self.scope, key=self.key, request_hash=self.request_hash
            )
        except KeyReused as exc:
            raise ApiError(422, [(HEADER, str(exc))]) from exc
        if found is None:  # the winner's transaction was rolled back after all: nothing was stored
            raise ApiError(409, [(HEADER, "a request with this key is in progress; try again")])
        return self.response(found)
