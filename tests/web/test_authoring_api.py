"""The authoring API: create, edit as versions, read the spec, preview with answers, publish, archive, refuse."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from accounts_support import MakeUser, UserClient
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.services.spec_yaml import MAX_SPEC_BYTES, dump_yaml
from app.services.tokens import create_token

CARD: dict[str, Any] = {
    "slug": "api-card",
    "title": "Two students",
    "tags": ["kl-divergence"],
    "params": {"P": [0.7, 0.2, 0.1], "QA": [0.6, 0.3, 0.1], "QB": {"dirichlet": [6, 2, 1], "decimals": 2}},
    "prompt": "P = {{ P }}, Q_A = {{ QA }}, Q_B = {{ QB }}",
    "parts": [
        {"key": "loss_a", "kind": "numeric", "label": "KL(P‖Q_A)", "answer": "kl(P, QA)"},
        {
            "key": "better",
            "kind": "choice",
            "label": "Which is closer?",
            "choices": ["A", "B"],
            "answer": "'A' if kl(P, QA) < kl(P, QB) else 'B'",
        },
        {"key": "why", "kind": "text", "label": "Why?", "model_answer": "The smaller KL."},
    ],
    "solution": "{{ kl(P, QA) | fmt }}",
    "constraints": ["abs(kl(P, QA) - kl(P, QB)) > 0.01"],
}
YAML = {"Content-Type": "application/yaml"}


def card(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(CARD)), **changes}


def create(client: TestClient, data: dict[str, Any] | None = None) -> Any:
    response = client.post("/api/v1/cards", json=data or card())
    assert response.status_code == 201, response.text
    return response.json()


def test_create_then_edit_makes_versions(instructor_client: UserClient) -> None:
    response = instructor_client.post("/api/v1/cards", json=card())

    assert response.status_code == 201
    created = response.json()
    assert {key: created[key] for key in ("slug", "status", "version", "owner", "builtin", "new_version")} == {
        "slug": "api-card",
        "status": "draft",
        "version": 1,
        "owner": instructor_client.user.email,
        "builtin": False,
        "new_version": True,
    }
    assert response.headers["location"] == "/api/v1/cards/api-card/spec"

    edited = instructor_client.put("/api/v1/cards/api-card", json=card(title="Revised"))
    same = instructor_client.put("/api/v1/cards/api-card", json=card(title="Revised"))

    assert (edited.status_code, edited.json()["version"], edited.json()["new_version"]) == (200, 2, True)
    assert (same.json()["version"], same.json()["new_version"]) == (2, False)
    versions = instructor_client.get("/api/v1/cards/api-card/versions").json()
    assert [(v["number"], v["author"], v["current"]) for v in versions] == [
        (2, instructor_client.user.email, True),
        (1, instructor_client.user.email, False),
    ]


def test_a_yaml_body_is_read_as_yaml(instructor_client: UserClient) -> None:
    response = instructor_client.post("/api/v1/cards", content=dump_yaml(card()), headers=YAML)

    assert response.status_code == 201, response.text
    assert response.json()["slug"] == "api-card"


def test_the_spec_comes_back_as_json_or_yaml_and_saves_unchanged(instructor_client: UserClient) -> None:
    create(instructor_client)

    as_json = instructor_client.get("/api/v1/cards/api-card/spec")
    as_yaml = instructor_client.get("/api/v1/cards/api-card/spec", headers={"Accept": "application/yaml"})

    assert as_json.status_code == 200
    spec = as_json.json()
    assert spec["parts"][2] == {
        "key": "why",
        "kind": "text",
        "label": "Why?",
        "model_answer": "The smaller KL.",
        "weight": 1.0,
    }
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text) == {**spec}
    assert instructor_client.put("/api/v1/cards/api-card", json=spec).json()["new_version"] is False
    again = instructor_client.put("/api/v1/cards/api-card", content=as_yaml.text, headers=YAML)
    assert again.json()["new_version"] is False


def test_an_old_submission_stays_on_its_version(instructor_client: UserClient, learner_client: UserClient) -> None:
    create(instructor_client)
    assert instructor_client.post("/api/v1/cards/api-card/publish").json()["status"] == "published"
    variant = learner_client.get("/api/v1/cards/api-card/variant", params={"seed": 3}).json()
    assert variant["version"] == 1
    submitted = learner_client.post(
        "/api/v1/cards/api-card/submissions", json={"seed": 3, "answers": {"loss_a": "0.0268", "better": "A"}}
    )
    assert submitted.status_code == 201, submitted.text

    instructor_client.put("/api/v1/cards/api-card", json=card(title="Revised"))

    old = learner_client.get(f"/api/v1/submissions/{submitted.json()['id']}").json()
    assert (old["card_version"], old["title"]) == (1, "Two students")
    assert learner_client.get("/api/v1/cards/api-card").json()["version"] == 2


def test_an_invalid_spec_lists_every_problem_with_its_line(instructor_client: UserClient) -> None:
    text = dump_yaml(card())
    text = text.replace("answer: kl(P, QA)", "answer: kl(P, QC)").replace("label: Why?", "label: Why?\n    answr: 1")
    lines = text.splitlines()
    answer_line = next(i for i, line in enumerate(lines, 1) if "kl(P, QC)" in line)
    typo_line = next(i for i, line in enumerate(lines, 1) if "answr" in line)

    response = instructor_client.post("/api/v1/cards", content=text, headers=YAML)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["field"], d["line"]) for d in detail] == [
        ("parts[0].answer", answer_line),
        ("parts[2].answr", typo_line),
    ]
    assert "unknown name 'QC'" in detail[0]["message"]
    assert "did you mean 'answer'?" in detail[1]["message"]
    assert instructor_client.get("/api/v1/cards/api-card/spec").status_code == 404


def test_a_yaml_syntax_error_names_its_line(instructor_client: UserClient) -> None:
    text = "slug: api-card\ntitle: Two students\nparams:\n  P: [0.7, 0.3\nprompt: x\n"

    response = instructor_client.post("/api/v1/cards", content=text, headers=YAML)

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["field"], problem["line"]) == ("yaml", 5)
    assert problem["message"].startswith("not valid YAML")


def test_a_json_spec_gets_lines_too(instructor_client: UserClient) -> None:
    body = json.dumps(
        card(parts=[{"key": "x", "kind": "numeric", "label": "x", "answer": "().__class__.__mro__"}]), indent=2
    )
    line = next(i for i, text in enumerate(body.splitlines(), 1) if "__mro__" in text)

    response = instructor_client.post("/api/v1/cards", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "parts[0].answer",
            "line": line,
            "message": "attribute access ('.__mro__') is not allowed; use P[0] or a function",
        }
    ]


def test_limits_are_refused_with_a_message(instructor_client: UserClient) -> None:
    huge = card(solution="x" * MAX_SPEC_BYTES)
    many = card(parts=[{"key": f"p{i}", "kind": "numeric", "label": "x", "answer": "1"} for i in range(21)])

    too_big = instructor_client.post("/api/v1/cards", json=huge)
    too_many = instructor_client.post("/api/v1/cards", json=many)

    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["field"] == "spec"
    assert "64 KB" in too_big.json()["detail"][0]["message"]
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["message"] == "needs a list of 1 to 20 parts, not 21"


def test_a_body_that_is_neither_json_nor_yaml_is_refused(instructor_client: UserClient) -> None:
    response = instructor_client.post("/api/v1/cards", content=b"slug", headers={"Content-Type": "text/csv"})

    assert response.status_code == 415
    assert response.json()["detail"][0]["field"] == "content-type"


def test_the_slug_is_the_cards_for_good(instructor_client: UserClient) -> None:
    create(instructor_client)

    taken = instructor_client.post("/api/v1/cards", json=card())
    renamed = instructor_client.put("/api/v1/cards/api-card", json=card(slug="other-card"))

    assert taken.status_code == 422
    assert taken.json()["detail"][0]["field"] == "slug"
    assert renamed.status_code == 422
    assert "cannot change" in renamed.json()["detail"][0]["message"]


def test_preview_has_the_answers(instructor_client: UserClient, learner_client: UserClient) -> None:
    create(instructor_client)

    preview = instructor_client.get("/api/v1/cards/api-card/preview", params={"seed": 5})

    assert preview.status_code == 200
    body = preview.json()
    p, qa = body["params"]["P"], body["params"]["QA"]
    assert body["answers"]["loss_a"] == pytest.approx(sum(x * math.log(x / y) for x, y in zip(p, qa, strict=True)))
    assert body["answers"]["better"] in ("A", "B")
    assert body["answers"]["why"] is None
    assert body["model_answers"] == {"why": "The smaller KL."}
    assert (body["seed"], body["version"], body["status"]) == (5, 1, "draft")
    instructor_client.post("/api/v1/cards/api-card/publish")
    variant = learner_client.get("/api/v1/cards/api-card/variant", params={"seed": 5}).json()
    assert "answers" not in variant and "solution" not in variant
    assert variant["params"] == body["params"]


def test_publish_unpublish_and_archive(instructor_client: UserClient, learner_client: UserClient) -> None:
    create(instructor_client)

    def listed() -> bool:
        return "api-card" in [c["slug"] for c in learner_client.get("/api/v1/cards").json()]

    assert not listed()
    instructor_client.post("/api/v1/cards/api-card/publish")
    assert listed()
    submitted = learner_client.post(
        "/api/v1/cards/api-card/submissions", json={"seed": 0, "answers": {"loss_a": "0.03", "better": "A"}}
    ).json()
    assert instructor_client.post("/api/v1/cards/api-card/unpublish").json()["status"] == "draft"
    assert not listed()

    archived = instructor_client.delete("/api/v1/cards/api-card")

    assert (archived.status_code, archived.json()["status"]) == (200, "archived")
    assert not listed()
    assert learner_client.get("/api/v1/cards/api-card").status_code == 404
    assert learner_client.get(f"/api/v1/submissions/{submitted['id']}").status_code == 200
    assert [s["id"] for s in learner_client.get("/api/v1/submissions").json()] == [submitted["id"]]


# --- who may do what ----------------------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str]] = [
    ("POST", "/api/v1/cards"),
    ("PUT", "/api/v1/cards/api-card"),
    ("GET", "/api/v1/cards/api-card/spec"),
    ("GET", "/api/v1/cards/api-card/preview"),
    ("POST", "/api/v1/cards/api-card/publish"),
    ("POST", "/api/v1/cards/api-card/unpublish"),
    ("DELETE", "/api/v1/cards/api-card"),
    ("GET", "/api/v1/cards/api-card/versions"),
]


def send(client: TestClient, method: str, path: str) -> Any:
    body = {"json": card()} if method in ("POST", "PUT") and not path.endswith("publish") else {}
    return client.request(method, path, **body)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_learners_get_403_everywhere(
    instructor_client: UserClient, learner_client: UserClient, method: str, path: str
) -> None:
    create(instructor_client)
    instructor_client.post("/api/v1/cards/api-card/publish")

    response = send(learner_client, method, path)

    assert response.status_code == 403, response.text
    assert instructor_client.get("/api/v1/cards/api-card/versions").json()[0]["number"] == 1


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_guests_get_401(instructor_client: UserClient, client: TestClient, method: str, path: str) -> None:
    create(instructor_client)

    response = send(client, method, path)

    assert response.status_code == 401, response.text


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if e != ("POST", "/api/v1/cards")])
def test_another_instructor_gets_403_on_a_draft(
    instructor_client: UserClient, user_client: Callable[[str], UserClient], method: str, path: str
) -> None:
    create(instructor_client)
    other = user_client("instructor")

    response = send(other, method, path)

    assert response.status_code == 403, response.text
    assert response.json()["detail"][0]["message"]


def test_another_instructor_reads_a_published_card_but_cannot_change_it(
    instructor_client: UserClient, user_client: Callable[[str], UserClient]
) -> None:
    create(instructor_client)
    instructor_client.post("/api/v1/cards/api-card/publish")
    other = user_client("instructor")

    assert other.get("/api/v1/cards/api-card/preview").status_code == 200
    assert other.get("/api/v1/cards/api-card/spec").status_code == 200
    refused = other.put("/api/v1/cards/api-card", json=card(title="Mine now"))
    assert refused.status_code == 403
    assert "only its owner" in refused.json()["detail"][0]["message"]
    assert other.delete("/api/v1/cards/api-card").status_code == 403


def test_admins_edit_built_in_cards_and_instructors_cannot(
    admin_client: UserClient, instructor_client: UserClient
) -> None:
    spec = admin_client.get("/api/v1/cards/evaluate-student-models/spec").json()
    spec["title"] = "Evaluating students, revised"

    refused = instructor_client.put("/api/v1/cards/evaluate-student-models", json=spec)
    saved = admin_client.put("/api/v1/cards/evaluate-student-models", json=spec)

    assert refused.status_code == 403
    assert "built-in" in refused.json()["detail"][0]["message"]
    assert saved.status_code == 200
    assert (saved.json()["version"], saved.json()["owner"], saved.json()["builtin"]) == (2, None, True)


def test_an_unknown_card_is_404(instructor_client: UserClient) -> None:
    for method, path in ENDPOINTS[1:]:
        response = send(instructor_client, method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == [{"field": "slug", "message": "no card 'api-card'"}]


def test_a_bearer_token_needs_the_cards_write_scope(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user("instructor")
    with app.state.sessionmaker() as session:
        writer = create_token(session=session, user=user, name="authoring").secret
        reader = create_token(session=session, user=user, name="read only", scopes=["read"]).secret
    client = TestClient(app)

    refused = client.post("/api/v1/cards", json=card(), headers={"Authorization": f"Bearer {reader}"})
    created = client.post("/api/v1/cards", json=card(), headers={"Authorization": f"Bearer {writer}"})
    read = client.get("/api/v1/cards/api-card/spec", headers={"Authorization": f"Bearer {reader}"})

    assert refused.status_code == 403
    assert "cards:write" in refused.json()["detail"][0]["message"]
    assert created.status_code == 201  # no CSRF token: a bearer request needs none
    assert read.status_code == 200


def test_a_cookie_request_without_the_csrf_token_is_refused(instructor_client: UserClient) -> None:
    del instructor_client.headers["X-CSRF-Token"]

    response = instructor_client.post("/api/v1/cards", json=card())

    assert response.status_code == 403
    assert instructor_client.get("/api/v1/cards/api-card/spec").status_code == 404


def test_the_openapi_document_describes_the_authoring_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    create_doc = paths["/api/v1/cards"]["post"]
    assert set(create_doc["requestBody"]["content"]) == {"application/json", "application/yaml"}
    assert create_doc["requestBody"]["content"]["application/json"]["example"]["slug"]
    assert create_doc["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SpecErrorResponse"
    )
    assert set(paths["/api/v1/cards/{slug}"]) == {"get", "put", "delete"}
    for path in ("/api/v1/cards/{slug}/spec", "/api/v1/cards/{slug}/preview", "/api/v1/cards/{slug}/versions"):
        assert "get" in paths[path]
    for path in ("/api/v1/cards/{slug}/publish", "/api/v1/cards/{slug}/unpublish"):
        assert "403" in paths[path]["post"]["responses"]


def test_the_documented_examples_are_valid_specs(instructor_client: UserClient) -> None:
    document = instructor_client.get("/openapi.json").json()
    content = document["paths"]["/api/v1/cards"]["post"]["requestBody"]["content"]

    from_json = instructor_client.post("/api/v1/cards", json=content["application/json"]["example"])
    from_yaml = instructor_client.put(
        "/api/v1/cards/two-students", content=content["application/yaml"]["example"], headers=YAML
    )

    assert from_json.status_code == 201, from_json.text
    assert from_yaml.status_code == 200, from_yaml.text
    assert from_yaml.json()["version"] == 2
