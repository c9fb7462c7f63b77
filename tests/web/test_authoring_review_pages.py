"""The instructor's card pages for checking cards: preview, seed test, history, no live author HTML."""

from __future__ import annotations

from accounts_support import UserClient, form_csrf_token
from authoring_support import KL, card_yaml, create, live_scripts, set_status

# --- preview, seeds, history --------------------------------------------------------------------------


def test_the_preview_shows_the_learners_view_and_the_answers(instructor_client: UserClient) -> None:
    create(instructor_client)

    page = instructor_client.get("/instructor/cards/page-card/preview", params={"seed": 4})

    assert page.status_code == 200
    html = page.text
    assert "P = [0.7, 0.2, 0.1] and Q = [0.6, 0.3, 0.1]." in html
    assert 'name="loss"' in html and 'value="Yes"' in html  # the learner's fields
    assert f"<dd>{KL:.4g}</dd>" in html  # the numeric part's right answer
    assert f"The loss is {KL:.4g} nats." in html
    assert "<dt>Right answer</dt>" in html
    assert instructor_client.get("/instructor/cards/page-card/preview", params={"seed": "x"}).status_code == 422


def test_the_learner_page_never_has_the_answers(instructor_client: UserClient, learner_client: UserClient) -> None:
    create(instructor_client)
    set_status(instructor_client, "page-card", "publish")

    html = learner_client.get("/cards/page-card").text

    assert "P = [0.7, 0.2, 0.1]" in html
    assert f"{KL:.4g}" not in html
    assert "Right answer" not in html and "The loss is" not in html


def test_the_seed_test_finds_failing_seeds_and_repeats(instructor_client: UserClient) -> None:
    drawn = card_yaml(
        params={"n": {"integer": [0, 3]}, "P": [0.5, 0.5]},
        prompt="n = {{ n }}",
        parts=[{"key": "x", "kind": "numeric", "label": "x", "answer": "1 / (n - 2)"}],
        solution="",
    )
    assert create(instructor_client, drawn).status_code == 303

    page = instructor_client.get("/instructor/cards/page-card/seeds")

    assert page.status_code == 200
    assert "✗ Some seeds fail." in page.text
    assert "<code>parts[0].answer</code>" in page.text
    assert "3 of the" in page.text  # only three different values of n give a variant
    assert "Repeated variants" in page.text


def test_the_seed_test_of_a_sound_card(instructor_client: UserClient) -> None:
    page = instructor_client.get("/instructor/cards/evaluate-student-models/seeds")

    assert "✓ The card works." in page.text


def test_history_with_a_diff(instructor_client: UserClient) -> None:
    create(instructor_client)
    token = form_csrf_token(instructor_client.get("/instructor/cards/page-card/edit").text)
    instructor_client.post(
        "/instructor/cards/page-card/edit", data={"spec": card_yaml(title="Revised"), "csrf_token": token}
    )

    page = instructor_client.get("/instructor/cards/page-card/history")
    same = instructor_client.get("/instructor/cards/page-card/history", params={"old": 2, "new": 2})

    assert page.status_code == 200
    assert instructor_client.user.email in page.text
    assert '<span class="diff-remove">-title: Two students on a page</span>' in page.text
    assert '<span class="diff-add">+title: Revised</span>' in page.text
    assert "The two versions are the same." in same.text
    assert instructor_client.get("/instructor/cards/page-card/history", params={"old": 9, "new": 1}).status_code == 404


# --- author text never becomes live HTML --------------------------------------------------------------

ATTACK = "<script>alert(1)</script><img src=x onerror=alert(1)>"


def test_author_html_never_reaches_the_browser(instructor_client: UserClient, learner_client: UserClient) -> None:
    nasty = card_yaml(
        title=f"Title {ATTACK}",
        tags=[f"tag{ATTACK}"[:40]],
        prompt=f"Prompt {ATTACK} [link](javascript:alert(1))",
        parts=[
            {"key": "loss", "kind": "numeric", "label": f"Label {ATTACK}", "answer": "kl(P, Q)", "unit": "u<b>"},
            {"key": "pick", "kind": "choice", "label": "Pick", "choices": [f"A {ATTACK}", "B"], "answer": "'B'"},
            {"key": "why", "kind": "text", "label": "Why", "model_answer": f"Model {ATTACK}"},
        ],
        solution=f"Solution {ATTACK}",
    )
    assert create(instructor_client, nasty).status_code == 303
    set_status(instructor_client, "page-card", "publish")
    submitted = learner_client.post(
        "/api/v1/cards/page-card/submissions", json={"seed": 0, "answers": {"loss": "0.02", "pick": "B", "why": "x"}}
    )
    assert submitted.status_code == 201

    pages = {
        "list": instructor_client.get("/instructor"),
        "editor": instructor_client.get("/instructor/cards/page-card/edit"),
        "preview": instructor_client.get("/instructor/cards/page-card/preview"),
        "seeds": instructor_client.get("/instructor/cards/page-card/seeds"),
        "history": instructor_client.get("/instructor/cards/page-card/history"),
        "learner card": learner_client.get("/cards/page-card"),
        "learner result": learner_client.get(f"/submissions/{submitted.json()['id']}"),
        "learner list": learner_client.get("/"),
    }

    for name, response in pages.items():
        assert response.status_code == 200, name
        assert live_scripts(response.text) == [], name
        assert "<script>alert" not in response.text, name
    assert "Prompt" in pages["preview"].text and "Model" in pages["preview"].text
    assert "&lt;script&gt;" in pages["editor"].text  # shown as text in the editor, never run
