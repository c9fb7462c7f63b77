"""The tool's keys: made on first use, rotated with the old key still published, retired keys expiring."""

from __future__ import annotations

from datetime import timedelta

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.integrations import LtiKey
from app.db.models import utcnow
from app.services.lti.keys import (
    RETIRED_KEY_LIFETIME,
    active_key,
    generate_key_pair,
    published_keys,
    rotate_key,
    sign,
)


def test_a_new_key_pair_is_a_2048_bit_rsa_signing_key() -> None:
    key = generate_key_pair("2026-k1")  # the real generator (the tests' pool stands in for it elsewhere)
    assert key.raw_value.key_size == 2048
    assert key.is_private
    assert (key.kid, key.alg, key.get("use")) == ("2026-k1", "RS256", "sig")


def test_the_first_use_makes_one_active_key(session: Session) -> None:
    key = active_key(session=session)
    again = active_key(session=session)
    assert again.id == key.id
    assert session.scalar(select(func.count()).select_from(LtiKey)) == 1
    assert key.public_jwk["kid"] == key.kid
    assert key.public_jwk["kty"] == "RSA" and key.public_jwk["alg"] == "RS256" and key.public_jwk["use"] == "sig"
    assert "d" not in key.public_jwk  # the private exponent is never published


def test_a_signed_token_verifies_with_the_published_key_set(session: Session) -> None:
    token = sign(session=session, claims={"iss": "tool", "n": 7})
    header = jwt.decode(token, KeySet.import_key_set(published_keys(session=session)), algorithms=["RS256"])  # type: ignore[arg-type]
    assert header.claims == {"iss": "tool", "n": 7}
    assert header.header["kid"] == active_key(session=session).kid
    assert header.header["alg"] == "RS256"


def test_rotation_keeps_the_old_key_published(session: Session) -> None:
    old = active_key(session=session)
    before_rotation = sign(session=session, claims={"signed": "before"})
    new = rotate_key(session=session)
    assert new.kid != old.kid
    assert active_key(session=session).kid == new.kid
    published = published_keys(session=session)
    assert [entry["kid"] for entry in published["keys"]] == [new.kid, old.kid]
    # A token signed just before the rotation still verifies against what is published now.
    keys = KeySet.import_key_set(published)  # type: ignore[arg-type]
    assert jwt.decode(before_rotation, keys, algorithms=["RS256"]).claims == {"signed": "before"}
    assert jwt.decode(sign(session=session, claims={"signed": "after"}), keys).header["kid"] == new.kid
    session.refresh(old)
    assert old.active is False and old.retired_at is not None


def test_retired_keys_leave_the_key_set_after_their_lifetime(session: Session) -> None:
    start = utcnow()
    old = active_key(session=session, now=start)
    new = rotate_key(session=session, now=start)
    soon = published_keys(session=session, now=start + RETIRED_KEY_LIFETIME - timedelta(minutes=1))
    later = published_keys(session=session, now=start + RETIRED_KEY_LIFETIME + timedelta(minutes=1))
    assert {entry["kid"] for entry in soon["keys"]} == {old.kid, new.kid}
    assert [entry["kid"] for entry in later["keys"]] == [new.kid]
