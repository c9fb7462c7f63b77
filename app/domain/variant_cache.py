"""Variants already generated, kept in a bounded LRU: ``VariantCache().variant(spec, seed) == generate(spec, seed)``.

Generating a variant evaluates every template and answer expression in the sandbox (milliseconds), while a
learner asks for the same variant again and again: the page, each submission, the result. A variant is a
function of the spec and the seed alone, so it can be kept.

Entries are keyed by the spec *object* and the seed. Specs are immutable, and a stored version is parsed
once (``app.services.catalog.stored_spec`` keeps the parsed specs), so every request for a card version meets
the same object; a spec parsed afresh (an author's preview) is simply another key. An entry holds its spec,
so the object's id cannot be reused by another spec while the entry lives. Cached variants are shared between
requests and threads: treat them as read-only, as every caller does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from app.domain.cards import CardSpec, Variant, generate

# A variant with its prompt, solution and workings takes a few kilobytes: a few megabytes per process at most.
DEFAULT_SIZE: Final = 2048


class VariantCache:
    """``generate`` with memory: the ``maxsize`` most recently used variants are kept."""

    def __init__(self, maxsize: int = DEFAULT_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[int, int], tuple[CardSpec, Variant]] = OrderedDict()
        self._lock = threading.Lock()

    def variant(self, spec: CardSpec, seed: int) -> Variant:
        """The variant ``seed`` of ``spec``; raises what ``generate`` raises (failures are not kept)."""
        if type(seed) is not int:  # True == 1 as a key: leave anything but an int to generate's checks
            return generate(spec, seed)
        key = (id(spec), seed)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] is spec:
                self._entries.move_to_end(key)
                return found[1]
        made = generate(spec, seed)  # outside the lock: other threads' hits need not wait for it
        with self._lock:
            self._entries[key] = (spec, made)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return made

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
