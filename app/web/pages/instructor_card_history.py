"""A card's history page: its versions, and the difference between any two of them as a coloured diff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.services import authoring
from app.web.auth import InstructorDep
from app.web.deps import SessionDep
from app.web.pages.forms import SeedError
from app.web.pages.instructor_cards import card_urls, guarded, int_or_none
from app.web.pages.rendering import error_page, render_page

router = APIRouter(prefix="/instructor")


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove", "hunk", "file" or "same": a CSS class; the sign says it too
    text: str


def diff_lines(lines: Sequence[str]) -> tuple[DiffLine, ...]:
    def kind(line: str) -> str:
        if line.startswith(("+++", "---")):
            return "file"
        return {"+": "add", "-": "remove", "@": "hunk"}.get(line[:1], "same")

    return tuple(DiffLine(kind=kind(line), text=line) for line in lines)


@router.get("/cards/{slug}/history", name="page_card_history")
def history_page(
    request: Request,
    slug: str,
    session: SessionDep,
    user: InstructorDep,
    old: str | None = None,
    new: str | None = None,
) -> Response:
    def run() -> Response:
        card = authoring.get_authored_card(session=session, user=user, slug=slug)
        versions = authoring.history(session=session, user=user, slug=slug)
        numbers = [v.number for v in versions]
        try:
            first, second = int_or_none(old, limit=2**31), int_or_none(new, limit=2**31)
        except SeedError as exc:
            return error_page(request, status_code=422, heading="Request not accepted", message=str(exc))
        if first is None and second is None and len(numbers) > 1:
            first, second = numbers[1], numbers[0]  # what the latest save changed
        diff = None
        if first is not None and second is not None:
            diff = authoring.diff_versions(session=session, user=user, slug=slug, old=first, new=second)
        context = {
            "card": card,
            "versions": versions,
            "old": first,
            "new": second,
            "diff": diff,
            "diff_lines": diff_lines(diff.lines) if diff else (),
            "urls": card_urls(request, slug),
            "nav": "instructor",
        }
        return render_page(request, "instructor/card_history.html", context)

    return guarded(request, run)
