import re
from collections.abc import Callable

import httpx
import pytest
from accounts_support import UserClient, form_csrf_token
from decks_support import EXAMPLE, load_example_deck
from fastapi import FastAPI
from fastapi.testclient import TestClient

FORM = {
    "slug": "week-2",
    "title": "Week 2",
    "description": "Temperature and **α**.",
    "cards": "temperature-softmax\ndistillation-alpha\n",
    "due_at": "2026-12-11T17:00",
    "max_attempts": "2",
    "penalty_per_attempt": "0.25",
    "show_solution": "after_due",
    "status": "published",
}


def post_form(client: TestClient, url: str, data: dict[str, str]) -> httpx.Response:
    token = form_csrf_token(client.get(url).text)
    return client.post(url, data={**data, "csrf_token": token}, follow_redirects=False)


def error_beside(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def test_an_instructor_creates_a_deck_in_the_browser(instructor_client: UserClient) -> None:
    assert instructor_client.get("/instructor/decks").status_code == 200
    response = post_form(instructor_client, "/instructor/decks/new", FORM)
    assert response.status_code == 303
    assert response.headers["location"] == "/instructor/decks/week-2/edit?saved=1"
    edit = instructor_client.get(response.headers["location"])
    assert "Saved." in edit.text
    assert "temperature-softmax\ndistillation-alpha</textarea>" in edit.text
    assert 'value="2026-12-11T17:00"' in edit.text and 'value="0.25"' in edit.text
    assert 'value="after_due" checked' in edit.text
    listing = instructor_client.get("/instructor/decks").text
    assert 'href="/instructor/decks/week-2/edit"' in listing and "Week 2" in listing
    detail = instructor_client.get("/api/v1/decks/week-2").json()
    assert [card["slug"] for card in detail["cards"]] == ["temperature-softmax", "distillation-alpha"]
    assert (detail["due_at"], detail["max_attempts"], detail["penalty_per_attempt"]) == (
        "2026-12-11T17:00:00Z",
        2,
        0.25,
    )


def test_errors_are_shown_beside_their_fields_and_nothing_is_saved(instructor_client: UserClient) -> None:
    bad = {
        **FORM,
        "slug": "Week 2",
        "cards": "temperature-softmax\nno-such-card\n",
        "penalty_per_attempt": "lots",
        "due_at": "",
    }
    response = post_form(instructor_client, "/instructor/decks/new", bad)
    assert response.status_code == 422
    assert "must be a number from 0 to 1" in error_beside(response.text, "penalty_per_attempt")
    assert 'value="Week 2"' in response.text  # what was typed is kept
    # Once the penalty can be read, the service's checks report the other fields.
    response = post_form(instructor_client, "/instructor/decks/new", {**bad, "penalty_per_attempt": "0.25"})
    assert response.status_code == 422
    assert "lowercase letters" in error_beside(response.text, "slug")
    assert error_beside(response.text, "cards") == "line 2: there is no card &#39;no-such-card&#39;"
    assert "required when the solution is shown after the due date" in error_beside(response.text, "due_at")
    assert 'aria-invalid="true"' in response.text and "Nothing has been saved yet." in response.text
    assert instructor_client.get("/api/v1/decks/week-2").status_code == 404


def test_an_instructor_edits_their_deck(instructor_client: UserClient) -> None:
    post_form(instructor_client, "/instructor/decks/new", FORM)
    edit = "/instructor/decks/week-2/edit"
    changed = {**FORM, "title": "Week two", "cards": "distillation-alpha", "max_attempts": "", "status": "draft"}
    changed.pop("slug")
    response = post_form(instructor_client, edit, changed)
    assert (response.status_code, response.headers["location"]) == (303, f"{edit}?saved=1")
    detail = instructor_client.get("/api/v1/decks/week-2").json()
    assert (detail["title"], detail["max_attempts"], detail["status"]) == ("Week two", None, "draft")
    assert [card["slug"] for card in detail["cards"]] == ["distillation-alpha"]
    response = post_form(instructor_client, edit, {**changed, "title": ""})
    assert response.status_code == 422 and error_beside(response.text, "title") == "is required"


def test_learners_are_refused_and_visitors_sent_to_sign_in(
    app: FastAPI, learner_client: UserClient, client: TestClient
) -> None:
    load_example_deck(app)
    for url in ("/instructor/decks", "/instructor/decks/new", f"/instructor/decks/{EXAMPLE}/edit"):
        assert learner_client.get(url).status_code == 403
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next=")
    # The client sends its CSRF header, so the refusal is the role's, not the missing token's.
    refused = learner_client.post("/instructor/decks/new", data=FORM, follow_redirects=False)
    assert refused.status_code == 403 and "only instructors" in refused.text
    assert learner_client.get("/api/v1/decks/week-2").status_code == 404


@pytest.mark.parametrize("role", ["instructor", "admin"])
def test_only_an_administrator_edits_the_built_in_deck(
    app: FastAPI, user_client: Callable[[str], UserClient], role: str
) -> None:
    load_example_deck(app)
    editor = user_client(role)
    page = editor.get(f"/instructor/decks/{EXAMPLE}/edit")
    listed = f'href="/instructor/decks/{EXAMPLE}/edit"' in editor.get("/instructor/decks").text
    if role == "instructor":
        assert page.status_code == 403 and "only an administrator can change it" in page.text
        assert not listed
    else:
        assert page.status_code == 200 and listed
        data = {**FORM, "cards": "closest-student", "title": "Foundations", "show_solution": "always"}
        response = post_form(editor, f"/instructor/decks/{EXAMPLE}/edit", data)
        assert response.status_code == 303


def test_an_instructor_cannot_edit_another_instructors_deck(
    instructor_client: UserClient, user_client: Callable[[str], UserClient]
) -> None:
    post_form(instructor_client, "/instructor/decks/new", FORM)
    post_form(instructor_client, "/instructor/decks/new", {**FORM, "slug": "draft-one", "status": "draft"})
    other = user_client("instructor")
    assert other.get("/instructor/decks/week-2/edit").status_code == 403  # published: it exists, but is not theirs
    assert other.get("/instructor/decks/draft-one/edit").status_code == 404  # a draft of another's is not revealed
    token = form_csrf_token(other.get("/instructor/decks/new").text)
    refused = other.post("/instructor/decks/week-2/edit", data={**FORM, "csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 403
    assert instructor_client.get("/api/v1/decks/week-2").json()["title"] == "Week 2"
