"""The grading queue page: each written answer beside the model answer, with a score and a comment to give.

Each answer has its own small form; a grade that cannot be stored re-draws the queue with the message beside
the field at fault, the grader's input kept. A stored grade returns to the queue, which no longer lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from app.db.models import User
from app.services.errors import Forbidden, NotFound
from app.services.manual_grading import GradingError, QueueItem, grade_part, grading_queue
from app.web.auth import InstructorDep
from app.web.deps import SessionDep
from app.web.markdown import to_html, to_inline_html
from app.web.pages.cards import FormDep
from app.web.pages.rendering import error_page, render_page, url_path

router = APIRouter(prefix="/instructor/grading")

PAGE_SIZE: Final = 50
SubmissionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@dataclass(frozen=True)
class GradingItem:
    """One queue entry as the page shows it, with what the grader typed if the form came back."""

    item: QueueItem
    label_html: Markup
    model_answer_html: Markup | None
    score: str
    comment: str
    errors: dict[str, str]

    @property
    def anchor(self) -> str:
        return f"grade-{self.item.submission_id}-{self.item.part_key}"


def _filters(request: Request) -> dict[str, str]:
    """The queue's filters (deck, card) as given in the address, kept across a grade."""
    return {key: value for key in ("deck", "card") if (value := request.query_params.get(key, "").strip())}


def _with_query(path: str, params: dict[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def parse_score(raw: str) -> float:
    """A score typed in the form: ``"0.75"``, ``"0,75"`` or ``"75%"``; raises GradingError naming ``score``."""
    text = raw.strip().replace(",", ".")
    if not text:
        raise GradingError("score", "is required: a number from 0 to 1, like 0.75")
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise GradingError("score", f"'{raw.strip()[:20]}' is not a number; write one from 0 to 1, like 0.75") from None
    return value


def _page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    filters: dict[str, str],
    failed: tuple[int, str, str, str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        items = grading_queue(
            session=session,
            grader=user,
            deck_slug=filters.get("deck"),
            card_slug=filters.get("card"),
            limit=PAGE_SIZE,
        )
    except NotFound as exc:
        return error_page(request, status_code=404, heading="Not found", message=str(exc))
    except Forbidden as exc:
        return error_page(request, status_code=403, heading="Not yours to grade", message=str(exc))
    shown = []
    for item in items:
        score, comment, errors = "", "", {}
        if failed is not None and (failed[0], failed[1]) == (item.submission_id, item.part_key):
            score, comment, errors = failed[2], failed[3], failed[4]
        shown.append(
            GradingItem(
                item=item,
                label_html=to_inline_html(item.part_label),
                model_answer_html=to_html(item.model_answer) if item.model_answer else None,
                score=score,
                comment=comment,
                errors=errors,
            )
        )
    graded = request.query_params.get("graded")
    context = {
        "items": shown,
        "filters": filters,
        "page_size": PAGE_SIZE,
        "graded": graded if graded and graded.isdigit() else None,
        "action_urls": {
            entry.anchor: _with_query(
                url_path(
                    request,
                    "page_instructor_grade_part",
                    submission_id=entry.item.submission_id,
                    key=entry.item.part_key,
                ),
                filters,
            )
            for entry in shown
        },
        "failed_message": None if failed is None else next(iter(failed[4].values())),
        "failed_anchor": None if failed is None else f"grade-{failed[0]}-{failed[1]}",
        "nav": "instructor",
        "insight": "grading",
    }
    return render_page(request, "instructor/grading.html", context, status_code=status_code)


@router.get("", name="page_instructor_grading")
def grading_page(request: Request, session: SessionDep, user: InstructorDep) -> HTMLResponse:
    return _page(request, session, user, filters=_filters(request))


@router.post("/{submission_id}/{key}", name="page_instructor_grade_part")
def grade_part_page(
    request: Request, submission_id: SubmissionId, key: str, session: SessionDep, user: InstructorDep, form: FormDep
) -> Response:
    filters = _filters(request)
    raw_score = form.get("score")
    raw_comment = form.get("comment")
    score_text = raw_score if isinstance(raw_score, str) else ""
    comment = raw_comment if isinstance(raw_comment, str) else ""
    try:
        grade_part(
            session=session,
            grader=user,
            submission_id=submission_id,
            part_key=key,
            score=parse_score(score_text),
            comment=comment,
        )
    except GradingError as exc:
        failed = (submission_id, key, score_text, comment, {exc.field: exc.message})
        return _page(request, session, user, filters=filters, failed=failed, status_code=422)
    except NotFound as exc:
        return error_page(request, status_code=404, heading="Not found", message=str(exc))
    except Forbidden as exc:
        return error_page(request, status_code=403, heading="Not yours to grade", message=str(exc))
    target = _with_query(url_path(request, "page_instructor_grading"), {**filters, "graded": str(submission_id)})
    return RedirectResponse(target, status_code=303)
