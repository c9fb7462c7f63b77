"""Idempotency keys: a request retried with the same ``Idempotency-Key`` gets the first response back.

The first response is stored in the transaction that makes what it reports (a submission), so either both
are kept or neither. Two requests with the same key at once both try to insert it: the unique constraint on
(scope, key) lets one win, and the other answers with the winner's stored response. Keys are per caller
(``scope``): one client's key never finds another's response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.integrations import IdempotencyKey

MAX_KEY_LENGTH: Final = 255
HEADER: Final = "Idempotency-Key"


class KeyReused(ValueError):
    """The key was used before with a different request."""


class KeyRaced(Exception):
    """Another request with the same key was stored first; its response is the answer."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def fingerprint(*, method: str, path: str, body: Mapping[str, Any]) -> str:
    """The SHA-256 of the request as it matters: method, path and the body's parsed content."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def stored_response(*, session: Session, scope: str, key: str, request_hash: str) -> StoredResponse | None:
    """The response kept for ``key``; None if there is none; raises KeyReused if it answered another request."""
    row = session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    ).one_or_none()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise KeyReused("was already used for a different request; send a new key for this one")
    return StoredResponse(status_code=row.status_code, body=dict(row.response))


def store_response(
    *, session: Session, scope: str, key: str, request_hash: str, status_code: int, body: Mapping[str, Any]
) -> None:
    """Keep the response in the caller's transaction (not committed); raises KeyRaced if the key was taken.

    The caller must roll back after KeyRaced: the failed insert may have ended the transaction.
    """
    session.add(
        IdempotencyKey(scope=scope, key=key, request_hash=request_hash, status_code=status_code, response=dict(body))
    )
    try:
        session.flush()
    except IntegrityError as exc:
        raise KeyRaced(key) from exc
