"""Readiness: the database answers and its schema is the one this code was written for.

``readiness_problems(session=session)`` returns ``[]`` when the app can serve, else each problem as
``(check, message)``: ``("database", ...)`` when ``SELECT 1`` fails, ``("migrations", ...)`` when the database's
``alembic_version`` is not the newest migration. The newest revision is read from the migration scripts once
per process (they do not change while it runs), by a thread of its own a little after the start, so that the
server does not wait for Alembic to load before it answers, nor share the interpreter with it while it answers
its first requests.
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Final

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

# Loading Alembic takes about 0.1 s of CPU, holding the interpreter most of that time: started with the server,
# it slowed the first answers by as much. A /readyz asked before the thread runs reads the revision itself.
WARM_DELAY_S: Final = 2.0


@cache
def expected_head() -> str | None:
    """The newest migration's revision; raises FileNotFoundError when the migration scripts are missing."""
    from app.db.migrate import head_revision  # Alembic takes a while to load: not on the way to the first answer

    return head_revision()


def warm_readiness() -> None:
    """Read the newest revision now; a missing migrations folder is for /readyz to report."""
    try:
        expected_head()
    except FileNotFoundError:
        logger.warning("readiness: the migration scripts are missing; /readyz will answer 503")


def warm_readiness_in_background(delay: float = WARM_DELAY_S) -> threading.Thread:
    """``warm_readiness()`` in a daemon thread ``delay`` seconds from now, so the server answers meanwhile."""
    thread = threading.Timer(delay, warm_readiness)
    thread.name, thread.daemon = "warm-readiness", True
    thread.start()
    return thread


def readiness_problems(*, session: Session) -> list[tuple[str, str]]:
    """What stops the app from serving, as ``(check, message)`` pairs; empty when it is ready."""
    try:
        head = expected_head()
    except FileNotFoundError as exc:
        return [("migrations", str(exc))]
    from alembic.runtime.migration import MigrationContext  # loaded by expected_head() already

    try:
        session.execute(text("SELECT 1"))
        current = MigrationContext.configure(session.connection()).get_current_revision()
    except SQLAlchemyError as exc:
        # The driver's message names hosts and users: it goes to the log, not to whoever asks.
        logger.warning("readiness: the database does not answer: %s", exc)
        return [("database", f"the database does not answer ({exc.__class__.__name__}); see the server log")]
    finally:
        session.rollback()
    if current is None:
        return [("migrations", f"the database has no schema yet: run `tutor migrate` (newest is {head})")]
    if current != head:
        return [
            (
                "migrations",
                f"the database is at revision {current}, this code expects {head}: "
                "run `tutor migrate` (or serve the version that wrote the database)",
            )
        ]
    return []
