"""LTI 1.3 in the web app: the login and launch endpoints, the key set, deep linking and the admin pages.

``install_lti(app, settings)`` puts what the routes share in the app's state (the outgoing HTTP client, the
platforms' key cache, the access-token cache, the signers of the state cookie and of deep linking requests) and
adds the routes. Tests replace ``app.state.http_client`` with a client whose transport is a fake platform.
"""

from __future__ import annotations

from typing import Final

import httpx
from fastapi import APIRouter, FastAPI
from itsdangerous import URLSafeTimedSerializer

from app.services.lti.ags import AccessTokens
from app.services.lti.platform_keys import PlatformKeys
from app.web.lti import configuration, deep_linking, launch, platforms
from app.web.lti.state import StateSigner

# Platforms answer within seconds or not at all; a launch must not hang on one that is down.
HTTP_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)

router = APIRouter(include_in_schema=False)
router.include_router(launch.router)
router.include_router(deep_linking.router)
router.include_router(configuration.router)
router.include_router(platforms.router)


def make_http_client() -> httpx.Client:
    """The app's client for calls to platforms: bounded timeouts, no redirects followed (a token stays put)."""
    return httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False, headers={"User-Agent": "distill-tutor"})


def install_lti(app: FastAPI, *, key: str) -> None:
    """The LTI state and routes on ``app``; the app closes the HTTP client when it shuts down."""
    app.state.http_client = make_http_client()
    app.state.lti_platform_keys = PlatformKeys()
    app.state.lti_access_tokens = AccessTokens()
    app.state.lti_state_signer = StateSigner(key)
    app.state.lti_deep_link_signer = URLSafeTimedSerializer(key, salt="tutor-lti-deep-link")
    app.include_router(router)


__all__ = ["install_lti", "make_http_client", "router"]
