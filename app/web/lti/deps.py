"""What the LTI routes share: the app's HTTP client, the platforms' key cache, and the tool's own URLs."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from app.services.lti.platform_keys import PlatformKeys
from app.services.lti.tool import ToolUrls


def http_client(request: Request) -> httpx.Client:
    """The app's one outgoing HTTP client (``app.state.http_client``): tests put a fake platform behind it."""
    client: httpx.Client = request.app.state.http_client
    return client


def platform_keys(request: Request) -> PlatformKeys:
    keys: PlatformKeys = request.app.state.lti_platform_keys
    return keys


def tool_urls(request: Request) -> ToolUrls:
    """The tool's URLs under PUBLIC_URL, or under the address this request came to when it is not set."""
    public_url: str = request.app.state.settings.public_url
    return ToolUrls.at(public_url or str(request.base_url))


HttpClientDep = Annotated[httpx.Client, Depends(http_client)]
PlatformKeysDep = Annotated[PlatformKeys, Depends(platform_keys)]
ToolUrlsDep = Annotated[ToolUrls, Depends(tool_urls)]
