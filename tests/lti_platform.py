"""A strict fake LTI 1.3 platform for the tests, reached through ``httpx.MockTransport`` (never the network).

It has its own RSA keys and signs real RS256 id_tokens; it serves its key set, a token endpoint that checks the
tool's client assertion against the tool's published keys, and line items whose score endpoint checks the
bearer token, the media type and every field of the payload. It records what it was sent so that tests can
look, and it can be told to fail: ``platform.score_failures = [503, 503]`` answers the next two score posts with
503. ``platform.authorize(location)`` plays the platform's side of the OIDC login: it checks the tool's redirect
and answers with the form the browser would post to the launch URL.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from app.services.lti import claims as c

ISSUER: Final = "https://lms.example.edu"
CLIENT_ID: Final = "distill-tutor-client"
DEPLOYMENT_ID: Final = "deployment-1"
TOOL_BASE: Final = "https://testserver"
LAUNCH_URL: Final = f"{TOOL_BASE}/lti/launch"

INSTRUCTOR: Final = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER: Final = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ACTIVITY_PROGRESS: Final = frozenset({"Initialized", "Started", "InProgress", "Submitted", "Completed"})
GRADING_PROGRESS: Final = frozenset({"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"})
REMOVE: Final = object()  # a claim value meaning "leave the claim out"

ToolKeys = Callable[[], Mapping[str, Any]]

# Making a 2048-bit RSA key takes a fifth of a second or more; the tests need hundreds. A few are made once per
# run and handed out under new kids: the platform's keys from the first slots, the tool's from the last two.
_POOL_SIZE: Final = 6
_PLATFORM_SLOTS: Final = 3
IMPOSTOR_SLOT: Final = 3
_TOOL_SLOTS: Final = (4, 5)
_pool: list[bytes] = []
_tool_keys_made = itertools.count()


def pooled_key(slot: int, kid: str) -> RSAKey:
    """The RSA key in ``slot`` of the pool, named ``kid``."""
    while len(_pool) < _POOL_SIZE:
        _pool.append(RSAKey.generate_key(2048).as_pem(private=True))
    return RSAKey.import_key(_pool[slot], parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def pooled_tool_key(kid: str) -> RSAKey:
    """Stands in for ``app.services.lti.keys.generate_key_pair``: one key, then the other, by turns."""
    return pooled_key(_TOOL_SLOTS[next(_tool_keys_made) % len(_TOOL_SLOTS)], kid)


def quick_tool_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the tool's keys from the pool (for an autouse fixture of a test module)."""
    monkeypatch.setattr("app.services.lti.keys.generate_key_pair", pooled_tool_key)


