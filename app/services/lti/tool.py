"""Where the tool answers: its public base URL and the URLs an LMS is given, and which URLs are its own."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ToolUrls:
    """The tool's URLs under ``base`` (``https://tutor.example.edu``, or with a path prefix, no trailing slash)."""

    base: str

    @classmethod
    def at(cls, base: str) -> ToolUrls:
        return cls(base.rstrip("/"))

    @property
    def login_url(self) -> str:
        return f"{self.base}/lti/login"

    @property
    def launch_url(self) -> str:
        return f"{self.base}/lti/launch"

    @property
    def jwks_url(self) -> str:
        return f"{self.base}/.well-known/jwks.json"

    @property
    def config_url(self) -> str:
        return f"{self.base}/lti/config.json"

    def deck_url(self, slug: str) -> str:
        return f"{self.base}/decks/{slug}"

    def card_url(self, slug: str) -> str:
        return f"{self.base}/cards/{slug}"

    def owns(self, url: str) -> bool:
        """True for an http(s) URL on this tool's host (and under its path prefix, when it has one).

        The scheme may differ from the base's: behind a proxy that ends TLS the app sees plain http while the
        LMS was given https.
        """
        try:
            parts, own = urlsplit(url), urlsplit(self.base)
            port, own_port = _port(parts.scheme, parts.port), _port(own.scheme, own.port)
        except ValueError:  # a port that is not a number
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            return False
        if parts.hostname.lower() != (own.hostname or "").lower():
            return False
        if parts.scheme == own.scheme and port != own_port:
            return False
        prefix = own.path.rstrip("/")
        return not prefix or parts.path == prefix or parts.path.startswith(prefix + "/")


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme)
