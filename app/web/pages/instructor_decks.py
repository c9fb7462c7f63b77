"""The instructor's deck editor: their decks, a new deck, and editing one, each error beside its field.

The cards are written one slug per line in the order learners meet them; the published cards are listed
beside the form to choose from. The due date is read as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from app.db.models import DECK_STATUSES, SOLUTION_POLICIES, User
from app.services.catalog import list_cards
from app.services.deck_editing import create_deck, update_deck
from app.services.decks import DeckInput, DeckInvalid, deck_for_editing, deck_view, list_decks
from app.services.errors import Forbidden, NotFound
from app.web.auth import InstructorDep
from app.web.deps import SessionDep
from app.web.pages.cards import FormDep
from app.web.pages.rendering import error_page, not_found_page, render_page, url_path

router = APIRouter(prefix="/instructor/decks")

POLICY_LABELS: Final = {
    "always": "With every result",
    "after_correct": "Once the learner answers the card correctly",
    "after_due": "After the due date",
}
FIELD_LABELS: Final = {
    "slug": "Slug",
    "title": "Title",
    "description": "Description",
    "due_at": "Due date",
    "cards": "Cards",
    "max_attempts": "Attempts per card",
    "penalty_per_attempt": "Credit lost per extra attempt",
    "show_solution": "Show the solution",
    "status": "Status",
}


@dataclass(frozen=True)
class DeckForm:
    """The editor's fields as text, as typed (or as stored), and the errors by field."""

    slug: str = ""
    title: str = ""
    description: str = ""
    due_at: str = ""
    cards: str = ""
    max_attempts: str = "3"
    penalty_per_attempt: str = "0.1"
    show_solution: str = "always"
    status: str = "draft"

    @classmethod
    def of(cls, data: DeckInput) -> DeckForm:
        due = "" if data.due_at is None else data.due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
        return cls(
            slug=data.slug,
            title=data.title,
            description=data.description,
            due_at=due,
            cards="\n".join(data.cards),
            max_attempts="" if data.max_attempts is None else str(data.max_attempts),
            penalty_per_attempt=f"{data.penalty_per_attempt:g}",
            show_solution=data.show_solution,
            status=data.status,
        )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_fields(form: FormData) -> DeckForm:
    return DeckForm(**{name: _text(form, name) for name in FIELD_LABELS})


def deck_input(fields: DeckForm, *, slug: str | None = None) -> tuple[DeckInput | None, dict[str, str]]:
    """The DeckInput the form describes, or the fields that cannot even be read (a number that is not one)."""
    errors: dict[str, str] = {}
    due_at = None
    if fields.due_at.strip():
        try:
            due_at = datetime.fromisoformat(fields.due_at.strip())
        except ValueError:
            errors["due_at"] = "is not a date and time; pick one, or leave it empty for no due date"
        else:
            due_at = due_at if due_at.tzinfo else due_at.replace(tzinfo=UTC)
    attempts = None
    if fields.max_attempts.strip():
        if fields.max_attempts.strip().isdigit():
            attempts = int(fields.max_attempts.strip())
        else:
            errors["max_attempts"] = "must be a whole number, or empty for unlimited attempts"
    penalty = 0.0
    if fields.penalty_per_attempt.strip():
        try:
            penalty = float(fields.penalty_per_attempt.strip().replace(",", "."))
        except ValueError:
            errors["penalty_per_attempt"] = "must be a number from 0 to 1, such as 0.1 for 10%"
    if errors:
        return None, errors
    cards = tuple(line.strip() for line in fields.cards.splitlines() if line.strip())
    return (
        DeckInput(
            slug=slug if slug is not None else fields.slug.strip(),
            title=fields.title,
            description=fields.description,
            due_at=due_at,
            cards=cards,
            max_attempts=attempts,
            penalty_per_attempt=penalty,
            show_solution=fields.show_solution,
            status=fields.status,
        ),
        {},
    )


