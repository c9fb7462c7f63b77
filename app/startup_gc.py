"""The garbage collector during a server's start: held off while the app is imported and built, then resumed.

Importing and building the app makes about 165,000 objects that live as long as the process, and the collector
walks them again and again while they are being made: at a start, hundreds of collections of the young
generations and three of the oldest took about a fifth of the CPU time to the first answer (0.24 s of 1.2 s).
Reference counting still frees what it can meanwhile; only reference cycles wait for the collector.

``hold_collection()`` turns the collector off (``tutor serve`` calls it before loading the app, with one worker:
a supervisor of several never builds the app, so it must not be left without a collector).
``resume_collection()``, from the app's lifespan once the app is built and before the first request, moves every
object made so far to the permanent generation, which later collections skip (``gc.freeze``: what the start
made stays for the life of the process anyway; a full collection at that point finds under 1,000 unreachable
objects, which are kept), and turns the collector back on. ``release_collection()``
turns it back on without that, for a serve that ends without the app ever starting. Each does nothing unless
this module turned the collector off, so an app built elsewhere (tests, another server) is left alone.
"""

from __future__ import annotations

import gc

_held = False


def hold_collection() -> None:
    """Turn the collector off until ``resume_collection()`` or ``release_collection()``; no-op if already off."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def resume_collection() -> None:
    """After a held start: freeze what the start made, then collect again as usual."""
    global _held
    if _held:
        _held = False
        gc.freeze()
        gc.enable()


def release_collection() -> None:
    """Turn a held collector back on, freezing nothing (a serve that returns without having started the app)."""
    global _held
    if _held:
        _held = False
        gc.enable()


def tune_collection(threshold: int) -> None:
    """Collect the youngest generation every ``threshold`` net allocations instead of Python's 700 (0: leave it).

    A submission allocates thousands of short-lived objects (the request, the ORM's and the validators' own),
    nearly all freed by reference counting; with the default, about one request in sixty also paid for a
    collection of an older generation, walking every cached card, variant and statement: a tenth of a
    submission's CPU time. The older generations keep their thresholds, counted in young collections.
    """
    if threshold > 0:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(threshold, middle, oldest)
