"""The application factory: ``uvicorn app.main:create_app --factory`` serves the pages and the JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import anyio
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app.config import Settings, get_settings
from app.db.session import PoolOptions, make_engine, make_sessionmaker
from app.metrics import count_stored_submissions
from app.services.lti.outbox import outbox_worker
from app.services.readiness import warm_readiness_in_background
from app.services.submission_writer import SubmissionWriter
from app.startup_gc import resume_collection, tune_collection
from app.web import api
from app.web.api import health
from app.web.api_document import install_api_document
from app.web.auth import install_auth
from app.web.csrf import CsrfTokens, csrf_protect
from app.web.db import RequestSessions
from app.web.errors import BodySizeLimit, install_error_handlers
from app.web.forwarded import SecureCookiesOverHttps
from app.web.guest import GuestCookieMiddleware, GuestSigner
from app.web.lti import install_lti
from app.web.observability import RequestObservability
from app.web.outages import install_outage_handlers
from app.web.pages import page_error_handlers
from app.web.pages import router as pages_router
from app.web.pages.cards import page_router as card_page_router
from app.web.rate_limits import install_rate_limits
from app.web.security import SecurityHeaders

API_PREFIX = "/api/v1"
# 1 MB: room for two distributions of 10,000 entries written out in full (about 0.5 MB); anything larger is
# refused with a 413, unread when its Content-Length says so, and cut off at the limit when it comes chunked.
MAX_BODY_BYTES = 1_000_000

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
    engine = make_engine(settings.database_url, pool=PoolOptions.from_settings(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resume_collection()  # the app is built: collect again, skipping what the start made (app.startup_gc)
        tune_collection(settings.gc_threshold)
        # The newest migration, read once now rather than by the first /readyz; in a thread, as loading Alembic
        # would hold back the first answer.
        warm_readiness_in_background()
        # Grades queued for LMSs are delivered in the background while the app serves.
        async with outbox_worker(
            factory=app.state.sessionmaker,
            client=app.state.http_client,
            tokens=app.state.lti_access_tokens,
            interval=settings.outbox_interval,
        ):
            app.state.submission_writer.start()
            try:
                yield
            finally:
                # After the server's last request: what is queued is stored before the process ends.
                await anyio.to_thread.run_sync(app.state.submission_writer.stop)
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
    # One slot per pooled connection: requests past that wait for a slot on the event loop rather than for a
    # connection in a thread, which could starve the requests holding the connections (app.web.db.db_session).
    # Shrinking the thread pool to the connection pool's size would not do: the requests holding connections
    # between two hops still need a thread, and those waiting for a connection could still hold them all.
    # SQLite's pool grows with the requests in flight (app.db.session.make_engine): no slots needed there.
    # Two connections are kept out of the slots: the submission writer's and the outbox worker's.
    pooled = max(1, settings.db_pool_size + settings.db_max_overflow - 2)
    app.state.db_slots = None if engine.dialect.name == "sqlite" else anyio.CapacityLimiter(pooled)
    app.state.submission_writer = SubmissionWriter(app.state.sessionmaker)
    count_stored_submissions(app.state.sessionmaker)  # for /metrics
    key = settings.signing_key()
    app.state.guest_signer = GuestSigner(key)
    app.state.csrf_tokens = CsrfTokens(key)
    # Rate limits and sign-in lock-outs, counted in Redis when REDIS_URL is set (shared by every server).
    install_rate_limits(app, settings)

    install_error_handlers(app, page_handlers=page_error_handlers)
    install_outage_handlers(app, retry_after=settings.db_retry_after)
    install_auth(app, key=key)
    install_lti(app, key=key)
    app.add_middleware(RequestSessions)  # innermost: a request's session is closed as soon as its route is done
    app.add_middleware(GuestCookieMiddleware, secure=settings.cookie_secure)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors, hsts=settings.cookie_secure)
    app.add_middleware(SecureCookiesOverHttps)
    # Added last, so it is the outermost: its request id and timing cover every other middleware.
    app.add_middleware(RequestObservability, access_log=settings.access_log)
    app.mount("/static", StaticFiles(directory=static_dir(), check_dir=False), name="static")
    app.include_router(health.router)
    app.include_router(card_page_router)  # GET /cards/{slug}, busy: before the API's routes (app.web.pages.cards)
    api.include_api(app, prefix=API_PREFIX)
    install_api_document(app, prefix=API_PREFIX)  # examples and headers in /openapi.json
    app.include_router(pages_router)
    return app
