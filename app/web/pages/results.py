"""The learner's own results: one submission with its feedback and worked solution, and the progress list."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.db.models import utcnow
from app.domain.cards import is_drawn
from app.services.deck_results import deck_result
from app.services.errors import NotFound
from app.services.submissions import get_submission, list_submissions
from app.web.deps import OptionalLearnerDep, SessionDep
from app.web.pages.cards import new_variant_url
from app.web.pages.decks import deck_context
from app.web.pages.feedback import result_view
from app.web.pages.rendering import not_found_page, render_page, url_path

router = APIRouter()


@router.get("/submissions/{submission_id}", name="page_submission")
def submission_page(
    request: Request, submission_id: str, session: SessionDep, learner: OptionalLearnerDep
) -> HTMLResponse:
    # Someone else's submission answers exactly like a missing one: its existence is not revealed.
    missing = not_found_page(request, "There is no submission of yours with this number.")
    if learner is None or not submission_id.isascii() or not submission_id.isdigit() or len(submission_id) > 18:
        return missing
    try:
        submission = get_submission(session=session, submission_id=int(submission_id), learner_id=learner.id)
    except NotFound:
        return missing
    card_url = url_path(request, "page_card", slug=submission.slug)
    context = {
        "submission": submission,
        "view": result_view(submission),
        "try_again_url": f"{card_url}?seed={submission.seed}",
        "new_variant_url": new_variant_url(request, submission.slug) if is_drawn(submission.spec) else None,
        "deck": None,
    }
    if submission.deck_slug is not None:
        # Answered inside a deck: its policy decides whether the answers and the solution are shown yet.
        found = deck_result(session=session, submission=submission, learner_id=learner.id, now=utcnow())
        deck = deck_context(request, found)
        context.update(deck=deck, view=result_view(found.submission), try_again_url=deck["card_url"])
        context["new_variant_url"] = None  # the deck fixes the variant
    return render_page(request, "submission.html", context)


@router.get("/progress", name="page_progress")
def progress_page(request: Request, session: SessionDep, learner: OptionalLearnerDep) -> HTMLResponse:
    submissions = [] if learner is None else list_submissions(session=session, learner_id=learner.id)
    return render_page(request, "progress.html", {"submissions": submissions, "nav": "progress"})
