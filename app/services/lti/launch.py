"""OIDC login initiation and launch validation: every rule of the LTI 1.3 core and security specs.

A launch is two requests. The platform first calls the login URL (``begin_login``): the tool checks the
issuer and the target, makes a ``state`` and a ``nonce``, remembers both in a cookie bound to this browser,
and sends the browser to the platform's authorisation URL. The platform then posts an ``id_token`` to the
launch URL (``validate_launch``), where the state must match the cookie, the token must be signed RS256 by
a key of the platform's key set, and its claims must name this tool, this nonce (once only), a known
deployment and an LTI 1.3.0 message. Each failure raises ``LaunchError`` with a message saying what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.integrations import LtiNonce, LtiPlatform
from app.services.lti import claims as c
from app.services.lti.platform_keys import KeySetUnavailable, PlatformKeys
from app.services.lti.platforms import find_deployment, find_platform
from app.services.lti.tool import ToolUrls

LEEWAY: Final = timedelta(seconds=60)  # clocks of the platform and the tool disagree a little
MAX_TOKEN_LENGTH: Final = 64 * 1024
MAX_PARAM_LENGTH: Final = 2048
ALGORITHM: Final = "RS256"


class LaunchError(Exception):
    """A login or launch refused; ``message`` says why in words an administrator can act on."""

    def __init__(self, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class PendingLogin:
    """A login this browser started: the state and nonce sent to the platform, and which registration."""

    state: str
    nonce: str
    platform_id: int


@dataclass(frozen=True)
class LoginRedirect:
    url: str  # the platform's authorisation URL with the OIDC parameters
    pending: PendingLogin


@dataclass(frozen=True)
class DeepLinkingSettings:
    return_url: str
    accept_types: tuple[str, ...]
    accept_multiple: bool
    accept_lineitem: bool
    data: str | None  # opaque to the tool, echoed back in the response
    title: str


@dataclass(frozen=True)
class Launch:
    """A validated launch: who, from where, in which course and link, and what the platform offers."""

    platform_id: int
    issuer: str
    client_id: str
    deployment_row_id: int
    deployment_id: str
    message_type: str
    subject: str
    roles: tuple[str, ...]
    target_link_uri: str
    email: str | None = None
    context_id: str | None = None
    context_title: str = ""
    resource_link_id: str | None = None
    resource_link_title: str = ""
    lineitem_url: str | None = None  # where scores go, when the platform granted the score scope
    custom: Mapping[str, str] = field(default_factory=dict)
    deep_linking: DeepLinkingSettings | None = None


# --- login initiation ---------------------------------------------------------------------------------------


def _param(params: Mapping[str, str], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or not value.strip():
        if required:
            raise LaunchError(f"The login request has no '{name}'; the platform must send it.")
        return None
    if len(value) > MAX_PARAM_LENGTH:
        raise LaunchError(f"The login request's '{name}' is longer than {MAX_PARAM_LENGTH} characters.")
    return value.strip()


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def begin_login(*, session: Session, params: Mapping[str, str], tool: ToolUrls) -> LoginRedirect:
    """Check a login initiation (``iss``, ``login_hint``, ``target_link_uri``) and build the redirect.

    Raises LaunchError naming the parameter at fault.
    """
    issuer = _param(params, "iss")
    login_hint = _param(params, "login_hint")
    target = _param(params, "target_link_uri")
    client_id = _param(params, "client_id", required=False)
    deployment_id = _param(params, "lti_deployment_id", required=False)
    message_hint = _param(params, "lti_message_hint", required=False)
    assert issuer is not None and login_hint is not None and target is not None
    platform = find_platform(session=session, issuer=issuer, client_id=client_id)
    if platform is None:
        named = f"issuer '{issuer}'" + (f" and client id '{client_id}'" if client_id else "")
        raise LaunchError(
            f"No platform is registered with {named}. An administrator adds it on the LTI platforms page "
            "or with `tutor lti add-platform`.",
            status_code=404 if client_id else 400,
        )
    if not tool.owns(target):
        raise LaunchError(f"The target_link_uri '{target}' is not an address of this tool ({tool.base}).")
    if (
        deployment_id is not None
        and find_deployment(session=session, platform_id=platform.id, deployment_id=deployment_id) is None
    ):
        raise LaunchError(f"The deployment '{deployment_id}' is not registered for the platform '{platform.name}'.")
    pending = PendingLogin(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32), platform_id=platform.id)
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": tool.launch_url,
        "login_hint": login_hint,
        "state": pending.state,
        "nonce": pending.nonce,
    }
    if message_hint is not None:
        query["lti_message_hint"] = message_hint
    return LoginRedirect(url=_with_query(platform.auth_url, query), pending=pending)


# --- the id_token ---------------------------------------------------------------------------------------------


def _decode_segment(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _unverified_header(token: str) -> dict[str, Any]:
    segments = token.split(".")
    if len(segments) != 3:
        raise LaunchError("The id_token is not a signed JWT (it must have a header, claims and a signature).")
    try:
        header = _decode_segment(segments[0])
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise LaunchError("The id_token's header cannot be read.") from exc
    if not isinstance(header, dict):
        raise LaunchError("The id_token's header is not a JSON object.")
    return header


def _check_header(header: Mapping[str, Any]) -> str:
    """The header's ``kid``, once the algorithm is known to be RS256."""
    alg = header.get("alg")
    if alg != ALGORITHM:
        if isinstance(alg, str) and alg.lower() == "none":
            raise LaunchError("The id_token is not signed (alg 'none'); only RS256-signed tokens are accepted.")
        raise LaunchError(f"The id_token is signed with {alg!r}; only RS256 is accepted.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise LaunchError("The id_token's header has no 'kid', so the platform key that signed it cannot be chosen.")
    return kid


def _verified_claims(
    *, token: str, kid: str, platform: LtiPlatform, client: httpx.Client, keys: PlatformKeys, now: datetime
) -> dict[str, Any]:
    try:
        key = keys.find(client=client, jwks_url=platform.jwks_url, kid=kid, now=now)
    except KeySetUnavailable as exc:
        raise LaunchError(f"The platform's keys could not be fetched: {exc}.", status_code=502) from exc
    if key is None:
        raise LaunchError(f"The platform's key set ({platform.jwks_url}) has no key with kid '{kid}'.")
    # joserfc loads cryptography: imported by the first launch rather than when the app starts.
    from joserfc import jwt
    from joserfc.errors import BadSignatureError, JoseError

    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
    except BadSignatureError as exc:
        raise LaunchError(f"The id_token's signature does not verify with the platform's key '{kid}'.") from exc
    except (JoseError, ValueError) as exc:
        raise LaunchError(f"The id_token cannot be read ({exc}).") from exc
    return dict(decoded.claims)


def _string(claims: Mapping[str, Any], name: str, label: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LaunchError(f"The id_token has no {label}.")
    if len(value) > 255:
        raise LaunchError(f"The id_token's {label} is longer than 255 characters.")
    return value


def _timestamp(claims: Mapping[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LaunchError(f"The id_token has no '{name}' time.")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise LaunchError(f"The id_token's '{name}' time is not a valid time.") from exc


def _check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(item, str) for item in audiences):
        raise LaunchError("The id_token has no audience ('aud').")
    if client_id not in audiences:
        raise LaunchError(f"The id_token's audience {audiences} does not include this tool's client id '{client_id}'.")
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise LaunchError("The id_token names several audiences but no authorised party ('azp').")
    if azp is not None and azp != client_id:
        raise LaunchError(f"The id_token's authorised party '{azp}' is not this tool's client id '{client_id}'.")


def _check_times(claims: Mapping[str, Any], now: datetime) -> datetime:
    """The token's expiry, once it is known not to have passed and the token not to come from the future."""
    expires = _timestamp(claims, "exp")
    issued = _timestamp(claims, "iat")
    if expires + LEEWAY < now:
        raise LaunchError(f"The id_token expired at {expires:%Y-%m-%d %H:%M:%S} UTC; launch again from the LMS.")
    if issued - LEEWAY > now:
        raise LaunchError("The id_token was issued in the future ('iat'); check the platform's clock.")
    return expires


def _deep_linking_settings(claims: Mapping[str, Any]) -> DeepLinkingSettings:
    settings = claims.get(c.DEEP_LINKING_SETTINGS)
    if not isinstance(settings, dict):
        raise LaunchError("The deep linking request has no deep_linking_settings claim.")
    return_url = settings.get("deep_link_return_url")
    if not isinstance(return_url, str) or urlsplit(return_url).scheme not in ("http", "https"):
        raise LaunchError("The deep linking request has no deep_link_return_url.")
    accept_types = settings.get("accept_types")
    if not isinstance(accept_types, list) or "ltiResourceLink" not in accept_types:
        raise LaunchError("The deep linking request does not accept 'ltiResourceLink' items, the only kind offered.")
    data = settings.get("data")
    title = settings.get("title")
    return DeepLinkingSettings(
        return_url=return_url,
        accept_types=tuple(str(kind) for kind in accept_types),
        accept_multiple=settings.get("accept_multiple") is True,
        accept_lineitem=settings.get("accept_lineitem") is not False,
        data=data if isinstance(data, str) else None,
        title=title if isinstance(title, str) else "",
    )


def _lineitem(claims: Mapping[str, Any]) -> str | None:
    endpoint = claims.get(c.AGS_ENDPOINT)
    if not isinstance(endpoint, dict):
        return None
    scopes = endpoint.get("scope")
    lineitem = endpoint.get("lineitem")
    if not isinstance(scopes, list) or c.AGS_SCORE_SCOPE not in scopes:
        return None
    if not isinstance(lineitem, str) or urlsplit(lineitem).scheme not in ("http", "https") or len(lineitem) > 500:
        return None
    return lineitem


def _email(claims: Mapping[str, Any]) -> str | None:
    value = claims.get("email")
    if not isinstance(value, str) or claims.get("email_verified") is False:
        return None
    email = value.strip().lower()
    return email if 3 <= len(email) <= 254 and email.count("@") == 1 and " " not in email else None


def _context(claims: Mapping[str, Any]) -> tuple[str | None, str]:
    context = claims.get(c.CONTEXT)
    if context is None:
        return None, ""
    if not isinstance(context, dict):
        raise LaunchError("The id_token's context claim is not an object.")
    context_id = _string(context, "id", "context id")
    title = context.get("title") or context.get("label") or ""
    return context_id, str(title)[:255]


def _resource_link(claims: Mapping[str, Any], message_type: str) -> tuple[str | None, str]:
    link = claims.get(c.RESOURCE_LINK)
    if message_type != c.RESOURCE_LINK_REQUEST:
        return None, ""
    if not isinstance(link, dict):
        raise LaunchError("The resource link launch has no resource_link claim.")
    link_id = _string(link, "id", "resource link id")
    title = link.get("title") or ""
    return link_id, str(title)[:255]


def _record_nonce(session: Session, platform_id: int, nonce: str, expires: datetime, now: datetime) -> None:
    # Nonces older than their tokens can go: an expired token is refused before its nonce is looked at.
    session.execute(delete(LtiNonce).where(LtiNonce.expires_at < now))
    session.add(LtiNonce(platform_id=platform_id, nonce=nonce, expires_at=max(expires, now) + LEEWAY))
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise LaunchError(
            "This launch has been used already (its nonce was seen before); launch again from the LMS."
        ) from exc


def validate_launch(
    *,
    session: Session,
    client: httpx.Client,
    keys: PlatformKeys,
    tool: ToolUrls,
    id_token: str | None,
    state: str | None,
    pending: PendingLogin | None,
    now: datetime,
) -> Launch:
    """Every check of an LTI 1.3 launch; the nonce is recorded (flushed, not committed) as used.

    ``pending`` is the login this browser started with ``state`` (from the cookie), or None when it has none.
    Raises LaunchError saying which rule the launch broke.
    """
    if not id_token:
        raise LaunchError("The launch has no id_token; it must come from the LMS's form post.")
    if len(id_token) > MAX_TOKEN_LENGTH:
        raise LaunchError(f"The id_token is longer than {MAX_TOKEN_LENGTH:,} characters.")
    if not state or pending is None or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise LaunchError(
            "The launch's state does not match a login started in this browser (state mismatch): the lti_state "
            "cookie is missing, expired or from another launch. The browser may block third-party cookies; "
            "open the tool in a new window from the LMS.",
            status_code=403,
        )
    platform = session.get(LtiPlatform, pending.platform_id)
    if platform is None:
        raise LaunchError("The platform this login started with is no longer registered.")
    kid = _check_header(_unverified_header(id_token))
    claims = _verified_claims(token=id_token, kid=kid, platform=platform, client=client, keys=keys, now=now)

    if claims.get("iss") != platform.issuer:
        raise LaunchError(f"The id_token's issuer {claims.get('iss')!r} is not the platform '{platform.issuer}'.")
    _check_audience(claims, platform.client_id)
    expires = _check_times(claims, now)
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), pending.nonce.encode()):
        raise LaunchError("The id_token's nonce is not the one this browser's login sent.")
    version = claims.get(c.VERSION)
    if version is None:
        raise LaunchError("The id_token has no LTI version claim; LTI 1.3.0 is required.")
    if version != c.LTI_VERSION:
        raise LaunchError(f"The id_token's LTI version {version!r} is not supported; 1.3.0 is required.")
    message_type = claims.get(c.MESSAGE_TYPE)
    if message_type is None:
        raise LaunchError("The id_token has no message_type claim.")
    if message_type not in c.LAUNCH_MESSAGE_TYPES:
        raise LaunchError(f"The message type {message_type!r} is not one this tool handles.")
    deployment_id = _string(claims, c.DEPLOYMENT_ID, "deployment_id claim")
    deployment = find_deployment(session=session, platform_id=platform.id, deployment_id=deployment_id)
    if deployment is None:
        raise LaunchError(
            f"The deployment '{deployment_id}' is not registered for the platform '{platform.name}'.", status_code=403
        )
    subject = _string(claims, "sub", "subject ('sub')")
    roles = claims.get(c.ROLES)
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise LaunchError("The id_token has no roles claim.")
    target = _string(claims, c.TARGET_LINK_URI, "target_link_uri claim")
    if not tool.owns(target):
        raise LaunchError(f"The target_link_uri '{target}' is not an address of this tool ({tool.base}).")
    resource_link_id, resource_link_title = _resource_link(claims, message_type)
    deep_linking = _deep_linking_settings(claims) if message_type == c.DEEP_LINKING_REQUEST else None
    context_id, context_title = _context(claims)
    custom = claims.get(c.CUSTOM)
    _record_nonce(session, platform.id, nonce, expires, now)
    return Launch(
        platform_id=platform.id,
        issuer=platform.issuer,
        client_id=platform.client_id,
        deployment_row_id=deployment.id,
        deployment_id=deployment_id,
        message_type=message_type,
        subject=subject,
        roles=tuple(roles),
        target_link_uri=target,
        email=_email(claims),
        context_id=context_id,
        context_title=context_title,
        resource_link_id=resource_link_id,
        resource_link_title=resource_link_title,
        lineitem_url=_lineitem(claims),
        custom={str(k): str(v) for k, v in custom.items() if isinstance(v, str | int | float)}
        if isinstance(custom, dict)
        else {},
        deep_linking=deep_linking,
    )
