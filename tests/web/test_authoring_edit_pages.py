"""The instructor's card pages for writing cards: access, list and search, YAML editor, status buttons, form."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from accounts_support import UserClient, form_csrf_token
from authoring_support import card_yaml, create, set_status
from fastapi.testclient import TestClient

# --- access -------------------------------------------------------------------------------------------

PAGES = [
    "/instructor",
    "/instructor/cards/new",
    "/instructor/cards/new/form",
    "/instructor/cards/evaluate-student-models/edit",
    "/instructor/cards/evaluate-student-models/preview",
    "/instructor/cards/evaluate-student-models/seeds",
    "/instructor/cards/evaluate-student-models/history",
]
POSTS = [
    "/instructor/cards/new",
    "/instructor/cards/new/form",
    "/instructor/cards/evaluate-student-models/edit",
    "/instructor/cards/evaluate-student-models/status",
]


@pytest.mark.parametrize("path", PAGES)
def test_learners_get_403_and_guests_are_sent_to_sign_in(
    path: str, learner_client: UserClient, client: TestClient
) -> None:
    assert learner_client.get(path).status_code == 403
    guest = client.get(path, follow_redirects=False)
    assert guest.status_code == 303
    assert guest.headers["location"].startswith("/signin?next=")


@pytest.mark.parametrize("path", POSTS)
def test_learners_cannot_post(path: str, learner_client: UserClient) -> None:
    response = learner_client.post(path, data={"spec": card_yaml(), "action": "archive"})

    assert response.status_code == 403


def test_a_form_without_the_csrf_token_is_refused(instructor_client: UserClient) -> None:
    del instructor_client.headers["X-CSRF-Token"]

    response = instructor_client.post("/instructor/cards/new", data={"spec": card_yaml()})

    assert response.status_code == 403
    assert instructor_client.get("/instructor").text.count("page-card") == 0


# --- the YAML editor ----------------------------------------------------------------------------------


def test_create_in_the_yaml_editor_then_edit_to_version_two(instructor_client: UserClient) -> None:
    new = instructor_client.get("/instructor/cards/new")
    assert new.status_code == 200
    assert 'name="csrf_token"' in new.text and "<textarea" in new.text

    created = create(instructor_client)

    assert created.status_code == 303
    assert created.headers["location"] == "/instructor/cards/page-card/edit?saved=created"
    page = instructor_client.get(created.headers["location"])
    assert "Card created as a draft (version 1)" in page.text
    assert "title: Two students on a page" in page.text

    token = form_csrf_token(page.text)
    saved = instructor_client.post(
        "/instructor/cards/page-card/edit",
        data={"spec": card_yaml(title="Revised on a page"), "csrf_token": token},
        follow_redirects=False,
    )
    unchanged = instructor_client.post(
        "/instructor/cards/page-card/edit",
        data={"spec": card_yaml(title="Revised on a page").replace("\n", "\r\n"), "csrf_token": token},
    )

    assert saved.headers["location"] == "/instructor/cards/page-card/edit?saved=version"
    assert "Saved as version 2." in instructor_client.get(saved.headers["location"]).text
    assert "Nothing changed: the card is still at version 2." in unchanged.text


def test_an_invalid_spec_is_kept_with_every_problem_and_nothing_is_saved(instructor_client: UserClient) -> None:
    text = card_yaml().replace("answer: kl(P, Q)", "answer: ().__class__.__mro__").replace("title: Two", "titel: Two")
    lines = text.splitlines()
    escape_line = next(i for i, line in enumerate(lines, 1) if "__mro__" in line)

    response = create(instructor_client, text)

    assert response.status_code == 422
    html = response.text
    assert "3 problems: nothing was saved" in html
    assert "Line 2</a> — <code>titel</code>: is not a known field (did you mean &#39;title&#39;?)" in html
    assert "Line 1</a> — <code>title</code>: is missing" in html
    assert f"Line {escape_line}</a> — <code>parts[0].answer</code>: attribute access" in html
    assert "().__class__.__mro__</textarea>" not in html  # the text is kept whole, not cut at the problem
    assert "answer: ().__class__.__mro__" in html
    assert 'aria-invalid="true"' in html
    assert instructor_client.get("/api/v1/cards/page-card/spec").status_code == 404


def test_a_yaml_syntax_error_names_its_line(instructor_client: UserClient) -> None:
    text = card_yaml().replace("tags: [kl-divergence, pages]", "tags: [kl-divergence, pages")

    response = create(instructor_client, text)

    assert response.status_code == 422
    assert re.search(r"Line \d+</a> — <code>yaml</code>: not valid YAML", response.text)


def test_publish_unpublish_and_archive_with_the_buttons(
    instructor_client: UserClient, learner_client: UserClient
) -> None:
    create(instructor_client)

    published = set_status(instructor_client, "page-card", "publish")
    listed = "Two students on a page" in learner_client.get("/").text
    set_status(instructor_client, "page-card", "unpublish")
    hidden_again = "Two students on a page" not in learner_client.get("/").text
    archived = set_status(instructor_client, "page-card", "archive")

    assert published.headers["location"] == "/instructor/cards/page-card/edit?saved=published"
    assert listed and hidden_again
    assert "The card is now archived." in instructor_client.get(archived.headers["location"]).text
    assert set_status(instructor_client, "page-card", "delete").status_code == 422


def test_the_list_searches_by_title_tag_and_status(instructor_client: UserClient) -> None:
    create(instructor_client)
    create(instructor_client, card_yaml(slug="entropy-page", title="Entropy alone", tags=["entropy"]))
    set_status(instructor_client, "entropy-page", "archive")

    def listed(**params: str) -> list[str]:
        html = instructor_client.get("/instructor", params=params).text
        return re.findall(r'<a href="/instructor/cards/([a-z0-9-]+)/edit">', html)

    assert listed() == ["entropy-page", "page-card"]
    assert listed(q="two STUDENTS") == ["page-card"]
    assert listed(tag="entropy") == ["entropy-page"]
    assert listed(status="archived") == ["entropy-page"]
    assert listed(status="draft") == ["page-card"]
    assert listed(q="nothing like it") == []
    assert "evaluate-student-models" not in instructor_client.get("/instructor").text  # built-ins are not theirs


def test_admins_see_every_card_and_edit_built_in_ones(admin_client: UserClient) -> None:
    assert "evaluate-student-models" in admin_client.get("/instructor").text
    page = admin_client.get("/instructor/cards/evaluate-student-models/edit")
    spec = re.search(r'<textarea id="spec"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert spec is not None
    text = html.unescape(spec.group(1)).replace("title: Evaluating", "title: Revised, evaluating")

    saved = admin_client.post(
        "/instructor/cards/evaluate-student-models/edit",
        data={"spec": text, "csrf_token": form_csrf_token(page.text)},
        follow_redirects=False,
    )

    assert saved.headers["location"].endswith("?saved=version")
    assert "Revised, evaluating" in admin_client.get("/cards/evaluate-student-models").text


def test_another_instructor_reads_a_published_card_but_cannot_change_it(
    instructor_client: UserClient, user_client: Callable[[str], UserClient]
) -> None:
    create(instructor_client)
    other = user_client("instructor")
    assert other.get("/instructor/cards/page-card/edit").status_code == 403  # a draft: not theirs to see
    set_status(instructor_client, "page-card", "publish")

    page = other.get("/instructor/cards/page-card/edit")
    posted = other.post(
        "/instructor/cards/page-card/edit",
        data={"spec": card_yaml(title="Mine"), "csrf_token": form_csrf_token(page.text)},
    )
    archived = other.post(
        "/instructor/cards/page-card/status", data={"action": "archive", "csrf_token": form_csrf_token(page.text)}
    )

    assert page.status_code == 200
    assert " readonly>" in page.text
    assert "Save a new version" not in page.text
    assert (posted.status_code, archived.status_code) == (403, 403)
    assert "only its owner can change it" in posted.text


def test_built_in_cards_are_read_only_for_instructors(instructor_client: UserClient) -> None:
    page = instructor_client.get("/instructor/cards/evaluate-student-models/edit")

    assert page.status_code == 200
    assert "This is a built-in card: only an administrator can change it." in page.text


def test_an_unknown_card_is_404(instructor_client: UserClient) -> None:
    for page in ("edit", "preview", "seeds", "history"):
        assert instructor_client.get(f"/instructor/cards/no-such-card/{page}").status_code == 404


# --- the form -----------------------------------------------------------------------------------------


FORM = {
    "title": "Made with the form",
    "slug": "",
    "tags": "kl-divergence, form",
    "params": "P = [0.7, 0.2, 0.1]\nQ = {dirichlet: [4, 3, 3], decimals: 2}",
    "prompt": "P = {{ P }}, Q = {{ Q }}",
    "part-0-kind": "numeric",
    "part-0-key": "loss",
    "part-0-label": "KL(P‖Q)",
    "part-0-answer": "kl(P, Q)",
    "part-0-rtol": "0.02",
    "part-0-atol": "",
    "part-0-unit": "nats",
    "part-1-kind": "choice",
    "part-1-key": "larger",
    "part-1-label": "Which is larger?",
    "part-1-answer": "P",
    "part-1-choices": "P\nQ",
    "part-3-kind": "text",
    "part-3-key": "why",
    "part-3-label": "Why?",
    "part-3-model_answer": "Because.",
    "solution": "{{ kl(P, Q) | fmt }}",
    "constraints": "kl(P, Q) > 0.001",
}


def test_the_form_builds_a_card(instructor_client: UserClient) -> None:
    token = form_csrf_token(instructor_client.get("/instructor/cards/new/form").text)

    response = instructor_client.post(
        "/instructor/cards/new/form", data={**FORM, "csrf_token": token}, follow_redirects=False
    )

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/instructor/cards/made-with-the-form/edit?saved=created"
    spec = instructor_client.get("/api/v1/cards/made-with-the-form/spec").json()
    assert spec["tags"] == ["kl-divergence", "form"]
    assert spec["params"] == {"P": [0.7, 0.2, 0.1], "Q": {"dirichlet": [4, 3, 3], "decimals": 2}}
    assert spec["parts"][0] == {
        "key": "loss",
        "kind": "numeric",
        "label": "KL(P‖Q)",
        "answer": "kl(P, Q)",
        "tolerance": {"rtol": 0.02, "atol": 0.0001},
        "weight": 1.0,
        "unit": "nats",
    }
    assert spec["parts"][1]["answer"] == "'P'"
    assert spec["parts"][2] == {
        "key": "why",
        "kind": "text",
        "label": "Why?",
        "model_answer": "Because.",
        "weight": 1.0,
    }
    assert spec["constraints"] == ["kl(P, Q) > 0.001"]


def test_the_form_shows_each_problem_beside_its_field(instructor_client: UserClient) -> None:
    token = form_csrf_token(instructor_client.get("/instructor/cards/new/form").text)
    broken = {**FORM, "part-3-answer": "", "part-0-answer": "kl(P, R)", "part-3-key": "Why", "title": ""}

    response = instructor_client.post("/instructor/cards/new/form", data={**broken, "csrf_token": token})

    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="part-0-answer"[^>]*aria-describedby="answer-hint part-0-answer-error1"', html)
    assert '<p class="field-error" id="part-0-answer-error1">unknown name &#39;R&#39;' in html
    assert '<p class="field-error" id="part-3-key-error1">&#39;Why&#39; is not a valid key' in html
    assert '<p class="field-error" id="title-error1">' in html
    assert 'value="kl(P, R)"' in html  # kept as typed
    assert "Because.</textarea>" in html
    assert instructor_client.get("/api/v1/cards/made-with-the-form/spec").status_code == 404


def test_a_parameter_line_that_cannot_be_read(instructor_client: UserClient) -> None:
    token = form_csrf_token(instructor_client.get("/instructor/cards/new/form").text)

    response = instructor_client.post(
        "/instructor/cards/new/form", data={**FORM, "params": "P = [0.7, 0.3\nQ", "csrf_token": token}
    )

    assert response.status_code == 422
    assert "line 1 (P): not valid YAML" in response.text
    assert "line 2: write one `name = value` per line" in response.text
