"""Results, progress and the error pages: what a learner sees after answering, and when something is wrong."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from accounts_support import form_csrf_token
from fastapi.testclient import TestClient

from app.domain.divergence import kl, kl_terms

CARD = "/cards/evaluate-student-models"
P, QA, QB = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]


def answer(client: TestClient, path: str = CARD, **answers: str) -> str:
    """Post answers (the right ones for evaluate-student-models by default); the result page's address."""
    data = {
        "seed": "0",
        "loss_a": f"{kl(P, QA):.4f}",
        "loss_b": f"{kl(P, QB):.4f}",
        "better": "Student A",
        "reasoning": "A is closer.",
        "csrf_token": form_csrf_token(client.get(path).text),  # as the card's form posts it
    }
    posted = {**data, **answers} if path == CARD else {**answers, "csrf_token": data["csrf_token"]}
    response = client.post(path, data=posted, follow_redirects=False)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


def section(html: str, start: str, end: str) -> str:
    return html[html.index(start) : html.index(end, html.index(start))]


# --- the result page -----------------------------------------------------------------------------------


def test_result_page_tables_every_term_and_its_sum(client: TestClient) -> None:
    html = client.get(answer(client)).text
    table = section(html, "The terms of KL(P ‖ QA)", "</table>")
    for outcome, term in zip(("apple", "banana", "cherry"), kl_terms(P, QA), strict=True):
        row = section(table, f'<th scope="row">{outcome}</th>', "</tr>")
        shown = f"{term:.4g}".replace("-", "−")
        assert f'<td class="num">{shown}</td>' in row
    assert f"{kl(P, QA):.4g}" in section(table, "<tfoot>", "</tfoot>")
    assert "<caption>The terms of KL(P ‖ QA)" in html and 'scope="col"' in table


def test_result_page_draws_an_accessible_svg_chart_per_divergence(client: TestClient) -> None:
    html = client.get(answer(client)).text
    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(charts) == 2  # KL(P‖QA) and KL(P‖QB), each once although two parts use it
    chart = charts[0]
    assert 'role="img"' in chart and "aria-labelledby=" in chart
    assert "<title" in chart and "apple: P 0.7, QA 0.6" in chart  # the <desc> reads out every value
    assert chart.count('class="bar"') == 6
    assert ">Probability</text>" in chart and ">Outcome x</text>" in chart
    assert "<figcaption>" in html
    assert "<script" not in html


def test_result_page_shows_answers_expected_values_and_model_answer(client: TestClient) -> None:
    html = client.get(answer(client, loss_b="0.05")).text
    assert '<li class="part wrong" id="result-loss_b">' in html
    part = section(html, 'id="result-loss_b"', "</li>")
    assert "✗ Incorrect" in part
    assert "<dd>0.05</dd>" in part
    assert f"<dd>{kl(P, QB):.4g}</dd>" in part
    reasoning = section(html, 'id="result-reasoning"', "</li>")
    assert "Awaiting an instructor" in reasoning
    assert "A is closer." in reasoning
    assert "Model answer" in reasoning and "mimics the teacher better" in reasoning
    assert "Worked solution" in html and "<math" in section(html, "Worked solution", "term by term")


def test_result_page_links_to_try_again_and_back(client: TestClient) -> None:
    html = client.get(answer(client)).text
    assert f'href="{CARD}?seed=0"' in html
    assert 'href="/"' in html
    assert "New variant" not in html  # a fixed card has no other variants


def test_drawn_card_result_offers_a_new_variant(client: TestClient) -> None:
    page = client.get("/cards/compare-two-students?seed=7").text
    keys = re.findall(r'<input type="text" id="part-(\w+)" name="\1"', page)
    data = {"seed": "7", "csrf_token": form_csrf_token(page), **{key: "0.1" for key in keys}}
    response = client.post("/cards/compare-two-students", data=data, follow_redirects=False)
    assert response.status_code == 303
    html = client.get(response.headers["location"]).text
    assert 'href="/cards/compare-two-students?seed=7"' in html
    assert re.search(r'href="/cards/compare-two-students\?seed=\d+">New variant', html)


def test_infinite_terms_show_as_infinity(client: TestClient) -> None:
    html = client.get(answer(client, "/cards/infinite-kl-support", seed="0", forward="1", reverse="1")).text
    table = section(html, "The terms of KL(P ‖ Q)", "</table>")
    assert '<td class="num">∞</td>' in section(table, '<th scope="row">cherry</th>', "</tr>")
    assert "The sum is infinite (∞)" in html


def test_another_guests_submission_is_not_found(client: TestClient, make_client: Callable[[], TestClient]) -> None:
    location = answer(client)
    stranger = make_client()
    stranger.get("/")  # a guest with a cookie of their own
    response = stranger.get(location)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Score" not in response.text
    assert make_client().get(location).status_code == 404  # no cookie at all


# --- progress --------------------------------------------------------------------------------------------


def test_progress_lists_submissions_newest_first(client: TestClient) -> None:
    assert "not answered any cards yet" in client.get("/progress").text
    first = answer(client, loss_b="0.05")
    second = answer(client)
    html = client.get("/progress").text
    links = re.findall(r'href="(/submissions/\d+)"', html)
    assert links == [second, first]
    rows = re.findall(r"<tr>.*?</tr>", section(html, "<tbody>", "</tbody>"), re.S)
    assert "100%" in rows[0] and "Evaluating Student Model Performance" in rows[0]
    assert "67%" in rows[1]
    assert "Awaiting an instructor" in rows[0]
    assert "<time datetime=" in rows[0]


def test_progress_is_per_guest(client: TestClient, make_client: Callable[[], TestClient]) -> None:
    answer(client)
    assert "not answered any cards yet" in make_client().get("/progress").text


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/cards/no-such-card", "no published card called"),
        ("/submissions/999999", "no submission of yours"),
        ("/submissions/abc", "no submission of yours"),
        ("/submissions/99999999999999999999999", "no submission of yours"),
    ],
)
def test_unknown_things_get_a_404_page(client: TestClient, path: str, words: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert words in response.text
    assert 'href="/"' in response.text


@pytest.mark.parametrize(
    ("seed", "words"),
    [
        ("abc", "'abc' is not a whole number"),
        ("-1", "'-1' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
        (str(2**31), "is too large"),
        ("9" * 400, "is too large"),
    ],
)
def test_bad_seed_gets_a_clear_message(client: TestClient, seed: str, words: str) -> None:
    response = client.get(f"/cards/compare-two-students?seed={seed}")
    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"]
    assert words in unescape(response.text)
    assert 'href="/cards/compare-two-students"' in response.text


def test_posting_a_bad_seed_stores_nothing(client: TestClient) -> None:
    response = client.post(CARD, data={"seed": "x", "loss_a": "0.1"})
    assert response.status_code == 422
    assert "not a whole number" in response.text
    assert "not answered any cards yet" in client.get("/progress").text


def test_posting_to_an_unknown_card_is_not_found(client: TestClient) -> None:
    assert client.post("/cards/no-such-card", data={"seed": "0"}).status_code == 404


def test_unknown_address_gets_the_404_page_and_the_api_keeps_json(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "There is no page at this address" in response.text
    assert client.get("/api/v1/no/such/thing").headers["content-type"].startswith("application/json")


def test_a_form_without_its_seed_is_refused_with_a_page(client: TestClient) -> None:
    response = client.post(CARD, data={"loss_a": "0.0268"})
    assert response.status_code == 422
    assert "did not say which variant" in response.text
    assert "not answered any cards yet" in client.get("/progress").text
