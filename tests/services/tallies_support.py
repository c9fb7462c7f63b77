"""Comparing card statistics read from the running tallies with those computed from the submissions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from app.services.analytics import CardStats


def same(tallied: CardStats, scanned: CardStats) -> None:
    """Equal figures: counts exactly, sums to rounding."""
    assert dataclasses.replace(tallied, mean_score=None, parts=()) == dataclasses.replace(
        scanned, mean_score=None, parts=()
    )
    assert tallied.mean_score == pytest.approx(scanned.mean_score)
    assert [p.key for p in tallied.parts] == [p.key for p in scanned.parts]
    for mine, theirs in zip(tallied.parts, scanned.parts, strict=True):
        approx: dict[str, Any] = {"facility": mine.facility, "discrimination": mine.discrimination}
        assert dataclasses.replace(mine, facility=None, discrimination=None) == dataclasses.replace(
            theirs, facility=None, discrimination=None
        )
        assert approx == {
            "facility": pytest.approx(theirs.facility),
            "discrimination": pytest.approx(theirs.discrimination, abs=1e-9),
        }
