"""Decks for other systems: one fixed variant of every card as QTI 1.2 (Canvas, Blackboard, D2L) or Moodle GIFT.

``export_file(load_export(session=s, deck=deck_for_export(session=s, user=u, slug="week-3"), seed=0), "gift")``
gives the file to download; ``render_qti``, ``qti_package`` and ``render_gift`` are pure functions of the
``DeckExport``, so they can be tested and reused without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from app.services.lms_exports.gift import render_gift
from app.services.lms_exports.qti import qti_package, render_qti
from app.services.lms_exports.variants import (
    DEFAULT_SEED,
    DeckExport,
    ExportCard,
    deck_for_export,
    load_export,
)

ExportFormat = Literal["qti", "gift"]
FORMATS: Final[tuple[ExportFormat, ...]] = ("qti", "gift")


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes


def export_file(export: DeckExport, export_format: ExportFormat) -> ExportFile:
    """The download: a QTI content package (zip), or GIFT text (Moodle imports GIFT from a ``.txt`` file)."""
    stem = f"{export.slug}-seed-{export.seed}"
    if export_format == "qti":
        return ExportFile(f"{stem}-qti.zip", "application/zip", qti_package(export))
    if export_format == "gift":
        return ExportFile(f"{stem}-gift.txt", "text/plain; charset=utf-8", render_gift(export).encode("utf-8"))
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {export_format!r}")


__all__ = [
    "DEFAULT_SEED",
    "FORMATS",
    "DeckExport",
    "ExportCard",
    "ExportFile",
    "ExportFormat",
    "deck_for_export",
    "export_file",
    "load_export",
    "qti_package",
    "render_gift",
    "render_qti",
]
