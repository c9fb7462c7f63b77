"""Platform registrations: an LMS's issuer, the client id it gave the tool, its URLs, and its deployments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.integrations import LtiDeployment, LtiPlatform

MAX_PLATFORMS: Final = 500
_LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


class PlatformError(ValueError):
    """A registration that cannot be saved; ``field`` names the value at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PlatformView:
    id: int
    name: str
    issuer: str
    client_id: str
    auth_url: str
    token_url: str
    jwks_url: str
    deployments: tuple[str, ...]


def _check_url(field: str, value: str) -> str:
    """An https URL (plain http only for a platform on this machine, as a local test LMS is)."""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS:
        return url
    raise PlatformError(field, f"{value!r} is not an https URL")


def _check_text(field: str, value: str, limit: int = 255) -> str:
    text = value.strip()
    if not text:
        raise PlatformError(field, "is required")
    if len(text) > limit:
        raise PlatformError(field, f"is longer than {limit} characters")
    return text


def register_platform(
    *,
    session: Session,
    issuer: str,
    client_id: str,
    deployment_id: str,
    auth_url: str,
    token_url: str,
    jwks_url: str,
    name: str = "",
) -> LtiPlatform:
    """Add a platform and deployment, or update the URLs of the registration with this issuer and client id.

    A deployment id not yet known for the registration is added beside the others; commits.
    Raises PlatformError naming the field when a value is missing or a URL is not https.
    """
    issuer = _check_text("issuer", issuer)
    _check_url("issuer", issuer)
    client_id = _check_text("client_id", client_id)
    deployment_id = _check_text("deployment_id", deployment_id)
    urls = {
        "auth_url": _check_url("auth_url", _check_text("auth_url", auth_url, 500)),
        "token_url": _check_url("token_url", _check_text("token_url", token_url, 500)),
        "jwks_url": _check_url("jwks_url", _check_text("jwks_url", jwks_url, 500)),
    }
    name = name.strip()[:200]
    platform = session.scalars(
        select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id)
    ).one_or_none()
    if platform is None:
        platform = LtiPlatform(issuer=issuer, client_id=client_id, name=name or issuer, **urls)
        session.add(platform)
        session.flush()
    else:
        for field, url in urls.items():
            setattr(platform, field, url)
        if name:
            platform.name = name
    known = session.scalars(
        select(LtiDeployment.id).where(
            LtiDeployment.platform_id == platform.id, LtiDeployment.deployment_id == deployment_id
        )
    ).first()
    if known is None:
        session.add(LtiDeployment(platform_id=platform.id, deployment_id=deployment_id))
    session.commit()
    return platform


def list_platforms(*, session: Session) -> list[PlatformView]:
    """Every registration with its deployment ids, in the order they were added."""
    platforms = session.scalars(select(LtiPlatform).order_by(LtiPlatform.id).limit(MAX_PLATFORMS)).all()
    deployments: dict[int, list[str]] = {platform.id: [] for platform in platforms}
    if deployments:
        rows = session.execute(
            select(LtiDeployment.platform_id, LtiDeployment.deployment_id)
            .where(LtiDeployment.platform_id.in_(deployments))
            .order_by(LtiDeployment.id)
        )
        for platform_id, deployment_id in rows:
            deployments[platform_id].append(deployment_id)
    return [
        PlatformView(
            id=platform.id,
            name=platform.name,
            issuer=platform.issuer,
            client_id=platform.client_id,
            auth_url=platform.auth_url,
            token_url=platform.token_url,
            jwks_url=platform.jwks_url,
            deployments=tuple(deployments[platform.id]),
        )
        for platform in platforms
    ]


def find_platform(*, session: Session, issuer: str, client_id: str | None) -> LtiPlatform | None:
    """The registration for ``issuer`` and ``client_id``; without a client id, the issuer's only registration."""
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id:
        return session.scalars(query.where(LtiPlatform.client_id == client_id)).one_or_none()
    found = session.scalars(query.limit(2)).all()
    return found[0] if len(found) == 1 else None


def find_deployment(*, session: Session, platform_id: int, deployment_id: str) -> LtiDeployment | None:
    return session.scalars(
        select(LtiDeployment).where(
            LtiDeployment.platform_id == platform_id, LtiDeployment.deployment_id == deployment_id
        )
    ).one_or_none()
