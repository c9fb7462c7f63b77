"""The instructor's card pages: the list, the YAML editor and the form, preview and the seed test.

Everything works without JavaScript. A spec that does not validate is shown again exactly as typed, with
every problem listed by field, line and message, and nothing is saved. Who may see or change a card is
decided by the authoring services; these pages turn their refusals into 403 and 404 pages.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.routing import NoMatchFound

from app.db.models import User
from app.domain.cards import MAX_SEED, CardSpec, Variant, is_drawn
from app.services import authoring
from app.services.errors import Forbidden, InvalidSeed, NotFound
from app.services.seed_report import issue_counts
from app.services.spec_yaml import InvalidSpec, SpecProblem, spec_to_yaml
from app.web.auth import InstructorDep
from app.web.deps import SessionDep
from app.web.markdown import to_html, to_inline_html
from app.web.pages.card_form import CardFormInput, build_spec, read_card_form, with_errors
from app.web.pages.cards import FormDep
from app.web.pages.feedback import show_value
from app.web.pages.forms import SeedError, answer_form, parse_seed
from app.web.pages.rendering import error_page, not_found_page, number, render_page, url_path

router = APIRouter(prefix="/instructor")

SEARCH_LIMIT: Final = 200  # characters of a search term kept
STATUS_ACTIONS: Final[dict[str, authoring.CardStatus]] = {
    "publish": "published",
    "unpublish": "draft",
    "archive": "archived",
}
STARTER_YAML: Final = """\
slug: my-new-card         # lowercase words and hyphens; it cannot change later
title: My new card
tags: [kl-divergence]
params:                   # or drawn per seed: {dirichlet: [8, 1, 1], decimals: 2}
  P: [0.7, 0.2, 0.1]
  Q: [0.6, 0.3, 0.1]
prompt: |
  The teacher predicts $P = {{ P }}$ and the student $Q = {{ Q }}$.
  Compute $\\mathrm{KL}(P \\parallel Q)$ in nats.
parts:
  - key: loss
    kind: numeric         # numeric | choice | multi | text
    label: KL(P ‖ Q)
    answer: kl(P, Q)
    tolerance: {rtol: 0.01, atol: 0.0005}
    unit: nats
solution: |
  $\\mathrm{KL}(P \\parallel Q) = {{ kl(P, Q) | fmt }}$
"""


def guarded(request: Request, run: Callable[[], Response]) -> Response:
    """``run()``, with the services' refusals answered as pages."""
    try:
        return run()
    except NotFound as exc:
        return not_found_page(request, f"There is {exc}.")
    except Forbidden as exc:
        return error_page(request, status_code=403, heading="Not yours to change", message=f"{exc}.")


def card_urls(request: Request, slug: str) -> dict[str, str]:
    return {
        name: url_path(request, route, slug=slug)
        for name, route in (
            ("edit", "page_card_edit"),
            ("preview", "page_card_preview"),
            ("seeds", "page_card_seeds"),
            ("history", "page_card_history"),
            ("status", "page_card_status"),
        )
    }


# --- the list -----------------------------------------------------------------------------------------


@router.get("", name="page_instructor")
def cards_page(
    request: Request, session: SessionDep, user: InstructorDep, q: str = "", tag: str = "", status: str = ""
) -> HTMLResponse:
    chosen = next((s for s in authoring.STATUSES if s == status), None)
    search, tag = q.strip()[:SEARCH_LIMIT], tag.strip()[:SEARCH_LIMIT]
    cards = authoring.list_instructor_cards(session=session, user=user, search=search, tag=tag or None, status=chosen)
    context = {
        "cards": cards,
        "filters": {"q": search, "tag": tag, "status": chosen or ""},
        "filtered": bool(search or tag or chosen),
        "statuses": authoring.STATUSES,
        "limit": authoring.LIST_LIMIT,
        "is_admin": user.role == "admin",
        "nav": "instructor",
    }
    return render_page(request, "instructor/cards.html", context)


# --- the YAML editor ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberedLine:
    number: int
    text: str
    problems: tuple[str, ...]


def numbered(text: str, problems: Sequence[SpecProblem]) -> tuple[NumberedLine, ...]:
    """The text line by line, each with the problems placed on it (a textarea shows no line numbers)."""
    by_line: dict[int, list[str]] = {}
    for problem in problems:
        if problem.line is not None:
            by_line.setdefault(problem.line, []).append(f"{problem.field or 'spec'}: {problem.message}")
    return tuple(
        NumberedLine(number=n, text=line, problems=tuple(by_line.get(n, ())))
        for n, line in enumerate(text.splitlines(), start=1)
    )


