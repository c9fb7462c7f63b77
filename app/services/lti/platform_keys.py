"""Platforms' public keys, fetched from their JWKS URLs and cached; an unknown ``kid`` is fetched again once.

Platforms rotate keys, so a ``kid`` missing from the cached set prompts one fresh fetch before the launch is
refused. Fetches of one URL are spaced by ``refetch_interval`` so a stream of made-up kids cannot turn the tool
into a hammer on the platform's key endpoint.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import httpx

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey

MAX_KEYSET_BYTES: Final = 256 * 1024
MAX_KEYS: Final = 100


class KeySetUnavailable(Exception):
    """The platform's key set could not be fetched or read."""


@dataclass(frozen=True)
class _Fetched:
    keys: dict[str, RSAKey]
    fetched_at: datetime


def parse_key_set(body: bytes) -> dict[str, RSAKey]:
    """The RSA signing keys of a JWKS document by kid (keys for other uses or types are skipped)."""
    # joserfc loads cryptography: imported by the first key set read rather than when the app starts.
    from joserfc.errors import JoseError
    from joserfc.jwk import RSAKey

    try:
        document: Any = json.loads(body)
    except ValueError as exc:
        raise KeySetUnavailable("the key set is not JSON") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeySetUnavailable("the key set has no 'keys' list")
    keys: dict[str, RSAKey] = {}
    for entry in entries[:MAX_KEYS]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            keys[kid] = RSAKey.import_key(
                {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
            )
        except (JoseError, ValueError, TypeError):
            continue  # one malformed key does not spoil the others
    return keys


class PlatformKeys:
    """A thread-safe cache of platforms' key sets by URL: ``keys.find(client=..., jwks_url=..., kid=..., now=...)``."""

    def __init__(self, *, ttl: timedelta = timedelta(hours=1), refetch_interval: timedelta = timedelta(seconds=5)):
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self._sets: dict[str, _Fetched] = {}
        self._lock = threading.Lock()

    def _fetch(self, client: httpx.Client, url: str, now: datetime) -> _Fetched:
        try:
            response = client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise KeySetUnavailable(f"the platform's key set at {url} could not be reached ({exc})") from exc
        if response.status_code != 200:
            raise KeySetUnavailable(f"the platform's key set at {url} answered {response.status_code}")
        if len(response.content) > MAX_KEYSET_BYTES:
            raise KeySetUnavailable(f"the platform's key set at {url} is larger than {MAX_KEYSET_BYTES:,} bytes")
        fetched = _Fetched(keys=parse_key_set(response.content), fetched_at=now)
        with self._lock:
            self._sets[url] = fetched
        return fetched

    def find(self, *, client: httpx.Client, jwks_url: str, kid: str, now: datetime) -> RSAKey | None:
        """The platform's key ``kid``, or None when it is not in the set even after one fresh fetch.

        Raises KeySetUnavailable when the set must be fetched and cannot be.
        """
        with self._lock:
            cached = self._sets.get(jwks_url)
        if cached is None or now - cached.fetched_at >= self.ttl:
            cached = self._fetch(client, jwks_url, now)
            return cached.keys.get(kid)
        if kid in cached.keys:
            return cached.keys[kid]
        if now - cached.fetched_at < self.refetch_interval:
            return None
        return self._fetch(client, jwks_url, now).keys.get(kid)