def field_errors(problems: list[tuple[str, str]]) -> dict[str, str]:
    """The service's problems by form field: ``cards[2]`` becomes the cards box, naming its line."""
    errors: dict[str, list[str]] = {}
    for where, message in problems:
        if where.startswith("cards[") and where.endswith("]"):
            line = int(where[len("cards[") : -1]) + 1
            errors.setdefault("cards", []).append(f"line {line}: {message}")
        else:
            errors.setdefault(where, []).append(message)
    order = [name for name in FIELD_LABELS if name in errors] + [name for name in errors if name not in FIELD_LABELS]
    return {name: "; ".join(errors[name]) for name in order}


def _editor(
    request: Request,
    session: SessionDep,
    *,
    fields: DeckForm,
    errors: dict[str, str],
    editing: str | None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    action = (
        url_path(request, "page_instructor_deck_edit", slug=editing)
        if editing
        else url_path(request, "page_instructor_deck_new")
    )
    context: dict[str, Any] = {
        "fields": fields,
        "errors": errors,
        "labels": FIELD_LABELS,
        "editing": editing,
        "saved": saved,
        "action": action,
        "policies": [(policy, POLICY_LABELS[policy]) for policy in SOLUTION_POLICIES],
        "statuses": DECK_STATUSES,
        "published_cards": list_cards(session=session, learner_id=None),
        "nav": "instructor",
    }
    return render_page(request, "instructor/deck_form.html", context, status_code=status_code)


@router.get("", name="page_instructor_decks")
def decks_page(request: Request, session: SessionDep, user: InstructorDep) -> HTMLResponse:
    decks = list_decks(session=session, user=user, editable=True)
    return render_page(request, "instructor/decks.html", {"decks": decks, "nav": "instructor"})


@router.get("/new", name="page_instructor_deck_new")
def new_deck_page(request: Request, session: SessionDep, user: InstructorDep) -> HTMLResponse:
    return _editor(request, session, fields=DeckForm(), errors={}, editing=None)


@router.post("/new", name="page_instructor_deck_create")
def create_deck_page(request: Request, session: SessionDep, user: InstructorDep, form: FormDep) -> Response:
    fields = form_fields(form)
    data, errors = deck_input(fields)
    if data is not None:
        try:
            view = create_deck(session=session, user=user, data=data)
        except DeckInvalid as exc:
            errors = field_errors(exc.problems)
        else:
            target = url_path(request, "page_instructor_deck_edit", slug=view.slug) + "?saved=1"
            return RedirectResponse(target, status_code=303)
    return _editor(request, session, fields=fields, errors=errors, editing=None, status_code=422)


def _editable(request: Request, session: SessionDep, user: User, slug: str) -> DeckInput | HTMLResponse:
    try:
        return deck_view(session, deck_for_editing(session=session, user=user, slug=slug)).to_input()
    except NotFound:
        return not_found_page(request, f"There is no deck called '{slug}' that you can edit.")
    except Forbidden as exc:
        return error_page(request, status_code=403, heading="Not yours to edit", message=f"The {exc}.")


@router.get("/{slug}/edit", name="page_instructor_deck_edit")
def edit_deck_page(
    request: Request, slug: str, session: SessionDep, user: InstructorDep, saved: str | None = None
) -> HTMLResponse:
    found = _editable(request, session, user, slug)
    if isinstance(found, HTMLResponse):
        return found
    return _editor(request, session, fields=DeckForm.of(found), errors={}, editing=slug, saved=saved == "1")


@router.post("/{slug}/edit", name="page_instructor_deck_update")
def update_deck_page(request: Request, slug: str, session: SessionDep, user: InstructorDep, form: FormDep) -> Response:
    found = _editable(request, session, user, slug)
    if isinstance(found, HTMLResponse):
        return found
    fields = form_fields(form)
    data, errors = deck_input(fields, slug=slug)
    if data is not None:
        try:
            update_deck(session=session, user=user, slug=slug, data=data)
        except DeckInvalid as exc:
            errors = field_errors(exc.problems)
        else:
            target = url_path(request, "page_instructor_deck_edit", slug=slug) + "?saved=1"
            return RedirectResponse(target, status_code=303)
    return _editor(request, session, fields=fields, errors=errors, editing=slug, status_code=422)
