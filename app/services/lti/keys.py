"""The tool's RSA keys: the active one signs, retired ones stay in the published key set for a while.

Platforms verify what the tool signs (deep linking responses, client assertions) against
``/.well-known/jwks.json``. Rotating makes a new active key and retires the old one, which stays published for
``RETIRED_KEY_LIFETIME`` so that tokens signed just before the rotation, and platforms holding a cached key set,
still verify.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.db.integrations import LtiKey
from app.db.models import utcnow

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey

KEY_BITS: Final = 2048
SIGNING_ALGORITHM: Final = "RS256"
RETIRED_KEY_LIFETIME: Final = timedelta(days=30)
MAX_PUBLISHED_KEYS: Final = 20  # bounds the key set however often keys are rotated


def generate_key_pair(kid: str) -> RSAKey:
    """A new RSA key pair for signing, named ``kid``."""
    from joserfc.jwk import RSAKey  # joserfc loads cryptography: only when a key is made, not at start

    return RSAKey.generate_key(KEY_BITS, parameters={"kid": kid, "use": "sig", "alg": SIGNING_ALGORITHM})


def _new_key(now: datetime) -> LtiKey:
    kid = f"{now:%Y%m%d}-{secrets.token_hex(6)}"
    key = generate_key_pair(kid)
    return LtiKey(
        kid=kid,
        private_pem=key.as_pem(private=True).decode("ascii"),
        public_jwk=dict(key.as_dict(private=False)),
        active=True,
        created_at=now,
    )


def active_key(*, session: Session, now: datetime | None = None) -> LtiKey:
    """The key that signs now; the first call makes one (and commits it)."""
    found = session.scalars(
        select(LtiKey).where(LtiKey.active.is_(True)).order_by(LtiKey.created_at.desc(), LtiKey.id.desc()).limit(1)
    ).first()
    if found is not None:
        return found
    key = _new_key(now or utcnow())
    session.add(key)
    session.commit()
    return key


def rotate_key(*, session: Session, now: datetime | None = None) -> LtiKey:
    """Make a new active key and retire the others (still published until they expire); commits."""
    moment = now or utcnow()
    session.execute(update(LtiKey).where(LtiKey.active.is_(True)).values(active=False, retired_at=moment))
    key = _new_key(moment)
    session.add(key)
    session.commit()
    return key


def published_keys(*, session: Session, now: datetime | None = None) -> dict[str, Any]:
    """The JWKS document: the active key and the keys retired less than ``RETIRED_KEY_LIFETIME`` ago."""
    moment = now or utcnow()
    rows = session.scalars(
        select(LtiKey)
        .where(or_(LtiKey.active.is_(True), LtiKey.retired_at > moment - RETIRED_KEY_LIFETIME))
        .order_by(LtiKey.created_at.desc(), LtiKey.id.desc())
        .limit(MAX_PUBLISHED_KEYS)
    )
    return {"keys": [dict(row.public_jwk) for row in rows]}


def sign(*, session: Session, claims: Mapping[str, Any], now: datetime | None = None) -> str:
    """A JWT of ``claims`` signed RS256 with the active key, its ``kid`` in the header."""
    from joserfc import jwt  # joserfc loads cryptography: only when something is signed, not at start
    from joserfc.jwk import RSAKey

    row = active_key(session=session, now=now)
    key = RSAKey.import_key(row.private_pem, parameters={"kid": row.kid})
    return jwt.encode({"alg": SIGNING_ALGORITHM, "kid": row.kid}, dict(claims), key, algorithms=[SIGNING_ALGORITHM])
