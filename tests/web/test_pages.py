"""The learner's pages on a real app and database: the card list, a card's form, and answering it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from accounts_support import form_csrf_token
from fastapi.testclient import TestClient

from app.domain.divergence import kl, reverse_kl

CARD = "/cards/evaluate-student-models"
P, QA, QB = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each element that has an id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append((tag, values))
        if tag not in {"input", "meta", "link", "br", "img", "hr", "col", "mspace"}:
            self._open.append((tag, values.get("id")))
            if values.get("id"):
                self.text_by_id[values["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            opened, _ = self._open.pop()
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def right_answers(seed: int = 0) -> dict[str, str]:
    return {
        "seed": str(seed),
        "loss_a": f"{kl(P, QA):.4f}",
        "loss_b": f"{kl(P, QB):.4f}",
        "better": "Student A",
        "reasoning": "Student A has the lower KL divergence from the teacher.",
    }


def submission_count(client: TestClient) -> int:
    return len(re.findall(r'href="/submissions/\d+"', client.get("/progress").text))


# --- the card list --------------------------------------------------------------------------------------


def test_index_lists_the_published_cards_with_tags_and_not_tried(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for slug in ("evaluate-student-models", "closest-student", "reverse-kl-behaviour", "distillation-alpha"):
        assert f'href="/cards/{slug}"' in html
    assert "Evaluating Student Model Performance" in html
    assert "<li>kl-divergence</li>" in html
    assert "not tried" in html


def test_index_shows_the_best_score_after_answering(client: TestClient) -> None:
    token = form_csrf_token(client.get(CARD).text)
    client.post(CARD, data={**right_answers(), "loss_b": "1", "csrf_token": token})
    client.post(CARD, data={**right_answers(), "csrf_token": token})
    html = client.get("/").text
    card = html[html.index('href="/cards/evaluate-student-models"') :]
    assert re.match(r"[^<]*</a>.*?Best score: <strong>100%</strong>", card, re.S)
    assert "not tried" in html  # the other cards


# --- a card's form -----------------------------------------------------------------------------------


def test_card_page_has_one_named_input_per_part(client: TestClient) -> None:
    response = client.get(CARD)
    assert response.status_code == 200
    page = Elements(response.text)
    assert page.find("input", type="hidden", name="seed", value="0")
    for key in ("loss_a", "loss_b"):
        (numeric,) = page.find("input", name=key)
        assert numeric["inputmode"] == "decimal"
        assert page.find("label", **{"for": numeric["id"]})
        assert page.text_by_id[f"{numeric['id']}-unit"].strip() == "nats"
    radios = page.find("input", type="radio", name="better")
    assert [r["value"] for r in radios] == ["Student A", "Student B"]
    assert all(page.find("label", **{"for": r["id"]}) for r in radios)
    assert page.find("fieldset", id="part-better")
    (reasoning,) = page.find("textarea", name="reasoning")
    assert page.find("label", **{"for": reasoning["id"]})
    (form,) = page.find("form")
    assert form["method"] == "post" and form["action"] == CARD
    assert page.find("button", type="submit")


def test_card_page_renders_the_prompt_math_as_mathml(client: TestClient) -> None:
    html = client.get(CARD).text
    prompt = html[html.index('aria-label="Question"') : html.index("<form")]
    assert "<math" in prompt and 'display="block"' in prompt
    assert "$" not in prompt
    assert "<table>" in prompt and "0.7" in prompt
    assert "<math" in html[html.index("<form") :]  # part labels carry their formulas too


def test_card_page_reveals_no_answers(client: TestClient) -> None:
    html = client.get(CARD).text
    for value in (kl(P, QA), kl(P, QB)):
        for digits in (3, 4, 5):
            assert f"{value:.{digits}g}" not in html
    assert "mimics the teacher better" not in html  # the model answer
    assert "Conclusion" not in html  # the worked solution


def test_fixed_card_has_no_new_variant_link(client: TestClient) -> None:
    assert "New variant" not in client.get(CARD).text


def test_drawn_card_offers_a_new_variant_and_keeps_the_learners_own(client: TestClient) -> None:
    first = Elements(client.get("/cards/compare-two-students").text)
    again = Elements(client.get("/cards/compare-two-students").text)
    (seed,) = first.find("input", name="seed")
    assert again.find("input", name="seed") == [seed]  # the same learner gets the same variant back
    links = [a["href"] for a in first.find("a") if a.get("href", "").startswith("/cards/compare-two-students?seed=")]
    assert len(links) == 1
    assert "New variant" in client.get("/cards/compare-two-students").text
    chosen = client.get(links[0])
    assert chosen.status_code == 200
    assert Elements(chosen.text).find("input", name="seed", value=links[0].split("=")[1])


def test_a_given_seed_picks_the_variant(client: TestClient) -> None:
    first = client.get("/cards/compare-two-students?seed=12345").text
    assert Elements(first).find("input", type="hidden", name="seed", value="12345")
    prompt = first[first.index('aria-label="Question"') : first.index("<form")]
    again = client.get("/cards/compare-two-students?seed=12345").text
    assert prompt == again[again.index('aria-label="Question"') : again.index("<form")]
    other = client.get("/cards/compare-two-students?seed=54321").text
    assert prompt != other[other.index('aria-label="Question"') : other.index("<form")]


def test_multi_part_is_a_group_of_checkboxes(client: TestClient) -> None:
    page = Elements(client.get("/cards/kl-asymmetry").text)
    boxes = [a for t, a in page.tags if t == "input" and a.get("type") == "checkbox"]
    assert boxes
    assert len({box["name"] for box in boxes}) == 1
    assert "KL(P‖Q) ≥ 0" in [box["value"] for box in boxes]


# --- answering -----------------------------------------------------------------------------------------


def test_right_answers_redirect_to_a_result_with_full_marks(client: TestClient) -> None:
    response = client.post(CARD, data=right_answers(), follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/submissions/\d+", location)
    result = client.get(location)
    assert result.status_code == 200
    html = result.text
    assert "Score: 100%" in html
    assert "3 of 3 automatically graded parts correct" in html
    assert html.count("✓ Correct") == 3
    assert "Awaiting an instructor" in html
    assert "P(x) · ln(P(x) / QA(x))" in html and "P(x) · ln(P(x) / QB(x))" in html
    assert "<svg" in html and "<title" in html and "<desc" in html


def test_loss_in_bits_shows_the_log_base_2_misconception(client: TestClient) -> None:
    response = client.post(CARD, data={**right_answers(), "loss_a": "0.0387"})
    assert response.status_code == 200  # after the redirect
    page = Elements(response.text)
    part = page.text_by_id["result-loss_a"]
    assert "✗ Incorrect" in part
    assert "in bits (log base 2), not nats" in part
    assert "0.0387" in part
    assert f"{kl(P, QA):.4g}" in part  # the expected value


def test_unreadable_number_re_renders_the_form_with_the_message_beside_the_field(client: TestClient) -> None:
    before = submission_count(client)
    answers = {**right_answers(), "loss_a": "abc"}
    response = client.post(CARD, data=answers, follow_redirects=False)
    assert response.status_code == 422
    page = Elements(response.text)
    (field,) = page.find("input", name="loss_a")
    assert field["value"] == "abc"
    assert field["aria-invalid"] == "true"
    assert "part-loss_a-error" in field["aria-describedby"].split()
    assert "'abc' is not a number" in page.text_by_id["part-loss_a-error"]
    # The other answers are kept as typed and chosen.
    assert page.find("input", name="loss_b")[0]["value"] == answers["loss_b"]
    assert "checked" in page.find("input", name="better", value="Student A")[0]
    assert answers["reasoning"] in page.text_by_id["part-reasoning"]
    assert "aria-invalid" not in page.find("input", name="loss_b")[0]
    # An error summary links to the field, and nothing was stored.
    assert 'href="#part-loss_a"' in response.text
    assert submission_count(client) == before


def test_blank_number_is_a_format_error_too(client: TestClient) -> None:
    response = client.post(CARD, data={**right_answers(), "loss_b": "  "})
    assert response.status_code == 422
    assert "is empty" in Elements(response.text).text_by_id["part-loss_b-error"]


def test_unchosen_option_is_graded_not_refused(client: TestClient) -> None:
    answers = right_answers()
    del answers["better"]
    response = client.post(CARD, data=answers)
    assert response.status_code == 200
    assert "No option was chosen" in Elements(response.text).text_by_id["result-better"]


def test_decimal_comma_and_infinity_are_read(client: TestClient) -> None:
    reverse = f"{reverse_kl([0.5, 0.3, 0.2], [0.6, 0.4, 0.0]):.4f}".replace(".", ",")
    response = client.post("/cards/infinite-kl-support", data={"seed": "0", "forward": " ∞ ", "reverse": reverse})
    assert response.status_code == 200
    page = Elements(response.text)
    assert "✓ Correct" in page.text_by_id["result-forward"]
    assert "✓ Correct" in page.text_by_id["result-reverse"]