def _editor(
    request: Request,
    *,
    text: str,
    user: User,
    card: authoring.AuthoredCard | None = None,
    problems: Sequence[SpecProblem] = (),
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    editable = card is None or card.editable
    action = url_path(request, "page_card_save", slug=card.slug) if card else url_path(request, "page_card_create")
    context = {
        "card": card,
        "text": text,
        "problems": problems,
        "lines": numbered(text, problems) if problems else (),
        "notice": notice,
        "editable": editable,
        "action": action,
        "urls": card_urls(request, card.slug) if card else None,
        "stats_url": _stats_url(request, card.slug) if card else None,
        "nav": "instructor",
    }
    return render_page(request, "instructor/card_editor.html", context, status_code=status_code)


def _stats_url(request: Request, slug: str) -> str | None:
    """The card's statistics page, where the app has one."""
    try:
        return url_path(request, "page_instructor_card_stats", slug=slug)
    except NoMatchFound:
        return None


def _spec_text(form: Any) -> str:
    value = form.get("spec")
    # Browsers send a textarea's line breaks as CRLF; the spec's size and lines count plain newlines.
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


@router.get("/cards/new", name="page_card_new")
def new_card_page(request: Request, user: InstructorDep) -> HTMLResponse:
    return _editor(request, text=STARTER_YAML, user=user)


@router.post("/cards/new", name="page_card_create")
def create_card_page(request: Request, session: SessionDep, user: InstructorDep, form: FormDep) -> Response:
    text = _spec_text(form)
    try:
        card = authoring.create_card(session=session, user=user, source=text)
    except InvalidSpec as exc:
        return _editor(request, text=text, user=user, problems=exc.problems, status_code=422)
    return RedirectResponse(url_path(request, "page_card_edit", slug=card.slug) + "?saved=created", status_code=303)


def _saved_notice(saved: str | None, card: authoring.AuthoredCard) -> str | None:
    if saved == "created":
        return f"Card created as a draft (version {card.version}). Preview it, test its seeds, then publish it."
    if saved == "version":
        return f"Saved as version {card.version}."
    if saved == "unchanged":
        return f"Nothing changed: the card is still at version {card.version}."
    if saved in STATUS_ACTIONS.values():
        return f"The card is now {saved}."
    return None


@router.get("/cards/{slug}/edit", name="page_card_edit")
def edit_card_page(
    request: Request, slug: str, session: SessionDep, user: InstructorDep, saved: str | None = None
) -> Response:
    def run() -> Response:
        card = authoring.get_authored_card(session=session, user=user, slug=slug)
        notice = _saved_notice(saved, card)
        return _editor(request, text=spec_to_yaml(card.spec), user=user, card=card, notice=notice)

    return guarded(request, run)


@router.post("/cards/{slug}/edit", name="page_card_save")
def save_card_page(request: Request, slug: str, session: SessionDep, user: InstructorDep, form: FormDep) -> Response:
    text = _spec_text(form)

    def run() -> Response:
        try:
            saved = authoring.update_card(session=session, user=user, slug=slug, source=text)
        except InvalidSpec as exc:
            card = authoring.get_authored_card(session=session, user=user, slug=slug)
            return _editor(request, text=text, user=user, card=card, problems=exc.problems, status_code=422)
        outcome = "version" if saved.new_version else "unchanged"
        return RedirectResponse(url_path(request, "page_card_edit", slug=slug) + f"?saved={outcome}", status_code=303)

    return guarded(request, run)


@router.post("/cards/{slug}/status", name="page_card_status")
def status_page(request: Request, slug: str, session: SessionDep, user: InstructorDep, form: FormDep) -> Response:
    action = form.get("action")
    status = STATUS_ACTIONS.get(action) if isinstance(action, str) else None
    if status is None:
        message = "Choose publish, unpublish or archive; nothing was changed."
        return error_page(request, status_code=422, heading="Request not accepted", message=message)

    def run() -> Response:
        authoring.set_status(session=session, user=user, slug=slug, status=status)
        return RedirectResponse(url_path(request, "page_card_edit", slug=slug) + f"?saved={status}", status_code=303)

    return guarded(request, run)


# --- the form for the common card ---------------------------------------------------------------------


FORM_LABELS: Final = {
    "title": "Title",
    "slug": "Slug",
    "tags": "Tags",
    "params": "Parameters",
    "prompt": "Prompt",
    "solution": "Solution",
    "constraints": "Constraints",
    "parts": "Parts",
}


def _form_page(request: Request, data: CardFormInput, *, status_code: int = 200) -> HTMLResponse:
    labels = dict(FORM_LABELS)
    for slot in range(len(data.parts)):
        for name, label in (("key", "key"), ("label", "label"), ("answer", "answer"), ("rtol", "tolerance"),
                            ("atol", "tolerance"), ("unit", "unit"), ("choices", "options"),
                            ("model_answer", "model answer"), ("kind", "kind")):  # fmt: skip
            labels[f"part-{slot}-{name}"] = f"Part {slot + 1} {label}"
    context = {"data": data, "labels": labels, "nav": "instructor"}
    return render_page(request, "instructor/card_form.html", context, status_code=status_code)


@router.get("/cards/new/form", name="page_card_new_form")
def new_card_form_page(request: Request, user: InstructorDep) -> HTMLResponse:
    return _form_page(request, CardFormInput())


@router.post("/cards/new/form", name="page_card_create_form")
def create_card_form_page(request: Request, session: SessionDep, user: InstructorDep, form: FormDep) -> Response:
    data = read_card_form(form)
    spec, read_errors, slots = build_spec(data)
    if read_errors:
        # A parameter that could not be read would only be reported again as an unknown name.
        return _form_page(request, with_errors(data, (), slots, read_errors), status_code=422)
    try:
        card = authoring.create_card(session=session, user=user, source=spec)
    except InvalidSpec as exc:
        return _form_page(request, with_errors(data, exc.problems, slots, {}), status_code=422)
    return RedirectResponse(url_path(request, "page_card_edit", slug=card.slug) + "?saved=created", status_code=303)


# --- preview ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerView:
    label_html: Markup
    kind: str
    expected: tuple[str, ...] | None  # None for a text part
    expected_html: tuple[Markup, ...]  # options as the learner sees them (they may hold Markdown)
    tolerance: str | None
    model_answer_html: Markup | None


def answer_views(spec: CardSpec, variant: Variant) -> tuple[AnswerView, ...]:
    views = []
    for part, shown in zip(spec.parts, variant.parts, strict=True):
        expected = variant.answers.get(part.key)
        model = variant.model_answers.get(part.key)
        values = None if part.kind == "text" else show_value(expected)
        if part.kind == "multi" and not expected:
            values = ("none of the options",)
        options = tuple(to_inline_html(v) for v in values or ()) if part.kind in ("choice", "multi") else ()
        tolerance = None
        if part.kind == "numeric":
            tolerance = f"accepted within {number(part.tolerance.atol)} + {number(part.tolerance.rtol)} × |answer|"
        views.append(
            AnswerView(
                label_html=to_inline_html(shown.label),
                kind=part.kind,
                expected=values,
                expected_html=options,
                tolerance=tolerance,
                model_answer_html=to_html(model) if model else None,
            )
        )
    return tuple(views)


def int_or_none(raw: str | None, *, limit: int) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 10 or not 1 <= int(text) < limit:
        raise SeedError(f"'{text[:20]}' is not a version number.")
    return int(text)


@router.get("/cards/{slug}/preview", name="page_card_preview")
def preview_page(
    request: Request,
    slug: str,
    session: SessionDep,
    user: InstructorDep,
    seed: str | None = None,
    version: str | None = None,
) -> Response:
    def run() -> Response:
        try:
            chosen = parse_seed(seed)
            number_ = int_or_none(version, limit=2**31)
            shown = authoring.preview(
                session=session, user=user, slug=slug, seed=0 if chosen is None else chosen, version=number_
            )
        except (SeedError, InvalidSeed) as exc:
            back = url_path(request, "page_card_preview", slug=slug)
            return error_page(request, status_code=422, heading="No such variant", message=str(exc), retry_url=back)
        variant = shown.variant
        here = url_path(request, "page_card_preview", slug=slug)
        keep = f"&version={shown.version}" if number_ is not None else ""
        context = {
            "card": shown.card,
            "version": shown.version,
            "spec": shown.spec,
            "drawn": is_drawn(shown.spec),
            "seed": variant.seed,
            "prompt_html": to_html(variant.prompt),
            "form": answer_form(variant),
            "answers": answer_views(shown.spec, variant),
            "solution_html": to_html(variant.solution),
            "next_url": f"{here}?seed={(variant.seed + 1) % MAX_SEED}{keep}",
            "random_url": f"{here}?seed={secrets.randbelow(MAX_SEED)}{keep}",
            "urls": card_urls(request, slug),
            "nav": "instructor",
        }
        return render_page(request, "instructor/card_preview.html", context)

    return guarded(request, run)


# --- the seed test ------------------------------------------------------------------------------------


@router.get("/cards/{slug}/seeds", name="page_card_seeds")
def seeds_page(request: Request, slug: str, session: SessionDep, user: InstructorDep) -> Response:
    def run() -> Response:
        card = authoring.get_authored_card(session=session, user=user, slug=slug)
        report = authoring.test_seeds(card.spec)
        context = {
            "card": card,
            "report": report,
            "errors": issue_counts(report.errors),
            "nonfinite": issue_counts(report.nonfinite),
            "constraints": issue_counts(report.constraint_failures),
            "urls": card_urls(request, slug),
            "nav": "instructor",
        }
        return render_page(request, "instructor/card_seeds.html", context)

    return guarded(request, run)
