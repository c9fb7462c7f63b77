"""Walking a paged list of the API: ``walk(client, url)`` follows the ``Link`` headers and gives every page."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


def walk(client: TestClient, url: str, headers: dict[str, str] | None = None) -> list[list[dict[str, Any]]]:
    """Each page's entries, from ``url`` to the last page; checks the two headers agree on every page."""
    pages: list[list[dict[str, Any]]] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        link = response.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in response.headers
            next_url = None
        else:
            found = NEXT.match(link)
            assert found is not None, link
            assert response.headers["x-next-cursor"] in found.group(1)
            next_url = found.group(1)
        assert len(pages) < 100, "the pages never end"
    return pages


def flat(pages: list[list[dict[str, Any]]], key: str) -> list[Any]:
    """``key`` of every entry of every page, in order."""
    return [entry[key] for page in pages for entry in page]
