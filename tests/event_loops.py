"""Running a coroutine from a synchronous test, whatever the test's thread is already doing.

A session-wide browser driven through Playwright's synchronous API keeps an event loop running in the main
thread of the test process it lives in, and ``asyncio.run`` refuses to start a second one there. A thread of
its own gives the coroutine a fresh loop wherever the test runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_own_loop(
    main: Callable[[], Coroutine[Any, Any, T]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """``asyncio.run(main())`` in a thread of its own; returns what the coroutine returns or raises what it raises.

    ``loop_factory`` makes the loop (the stdlib's by default).
    """

    def run() -> T:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main())

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
