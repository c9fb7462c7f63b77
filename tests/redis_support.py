"""Redis for the tests that count in it, importable by name (``from redis_support import redis_prefix``).

Redis is at ``TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0). Each test counts under a key prefix of its
own, so tests in parallel and other users of the same Redis never see each other's counts; the prefix's keys
are deleted afterwards. With no Redis answering the test skips, saying why, unless ``E2E_REQUIRED=1`` (CI)
makes that a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """The test Redis's URL once it answers a PING; a skip (or a failure under E2E_REQUIRED=1) otherwise."""
    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"no Redis answers at {url} ({exc}); set TEST_REDIS_URL to one to run this test"
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(f"{reason}, and E2E_REQUIRED=1 makes it required")
        pytest.skip(reason)
    finally:
        client.close()
    return url


@contextmanager
def redis_prefix(url: str) -> Iterator[str]:
    """A fresh key prefix; every key under it is deleted on the way out."""
    prefix = f"tutor-test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def keys_under(url: str, prefix: str) -> list[str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return sorted(client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()
