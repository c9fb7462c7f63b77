"""The application factory: ``uvicorn app.main:create_app --factory`` serves the pages and the JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app.config import Settings, get_settings
from app.db.session import make_engine, make_sessionmaker
from app.services.lti.outbox import outbox_worker
from app.services.throttle import MemoryAttemptStore, SignInThrottle
from app.web import api
from app.web.api import health
from app.web.auth import install_auth
from app.web.csrf import CsrfTokens, csrf_protect
from app.web.errors import BodySizeLimit, install_error_handlers
from app.web.guest import GuestCookieMiddleware, GuestSigner
from app.web.lti import install_lti
from app.web.pages import page_error_handlers
from app.web.pages import router as pages_router
from app.web.security import SecurityHeaders

API_PREFIX = "/api/v1"
# Room for two distributions of 10,000 entries written out in full; anything larger is refused unread.
MAX_BODY_BYTES = 2 * 1024 * 1024

DESCRIPTION = """
A tutor for knowledge distillation and the divergences behind it.

* **Cards** are questions (compute KL(P‖Q) for two students, say); each has seeded **variants**. Fetch a
  variant, then **submit** answers by part key to get each part graded, the expected value, and the
  misconception behind a wrong number (the loss in bits instead of nats, the reverse KL, ...).
* **Calculators** compute a divergence term by term, or the distillation loss with each component.

Learners are guests known by a signed cookie (`tutor_guest`), set on the first response that needs one, or
users signed in with the session cookie (`tutor_session`). Scripts and integrations send an API token instead:
`Authorization: Bearer dt_...` (made on the account page or with `tutor tokens create`). A POST, PUT, PATCH or
DELETE authenticated by a cookie must send the `X-CSRF-Token` header, whose value `GET /api/v1/session` gives.
Errors always answer `{"detail": [{"field": ..., "message": ...}]}`, naming the field and the problem.
"""


def app_version() -> str:
    try:
        return version("distill-tutor")
    except PackageNotFoundError:
        return "0.0.0"


def static_dir() -> Path:
    """``static/`` beside the ``app`` package (a source checkout), else in the current directory."""
    beside = Path(__file__).resolve().parent.parent / "static"
    return beside if beside.is_dir() else Path.cwd() / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app: ``create_app(Settings(database_url="sqlite:///./data/tutor.db"))``."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Grades queued for LMSs are delivered in the background while the app serves.
        async with outbox_worker(
            factory=app.state.sessionmaker,
            client=app.state.http_client,
            tokens=app.state.lti_access_tokens,
            interval=settings.outbox_interval,
        ):
            yield
        app.state.http_client.close()
        engine.dispose()

    app = FastAPI(
        title="Distill Tutor",
        version=app_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by app.web.pages.docs from local files instead of a CDN
        redoc_url=None,
        # CSRF is checked once for every route: a cookie-authenticated POST without the token never reaches one.
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    key = settings.signing_key()
    app.state.guest_signer = GuestSigner(key)
    app.state.csrf_tokens = CsrfTokens(key)
    # Counted in this process; several servers would share a store (see app.services.throttle).
    app.state.signin_throttle = SignInThrottle(MemoryAttemptStore())

    install_error_handlers(app, page_handlers=page_error_handlers)
    install_auth(app, key=key)
    install_lti(app, key=key)
    app.add_middleware(GuestCookieMiddleware, secure=settings.cookie_secure)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors)
    app.mount("/static", StaticFiles(directory=static_dir(), check_dir=False), name="static")
    app.include_router(health.router)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(pages_router)
    return app
