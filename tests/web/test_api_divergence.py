"""The calculators: divergences term by term, infinite ones flagged, and the distillation loss."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

DIVERGENCE = "/api/v1/divergence"
DISTILLATION = "/api/v1/distillation-loss"
P, Q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]


def only_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert len(detail) == 1, detail
    entry: dict[str, Any] = detail[0]
    return entry


def softmax(logits: list[float], temperature: float = 1.0) -> list[float]:
    exps = [math.exp(z / temperature) for z in logits]
    return [e / sum(exps) for e in exps]


def test_kl_in_bits_matches_the_hand_value(client: TestClient) -> None:
    # KL([1/2, 1/2] ‖ [1/4, 3/4]) in bits: ½·log2(2) + ½·log2(2/3) = 1 − ½·log2(3).
    response = client.post(DIVERGENCE, json={"p": [0.5, 0.5], "q": [0.25, 0.75], "measure": "kl", "base": "2"})

    assert response.status_code == 200
    result = response.json()
    assert result["measure"] == "kl" and result["base"] == "2"
    assert result["value"] == pytest.approx(1 - 0.5 * math.log2(3), rel=1e-12)
    assert result["value"] == pytest.approx(0.2075187, abs=1e-7)
    assert result["infinite"] is False
    assert result["terms"] == [
        {"index": 0, "p": 0.5, "q": 0.25, "term": pytest.approx(0.5), "infinite": False},
        {"index": 1, "p": 0.5, "q": 0.75, "term": pytest.approx(0.5 * math.log2(2 / 3)), "infinite": False},
    ]


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("kl", sum(p * math.log(p / q) for p, q in zip(P, Q, strict=True))),
        ("reverse_kl", sum(q * math.log(q / p) for p, q in zip(P, Q, strict=True))),
        ("cross_entropy", -sum(p * math.log(q) for p, q in zip(P, Q, strict=True))),
        ("entropy", -sum(p * math.log(p) for p in P)),
        (
            "js",
            sum(
                0.5 * p * math.log(p / ((p + q) / 2)) + 0.5 * q * math.log(q / ((p + q) / 2))
                for p, q in zip(P, Q, strict=True)
            ),
        ),
    ],
)
def test_every_measure_in_nats_matches_its_formula(client: TestClient, measure: str, expected: float) -> None:
    response = client.post(DIVERGENCE, json={"p": P, "q": Q, "measure": measure})

    assert response.status_code == 200
    result = response.json()
    assert result["base"] == "e"
    assert result["value"] == pytest.approx(expected, rel=1e-12)
    assert sum(term["term"] for term in result["terms"]) == pytest.approx(expected, rel=1e-12)


def test_the_base_may_be_sent_as_a_number(client: TestClient) -> None:
    response = client.post(DIVERGENCE, json={"p": P, "q": Q, "base": 10})

    assert response.status_code == 200
    assert response.json()["base"] == "10"
    assert response.json()["value"] == pytest.approx(0.0268124542574 / math.log(10), rel=1e-9)


def test_entropy_needs_no_q(client: TestClient) -> None:
    response = client.post(DIVERGENCE, json={"p": [0.5, 0.25, 0.25], "measure": "entropy", "base": "2"})

    assert response.status_code == 200
    result = response.json()
    assert result["value"] == pytest.approx(1.5)
    assert [term["q"] for term in result["terms"]] == [None, None, None]


def test_an_infinite_kl_is_null_and_flagged_not_an_error(client: TestClient) -> None:
    response = client.post(DIVERGENCE, json={"p": [0.5, 0.5, 0.0], "q": [1.0, 0.0, 0.0]})

    assert response.status_code == 200
    result = response.json()
    assert result["value"] is None
    assert result["infinite"] is True
    assert result["terms"][0] == {"index": 0, "p": 0.5, "q": 1.0, "term": pytest.approx(0.5 * math.log(0.5)),
                                  "infinite": False}
    assert result["terms"][1] == {"index": 1, "p": 0.5, "q": 0.0, "term": None, "infinite": True}
    assert result["terms"][2] == {"index": 2, "p": 0.0, "q": 0.0, "term": 0.0, "infinite": False}  # 0·log 0 = 0


def test_a_divergence_of_10000_entries_is_computed(client: TestClient) -> None:
    uniform = [1 / 10_000] * 10_000

    response = client.post(DIVERGENCE, json={"p": uniform, "q": uniform})

    assert response.status_code == 200
    assert response.json()["value"] == pytest.approx(0.0, abs=1e-12)
    assert len(response.json()["terms"]) == 10_000


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"p": [0.5, 0.5], "q": [0.2, 0.3, 0.5]}, "q", "shape"),
        ({"p": [1.2, -0.2], "q": [0.5, 0.5]}, "p", "cannot be negative"),
        ({"p": [0.5, 0.4], "q": [0.5, 0.5]}, "p", "sums to 0.9"),
        ({"p": [0.5, 0.5], "q": [0.5, 0.6]}, "q", "sums to 1.1"),
        ({"p": [], "q": [1.0]}, "p", "needs at least 1 entry"),
        ({"p": [0.5, 0.5]}, "q", "is required"),
        ({"p": [0.5, "half"], "q": [0.5, 0.5]}, "p[1]", "valid number"),
        ({"p": [0.0001] * 10_001, "q": [0.5, 0.5]}, "p", "at most 10,000"),
        ({"p": [0.5, 0.5], "q": [0.5, 0.5], "measure": "hellinger"}, "measure", "'kl'"),
        ({"p": [0.5, 0.5], "q": [0.5, 0.5], "base": "3"}, "base", "'e', '2' or '10'"),
        ({"p": [0.5, 0.5], "q": [0.5, 0.5], "base": 3}, "base", "'e', '2' or '10'"),
        ({"p": [0.5, 0.5], "q": [0.5, 0.5], "bsae": "2"}, "bsae", "not a known field"),
    ],
)
def test_invalid_distributions_are_422s_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str, words: str
) -> None:
    error = only_error(client.post(DIVERGENCE, json=body))

    assert error["field"] == field
    assert words in error["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_nan_and_infinite_entries_are_refused(client: TestClient, literal: str) -> None:
    body = f'{{"p": [0.5, {literal}], "q": [0.5, 0.5]}}'

    error = only_error(client.post(DIVERGENCE, content=body, headers={"content-type": "application/json"}))

    assert error["field"] == "p"
    assert "finite number" in error["message"]


def test_a_malformed_json_body_is_a_422(client: TestClient) -> None:
    response = client.post(DIVERGENCE, content='{"p": [0.5, 0.5', headers={"content-type": "application/json"})

    error = only_error(response)
    assert error["field"] == "body"
    assert "not valid JSON" in error["message"]


def test_the_distillation_loss_and_its_components_match_the_formula(client: TestClient) -> None:
    teacher, student, label, alpha, temperature = [4.0, 1.0, 0.5], [2.5, 1.5, 0.5], 0, 0.7, 2.0
    p, q = softmax(teacher, temperature), softmax(student, temperature)
    kl = sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))
    ce = -math.log(softmax(student)[label])

    response = client.post(
        DISTILLATION,
        json={
            "teacher_logits": teacher,
            "student_logits": student,
            "label": label,
            "alpha": alpha,
            "temperature": temperature,
        },
    )

    assert response.status_code == 200
    result = response.json()
    assert result["kl"] == pytest.approx(kl, rel=1e-12)
    assert result["kd"] == pytest.approx(temperature**2 * kl, rel=1e-12)
    assert result["ce"] == pytest.approx(ce, rel=1e-12)
    assert result["total"] == pytest.approx(alpha * temperature**2 * kl + (1 - alpha) * ce, rel=1e-12)
    assert result["infinite"] is False
    assert (result["alpha"], result["temperature"], result["base"]) == (alpha, temperature, "e")
    assert result["teacher_probs"] == pytest.approx(p, rel=1e-12)
    assert result["student_probs"] == pytest.approx(q, rel=1e-12)
    assert result["student_probs_t1"] == pytest.approx(softmax(student), rel=1e-12)


def test_soft_labels_give_the_cross_entropy_against_them(client: TestClient) -> None:
    student, labels = [1.0, 2.0, 3.0], [0.2, 0.3, 0.5]
    ce = -sum(y * math.log(s) for y, s in zip(labels, softmax(student), strict=True))

    response = client.post(
        DISTILLATION,
        json={"teacher_logits": [1.0, 2.0, 3.0], "student_logits": student, "labels": labels, "alpha": 0.0,
              "temperature": 1.0},
    )

    assert response.status_code == 200
    assert response.json()["ce"] == pytest.approx(ce, rel=1e-12)
    assert response.json()["kl"] == pytest.approx(0.0, abs=1e-15)
    assert response.json()["total"] == pytest.approx(ce, rel=1e-12)


GOOD_LOSS: dict[str, Any] = {
    "teacher_logits": [4.0, 1.0, 0.5],
    "student_logits": [2.5, 1.5, 0.5],
    "label": 0,
    "alpha": 0.5,
    "temperature": 2.0,
}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"alpha": 1.5}, "alpha", "less than or equal to 1"),
        ({"alpha": -0.1}, "alpha", "greater than or equal to 0"),
        ({"temperature": 0}, "temperature", "greater than 0"),
        ({"temperature": -2}, "temperature", "greater than 0"),
        ({"label": 3}, "label", "from 0 to 2"),
        ({"label": -1}, "label", "greater than or equal to 0"),
        ({"label": None}, "label", "neither was given"),
        ({"labels": [0.5, 0.5, 0.0]}, "label", "both were given"),
        ({"label": None, "labels": [0.5, 0.6, 0.0]}, "labels", "sums to 1.1"),
        ({"label": None, "labels": [0.5, 0.5]}, "labels", "shape"),
        ({"student_logits": [1.0, 2.0]}, "student_logits", "shape"),
        ({"teacher_logits": [1.0] * 10_001}, "teacher_logits", "at most 10,000"),
        ({"base": "ten"}, "base", "'e', '2' or '10'"),
    ],
)
def test_invalid_distillation_inputs_are_422s_naming_the_field(
    client: TestClient, changes: dict[str, Any], field: str, words: str
) -> None:
    error = only_error(client.post(DISTILLATION, json={**GOOD_LOSS, **changes}))

    assert error["field"] == field
    assert words in error["message"]


def test_an_underflowing_student_gives_an_infinite_loss_not_an_error(client: TestClient) -> None:
    body = {**GOOD_LOSS, "teacher_logits": [0.0, 1000.0], "student_logits": [1000.0, 0.0], "label": 1,
            "alpha": 0.5, "temperature": 1.0}

    response = client.post(DISTILLATION, json=body)

    assert response.status_code == 200
    result = response.json()
    assert result["infinite"] is True
    assert result["kl"] is None and result["kd"] is None and result["total"] is None


def test_a_body_too_large_to_read_is_a_413_in_the_same_shape(client: TestClient) -> None:
    body = b'{"p": [' + b"0.0001," * 400_000 + b'0.5], "q": [1.0]}'  # 2.8 MB

    response = client.post(DIVERGENCE, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.json() == {
        "detail": [{"field": None, "message": "the request body is larger than 1,000,000 bytes"}]
    }


def test_a_chunked_body_too_large_is_refused_as_well(client: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"p": ['
        for _ in range(400):
            yield b"0.0001," * 1_000
        yield b'0.5], "q": [1.0]}'

    response = client.post(DIVERGENCE, content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.json()["detail"][0]["field"] is None
