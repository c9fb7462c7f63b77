"""The variant cache gives what ``generate`` gives, keeps at most ``maxsize`` variants, and never mixes specs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from app.domain.cards import CardSpec, VariantError, generate, parse_spec
from app.domain.variant_cache import VariantCache

DRAWN: dict[str, Any] = {
    "slug": "drawn-kl",
    "title": "A drawn KL",
    "tags": [],
    "params": {"P": {"dirichlet": [8, 1, 1], "decimals": 2}, "Q": {"dirichlet": [4, 3, 3], "decimals": 2}},
    "prompt": "P = {{ P }}, Q = {{ Q }}.",
    "parts": [{"key": "kl", "kind": "numeric", "label": "KL(P‖Q)", "answer": "kl(P, Q)"}],
    "solution": "{{ kl(P, Q) }}",
}


def drawn(**changes: Any) -> CardSpec:
    return parse_spec({**DRAWN, **changes})


def test_a_cached_variant_is_the_generated_one_and_is_made_once() -> None:
    spec, cache = drawn(), VariantCache()
    first = cache.variant(spec, 7)
    assert first == generate(spec, 7)
    assert cache.variant(spec, 7) is first
    assert cache.variant(spec, 8) == generate(spec, 8) != first
    assert len(cache) == 2


def test_specs_are_told_apart_even_with_the_same_slug() -> None:
    cache = VariantCache()
    one, other = drawn(), drawn(prompt="Teacher {{ P }}, student {{ Q }}.")
    assert cache.variant(one, 3).prompt.startswith("P = ")
    assert cache.variant(other, 3).prompt.startswith("Teacher ")
    # An equal spec parsed again is another key, never a stale entry.
    again = drawn()
    assert cache.variant(again, 3) == cache.variant(one, 3) and len(cache) == 3


def test_the_least_recently_used_variant_goes_first() -> None:
    spec, cache = drawn(), VariantCache(maxsize=2)
    kept = cache.variant(spec, 1)
    cache.variant(spec, 2)
    assert cache.variant(spec, 1) is kept  # 1 is now the most recent
    cache.variant(spec, 3)  # evicts 2
    assert len(cache) == 2
    assert cache.variant(spec, 1) is kept
    cache.clear()
    assert len(cache) == 0 and cache.variant(spec, 1) is not kept


@pytest.mark.parametrize("seed", [True, -1, 2**31, 1.0, "1"])
def test_a_bad_seed_is_refused_as_generate_refuses_it(seed: Any) -> None:
    spec, cache = drawn(), VariantCache()
    cache.variant(spec, 1)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        cache.variant(spec, seed)


def test_a_seed_without_a_variant_raises_every_time_and_is_not_kept() -> None:
    spec = replace(drawn(), constraints=("P[0] > 0.995",))  # never met (parse_spec would refuse it)
    cache = VariantCache()
    for _ in range(2):
        with pytest.raises(VariantError, match="constraints"):
            cache.variant(spec, 5)
    assert len(cache) == 0


def test_threads_asking_at_once_all_get_the_right_variant() -> None:
    spec, cache = drawn(), VariantCache(maxsize=8)
    expected = {seed: generate(spec, seed) for seed in range(16)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda seed: (seed, cache.variant(spec, seed)), [s % 16 for s in range(200)]))
    assert all(variant == expected[seed] for seed, variant in got)
    assert len(cache) <= 8


def test_the_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        VariantCache(maxsize=0)
