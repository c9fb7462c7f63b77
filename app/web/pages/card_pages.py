"""A card's page kept as HTML, per everything that changes it, with the values that differ per request left open.

Drawing the page takes a millisecond or more (the layout, the answer form, the prompt's markdown and maths),
while what it shows depends only on:

* the app's root path (every link starts with it);
* the card version (versions never change: an edit publishes a new one, with a new id);
* the variant's seed;
* who is signed in: the navigation shows the user's email, and links by their role; a guest sees neither.

Two values differ from one request to the next: the visitor's CSRF token (in every form) and the random seed of
the "New variant" link. So a page is drawn once with a marker in the place of each, and kept as the pieces
between the markers; each request joins the pieces with its own values (``KeptPage.fill``), which gives the
very bytes that drawing it for that request would. Pages are kept per app (one app, one database: version
ids of two databases must not meet), the ``PAGES_KEPT`` most recently used ones.

The markers are random per process, so no card's text can contain one. A template that starts reading
anything else (``request`` is left out of the context on purpose, so using it fails loudly) must add that to
``PageKey``.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from app.db.models import User
from app.domain.cards import MAX_SEED, Variant, is_drawn
from app.services.catalog import PublishedCard
from app.web.csrf import csrf_token
from app.web.markdown import to_html
from app.web.pages.forms import answer_form
from app.web.pages.rendering import ENV, url_path

TEMPLATE: Final = "card.html"
# A page of a built-in card is 5–8 KB, kept once as bytes: 2048 pages are about 16 MB at most per worker.
PAGES_KEPT: Final = 2048

_CSRF_MARK: Final = "csrfmark" + secrets.token_hex(16)
_SEED_MARK: Final = "seedmark" + secrets.token_hex(16)
_MARKS: Final = re.compile(f"({_CSRF_MARK}|{_SEED_MARK})")
_CSRF_HOLE: Final = 0
_SEED_HOLE: Final = 1

# Who the page is drawn for: None for a guest, else what the navigation shows of the user.
Viewer = tuple[int, str, str] | None


@dataclass(frozen=True)
class PageKey:
    root_path: str
    version_id: int
    seed: int
    viewer: Viewer


def viewer_of(user: User | None) -> Viewer:
    return None if user is None else (user.id, user.email, user.role)


def page_key(request: Request, card: PublishedCard, seed: int, user: User | None) -> PageKey:
    root: str = request.scope.get("root_path", "")
    return PageKey(root_path=root, version_id=card.version_id, seed=seed, viewer=viewer_of(user))


def variant_url(request: Request, slug: str, seed: int | str) -> str:
    """A link to variant ``seed`` of card ``slug``."""
    return url_path(request, "page_card", slug=slug) + f"?seed={seed}"


def card_context(
    request: Request,
    card: PublishedCard,
    variant: Variant,
    *,
    new_seed: int | str,
    answers: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What ``card.html`` shows of ``variant``, filled with ``answers`` and marked with ``errors``."""
    spec = card.spec
    drawn = is_drawn(spec)
    return {
        "card": {
            "slug": spec.slug,
            "title": spec.title,
            "tags": spec.tags,
            "drawn": drawn,
            "prompt_html": to_html(variant.prompt),
        },
        "form": answer_form(variant, answers=answers, errors=errors),
        "new_variant_url": variant_url(request, spec.slug, new_seed) if drawn else None,
        "nav": "cards",
    }


def _no_user() -> None:
    raise RuntimeError("a kept page must be given its viewer: current_user() is in its context")


def _marked_environment() -> jinja2.Environment:
    # The pages' environment with csrf_token() writing a marker. An overlay with a template cache of its own:
    # a template keeps the globals of the environment it was compiled in, and the imported form macros see
    # only globals, never the page's context.
    env = ENV.overlay(cache_size=64)
    env.globals = {**ENV.globals, "csrf_token": lambda: _CSRF_MARK, "current_user": _no_user}
    return env


_MARKED: Final = _marked_environment()


@dataclass(frozen=True)
class KeptPage:
    """A page as the pieces between its open values: ``chunks[0] value chunks[1] value ... chunks[-1]``."""

    chunks: tuple[bytes, ...]
    holes: tuple[int, ...]  # which value goes after chunks[i]: _CSRF_HOLE or _SEED_HOLE

    def fill(self, *, csrf: str, new_seed: int | None = None) -> bytes:
        """The page with ``csrf`` in every form and ``new_seed`` (random when None) in the "New variant" link."""
        values = [csrf.encode("ascii"), b""]
        if _SEED_HOLE in self.holes:
            values[_SEED_HOLE] = str(secrets.randbelow(MAX_SEED) if new_seed is None else new_seed).encode()
        chunks = self.chunks
        out = [chunks[0]]
        for index, hole in enumerate(self.holes, start=1):
            out.append(values[hole])
            out.append(chunks[index])
        return b"".join(out)


def draw_page(request: Request, card: PublishedCard, variant: Variant, user: User | None) -> KeptPage:
    """Draw ``variant``'s page for ``user`` (None: a guest) with markers where the per-request values go."""

    def url_for(route: str, /, **params: Any) -> str:
        return url_path(request, route, **params)

    context = card_context(request, card, variant, new_seed=_SEED_MARK)
    html = _MARKED.get_template(TEMPLATE).render(
        {"url_for": url_for, "nav": None, **context, "current_user": lambda: user}
    )
    pieces = _MARKS.split(html)
    return KeptPage(
        chunks=tuple(piece.encode("utf-8") for piece in pieces[0::2]),
        holes=tuple(_CSRF_HOLE if mark == _CSRF_MARK else _SEED_HOLE for mark in pieces[1::2]),
    )


class PageCache:
    """The ``size`` most recently used pages; safe to share between the event loop and the thread pool."""

    def __init__(self, size: int = PAGES_KEPT) -> None:
        self.size = size
        self._pages: OrderedDict[PageKey, KeptPage] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: PageKey) -> KeptPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: PageKey, page: KeptPage) -> KeptPage:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return page


def page_cache(request: Request) -> PageCache:
    """The app's kept card pages (made with the first page drawn)."""
    state = request.app.state
    cache: PageCache | None = getattr(state, "card_pages", None)
    if cache is None:
        cache = state.card_pages = PageCache()
    return cache


def kept_response(page: KeptPage, request: Request) -> HTMLResponse:
    return HTMLResponse(page.fill(csrf=csrf_token(request)))


def card_page_response(request: Request, card: PublishedCard, variant: Variant, user: User | None) -> HTMLResponse:
    """``variant``'s page for ``user`` from the cache, drawn and kept first when it is not there yet."""
    cache = page_cache(request)
    key = page_key(request, card, variant.seed, user)
    page = cache.get(key) or cache.put(key, draw_page(request, card, variant, user))
    return kept_response(page, request)