class Refused(Exception):
    """The fake platform refusing a request; becomes a 4xx answer with the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ScorePost:
    lineitem: str
    payload: dict[str, Any]
    token: str


@dataclass
class FakePlatform:
    """One LMS: ``FakePlatform(tool_keys=lambda: client.get("/.well-known/jwks.json").json())``."""

    tool_keys: ToolKeys
    issuer: str = ISSUER
    client_id: str = CLIENT_ID
    deployment_id: str = DEPLOYMENT_ID
    keys: list[RSAKey] = field(default_factory=list)
    jwks_requests: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)
    scores: list[ScorePost] = field(default_factory=list)
    score_attempts: int = 0
    score_failures: list[int] = field(default_factory=list)  # statuses to answer the next score posts with
    token_failures: list[int] = field(default_factory=list)
    down: bool = False  # every request fails to connect
    token_lifetime: int = 3600
    issued_tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (epoch seconds)
    seen_jtis: set[str] = field(default_factory=set)
    clock: Callable[[], float] = time.time  # the platform's time: tests move it with the tool's ``now``

    def __post_init__(self) -> None:
        if not self.keys:
            self.rotate_key()

    # --- addresses ----------------------------------------------------------------------------------------

    @property
    def auth_url(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def lineitem_url(self, number: int = 1) -> str:
        return f"{self.issuer}/api/lti/courses/7/line_items/{number}"

    def registration(self) -> dict[str, str]:
        """The keyword arguments of ``register_platform`` for this platform."""
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "deployment_id": self.deployment_id,
            "auth_url": self.auth_url,
            "token_url": self.token_url,
            "jwks_url": self.jwks_url,
            "name": "Example LMS",
        }

    # --- keys and id_tokens --------------------------------------------------------------------------------

    def rotate_key(self) -> RSAKey:
        """A new signing key, published first in the key set (the old ones stay published)."""
        kid = f"platform-{len(self.keys) + 1}-{secrets.token_hex(3)}"
        key = pooled_key(len(self.keys) % _PLATFORM_SLOTS, kid)
        self.keys.insert(0, key)
        return key

    @property
    def kid(self) -> str:
        kid = self.keys[0].kid
        assert kid is not None
        return kid

    def launch_claims(
        self,
        *,
        nonce: str,
        subject: str = "lms-user-42",
        roles: Iterable[str] = (LEARNER,),
        message_type: str = c.RESOURCE_LINK_REQUEST,
        resource_link_id: str = "link-1",
        lineitem: str | None = None,
        custom: Mapping[str, str] | None = None,
        target_link_uri: str = LAUNCH_URL,
        email: str | None = "ada@learners.example.edu",
    ) -> dict[str, Any]:
        """The claims of a valid launch; tests change or remove some to make it invalid."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": subject,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": "Ada Lovelace",
            c.VERSION: c.LTI_VERSION,
            c.MESSAGE_TYPE: message_type,
            c.DEPLOYMENT_ID: self.deployment_id,
            c.TARGET_LINK_URI: target_link_uri,
            c.ROLES: list(roles),
            c.CONTEXT: {"id": "course-7", "label": "KD101", "title": "Knowledge Distillation 101"},
        }
        if email is not None:
            claims["email"] = email
        if message_type == c.RESOURCE_LINK_REQUEST:
            claims[c.RESOURCE_LINK] = {"id": resource_link_id, "title": "Week 1 deck"}
        if message_type == c.DEEP_LINKING_REQUEST:
            claims[c.DEEP_LINKING_SETTINGS] = {
                "deep_link_return_url": f"{self.issuer}/deep_links/return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": False,
                "data": "opaque-platform-data-123",
            }
        if lineitem is not None:
            claims[c.AGS_ENDPOINT] = {
                "scope": [c.AGS_SCORE_SCOPE, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"],
                "lineitem": lineitem,
                "lineitems": f"{self.issuer}/api/lti/courses/7/line_items",
            }
        if custom is not None:
            claims[c.CUSTOM] = dict(custom)
        return claims

    def sign(
        self, claims: Mapping[str, Any], *, header: Mapping[str, Any] | None = None, key: RSAKey | None = None
    ) -> str:
        """An RS256 JWT of ``claims`` (values equal to ``REMOVE`` dropped), by default with the current key's kid."""
        body = {name: value for name, value in claims.items() if value is not REMOVE}
        signing_key = key or self.keys[0]
        return jwt.encode(dict(header or {"alg": "RS256", "kid": signing_key.kid}), body, signing_key)

    # --- the OIDC authorisation step ------------------------------------------------------------------------

    def authorize(self, location: str, **claim_options: Any) -> dict[str, str]:
        """Check the tool's redirect to the authorisation URL; answer with the launch form (id_token and state)."""
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == self.auth_url, location
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": self.client_id,
            "redirect_uri": LAUNCH_URL,
        }
        for name, value in expected.items():
            assert query.get(name) == value, f"{name}: {query.get(name)!r} is not {value!r}"
        assert query.get("login_hint"), "no login_hint"
        assert len(query.get("state", "")) >= 16, "the state is missing or guessable"
        assert len(query.get("nonce", "")) >= 16, "the nonce is missing or guessable"
        claims = self.launch_claims(nonce=query["nonce"], **claim_options)
        return {"id_token": self.sign(claims), "state": query["state"]}

    def login_params(self, **extra: str) -> dict[str, str]:
        """What the platform sends to the tool's login URL."""
        return {
            "iss": self.issuer,
            "login_hint": "opaque-login-hint",
            "target_link_uri": LAUNCH_URL,
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
            "lti_message_hint": "opaque-message-hint",
            **extra,
        }

    # --- what the tool sends back -----------------------------------------------------------------------------

    def tool_key_set(self) -> KeySet:
        return KeySet.import_key_set(dict(self.tool_keys()))  # type: ignore[arg-type]

    def verify_tool_jwt(self, token: str, *, audience: str) -> dict[str, Any]:
        """The claims of a JWT the tool signed, checked as a platform checks them (RS256, kid, aud, exp)."""
        header = json.loads(_b64decode(token.split(".")[0]))
        if header.get("alg") != "RS256":
            raise Refused(400, f"the tool's JWT is signed with {header.get('alg')!r}, not RS256")
        kid = header.get("kid")
        keys = {key.kid: key for key in self.tool_key_set()}
        if kid not in keys:
            raise Refused(401, f"the tool's JWT names kid {kid!r}, which its key set does not publish")
        try:
            claims = dict(jwt.decode(token, keys[kid], algorithms=["RS256"]).claims)
        except JoseError as exc:
            raise Refused(401, f"the tool's JWT does not verify: {exc}") from exc
        audiences = claims.get("aud")
        if audience not in ([audiences] if isinstance(audiences, str) else audiences or []):
            raise Refused(401, f"the tool's JWT is for {audiences!r}, not {audience!r}")
        now = self.clock()
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now:
            raise Refused(401, "the tool's JWT has expired or has no exp")
        if not isinstance(claims.get("iat"), int) or claims["iat"] > now + 60:
            raise Refused(401, "the tool's JWT has no iat or one in the future")
        return claims

    def verify_deep_linking_response(self, token: str) -> dict[str, Any]:
        claims = self.verify_tool_jwt(token, audience=self.issuer)
        assert claims["iss"] == self.client_id
        assert claims[c.MESSAGE_TYPE] == c.DEEP_LINKING_RESPONSE
        assert claims[c.VERSION] == c.LTI_VERSION
        assert claims[c.DEPLOYMENT_ID] == self.deployment_id
        assert isinstance(claims.get("nonce"), str) and claims["nonce"]
        return claims

    # --- the HTTP side -------------------------------------------------------------------------------------------

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("the platform is down", request=request)
        url = str(request.url)
        if not url.startswith(self.issuer + "/"):
            raise AssertionError(f"the tool called {url}, which is not this platform")
        try:
            if url == self.jwks_url and request.method == "GET":
                self.jwks_requests += 1
                return httpx.Response(200, json=KeySet(list(self.keys)).as_dict(private=False))
            if url == self.token_url:
                return self._token(request)
            path = request.url.path
            if path.endswith("/scores"):
                return self._score(request, lineitem=url.removesuffix("/scores"))
        except Refused as exc:
            return httpx.Response(exc.status, json={"error": "invalid_request", "error_description": exc.message})
        return httpx.Response(404, json={"error": f"nothing at {request.method} {url}"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            raise Refused(405, "the token endpoint takes POST")
        media_type = request.headers.get("content-type", "").split(";")[0].strip()
        if media_type != "application/x-www-form-urlencoded":
            raise Refused(415, f"the token request is {media_type!r}, not a form")
        form = {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
        self.token_requests.append(form)
        if self.token_failures:
            status = self.token_failures.pop(0)
            return httpx.Response(status, json={"error": "temporarily_unavailable"})
        if form.get("grant_type") != "client_credentials":
            raise Refused(400, "grant_type must be client_credentials")
        if form.get("client_assertion_type") != c.CLIENT_ASSERTION_TYPE:
            raise Refused(400, "client_assertion_type must be jwt-bearer")
        if form.get("scope") != c.AGS_SCORE_SCOPE:
            raise Refused(400, f"scope {form.get('scope')!r} is not the score scope")
        claims = self.verify_tool_jwt(form.get("client_assertion", ""), audience=self.token_url)
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise Refused(401, "the client assertion's iss and sub must be the client id")
        jti = claims.get("jti")
        if not isinstance(jti, str) or jti in self.seen_jtis:
            raise Refused(401, "the client assertion's jti is missing or was used before")
        self.seen_jtis.add(jti)
        token = secrets.token_urlsafe(24)
        self.issued_tokens[token] = self.clock() + self.token_lifetime
        return httpx.Response(
            200,
            json={
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "scope": c.AGS_SCORE_SCOPE,
            },
        )

    def _score(self, request: httpx.Request, *, lineitem: str) -> httpx.Response:
        if request.method != "POST":
            raise Refused(405, "scores are POSTed")
        self.score_attempts += 1
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or self.issued_tokens.get(token, 0) < self.clock():
            raise Refused(401, "no valid bearer token")
        media_type = request.headers.get("content-type", "")
        if media_type != c.SCORE_MEDIA_TYPE:
            raise Refused(415, f"a score is {c.SCORE_MEDIA_TYPE}, not {media_type!r}")
        if self.score_failures:
            return httpx.Response(self.score_failures.pop(0), text="the gradebook is busy")
        payload = json.loads(request.content)
        check_score(payload)
        self.scores.append(ScorePost(lineitem=lineitem, payload=payload, token=token))
        return httpx.Response(204)


def check_score(payload: Any) -> None:
    """Every rule of the score service's payload; raises Refused(400) naming the first one broken."""
    if not isinstance(payload, dict):
        raise Refused(400, "a score is a JSON object")
    required = {"userId", "scoreGiven", "scoreMaximum", "activityProgress", "gradingProgress", "timestamp"}
    missing = required - set(payload)
    if missing:
        raise Refused(400, f"the score lacks {sorted(missing)}")
    if not isinstance(payload["userId"], str) or not payload["userId"]:
        raise Refused(400, "userId must be the platform's user id")
    given, maximum = payload["scoreGiven"], payload["scoreMaximum"]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in (given, maximum)):
        raise Refused(400, "scoreGiven and scoreMaximum are numbers")
    if maximum <= 0 or not 0 <= given <= maximum:
        raise Refused(400, f"scoreGiven {given} is not within 0..{maximum}")
    if payload["activityProgress"] not in ACTIVITY_PROGRESS:
        raise Refused(400, f"activityProgress {payload['activityProgress']!r} is not a known value")
    if payload["gradingProgress"] not in GRADING_PROGRESS:
        raise Refused(400, f"gradingProgress {payload['gradingProgress']!r} is not a known value")
    stamp = payload["timestamp"]
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as exc:
        raise Refused(400, f"timestamp {stamp!r} is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise Refused(400, "the timestamp must carry its time zone")


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
