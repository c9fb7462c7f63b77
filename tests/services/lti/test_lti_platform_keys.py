"""The platforms' key cache: fetched once, re-fetched once for an unknown kid, never hammered."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from lti_platform import FakePlatform

from app.db.models import utcnow
from app.services.lti.platform_keys import KeySetUnavailable, PlatformKeys, parse_key_set


def platform() -> FakePlatform:
    return FakePlatform(tool_keys=lambda: {"keys": []})


def test_the_key_set_is_fetched_once_and_cached() -> None:
    fake, keys, now = platform(), PlatformKeys(), utcnow()
    with fake.client() as client:
        first = keys.find(client=client, jwks_url=fake.jwks_url, kid=fake.kid, now=now)
        second = keys.find(client=client, jwks_url=fake.jwks_url, kid=fake.kid, now=now + timedelta(minutes=30))
    assert first is not None and first.kid == fake.kid
    assert second is first
    assert fake.jwks_requests == 1


def test_an_unknown_kid_fetches_the_set_again_once() -> None:
    fake, keys, now = platform(), PlatformKeys(), utcnow()
    with fake.client() as client:
        keys.find(client=client, jwks_url=fake.jwks_url, kid=fake.kid, now=now)
        rotated = fake.rotate_key()
        found = keys.find(client=client, jwks_url=fake.jwks_url, kid=rotated.kid or "", now=now + timedelta(seconds=6))
        assert found is not None and found.kid == rotated.kid
        assert fake.jwks_requests == 2
        # A kid the platform never had: exactly one more fetch, then the answer is "no such key".
        missing = keys.find(client=client, jwks_url=fake.jwks_url, kid="forged", now=now + timedelta(seconds=12))
    assert missing is None
    assert fake.jwks_requests == 3


def test_unknown_kids_in_quick_succession_fetch_at_most_once_per_interval() -> None:
    fake, keys, now = platform(), PlatformKeys(refetch_interval=timedelta(seconds=5)), utcnow()
    with fake.client() as client:
        keys.find(client=client, jwks_url=fake.jwks_url, kid=fake.kid, now=now)
        for offset, kid in enumerate(["made-up-1", "made-up-2", "made-up-3"]):
            assert (
                keys.find(client=client, jwks_url=fake.jwks_url, kid=kid, now=now + timedelta(seconds=offset)) is None
            )
    assert fake.jwks_requests == 1


def test_the_cache_expires() -> None:
    fake, keys, now = platform(), PlatformKeys(ttl=timedelta(hours=1)), utcnow()
    with fake.client() as client:
        keys.find(client=client, jwks_url=fake.jwks_url, kid=fake.kid, now=now)
        keys.find(client=client, jwks_url=fake.jwks_url, kid=fake.kid, now=now + timedelta(hours=1, seconds=1))
    assert fake.jwks_requests == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(500, text="oops"), "answered 500"),
        (httpx.Response(200, text="<html>"), "not JSON"),
        (httpx.Response(200, json={"no": "keys"}), "no 'keys' list"),
    ],
)
def test_a_key_set_that_cannot_be_had_is_reported(answer: httpx.Response, message: str) -> None:
    transport = httpx.MockTransport(lambda request: answer)
    with httpx.Client(transport=transport) as client, pytest.raises(KeySetUnavailable, match=message):
        PlatformKeys().find(client=client, jwks_url="https://lms.example.edu/jwks", kid="k", now=utcnow())


def test_a_platform_that_is_down_is_reported() -> None:
    fake = platform()
    fake.down = True
    with fake.client() as client, pytest.raises(KeySetUnavailable, match="could not be reached"):
        PlatformKeys().find(client=client, jwks_url=fake.jwks_url, kid=fake.kid, now=utcnow())


def test_only_rsa_signing_keys_are_taken() -> None:
    fake = platform()
    rsa = fake.keys[0].as_dict(private=False)
    document = {
        "keys": [
            {**rsa, "kid": "enc", "use": "enc"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
            {**rsa, "kid": None},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            rsa,
        ]
    }
    assert list(parse_key_set(json.dumps(document).encode())) == [fake.kid]
