"""The newest revision is read by a thread of its own, a little after the start rather than with it."""

from __future__ import annotations

import threading

from app.services.readiness import WARM_DELAY_S, expected_head, warm_readiness_in_background


def test_the_thread_reads_the_newest_revision_once_its_delay_is_over() -> None:
    expected_head.cache_clear()
    thread = warm_readiness_in_background(delay=0.0)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert thread.daemon and thread.name == "warm-readiness"
    assert expected_head.cache_info().currsize == 1  # read, so /readyz need not load Alembic
    assert expected_head() is not None


def test_by_default_it_waits_so_the_first_requests_have_the_interpreter() -> None:
    assert WARM_DELAY_S >= 1
    thread = warm_readiness_in_background()
    try:
        assert isinstance(thread, threading.Timer)
        assert thread.is_alive()  # waiting: nothing loaded yet
    finally:
        thread.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive()
