"""The API's description is complete: every /api/v1 operation has a summary, a description, a typed success,
an example for each body it takes and gives, an example for each error, and the headers it sends.

Every example is checked against the very schema the document gives for it, so the examples cannot drift
from the models; the request examples of the submission routes are also sent to the app, which takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.db.models import User
from app.main import API_PREFIX, create_app
from app.services.tokens import create_token
from app.web.api.examples import EXAMPLES

METHODS = {"get", "put", "post", "delete", "patch"}
Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document as served (it does not depend on the database, so one app on SQLite serves for all)."""
    folder = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        _env_file=None, database_url=f"sqlite:///{folder / 'unused.db'}", secret_key="k", secret_key_file=folder / "k"
    )
    app = create_app(settings)
    response = TestClient(app).get("/openapi.json")
    app.state.engine.dispose()
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, methods in document["paths"].items():
        if path.startswith(API_PREFIX):
            for method, operation in methods.items():
                if method in METHODS:
                    yield method.upper(), path, operation


def check(document: dict[str, Any], schema: dict[str, Any], example: Any, where: str) -> None:
    """``example`` is valid for ``schema``, references resolved against the document's components."""
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
    errors = [f"{error.instance_path}: {error.message}" for error in validator.iter_errors(example)]
    assert not errors, f"{where}: {errors[:3]}"


def examples_of(content: dict[str, Any]) -> list[Any]:
    if "example" in content:
        return [content["example"]]
    return [named["value"] for named in content.get("examples", {}).values()]


def test_every_operation_has_a_summary_a_description_and_a_success_with_a_schema(document: dict[str, Any]) -> None:
    found = list(operations(document))

    assert len(found) >= 30
    for method, path, operation in found:
        where = f"{method} {path}"
        assert operation.get("summary"), where
        assert operation.get("description"), where
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert successes, where
        for code, response in successes.items():
            if code == "204":
                assert "content" not in response, where
                continue
            assert response.get("content"), where
            for media, content in response["content"].items():
                assert content.get("schema"), f"{where} {code} {media}"


def test_every_body_sent_or_received_has_an_example_valid_for_its_schema(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        body = operation.get("requestBody")
        if body is not None:
            content = body["content"]["application/json"]
            assert examples_of(content), f"{where}: no request example"
            for example in examples_of(content):
                check(document, content["schema"], example, f"{where} request")
        for code, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                if media != "application/json" and not code.startswith("2"):
                    continue
                if content["schema"].get("format") == "binary":
                    continue  # a file (a zip): nothing to show as text
                found = examples_of(content)
                assert found, f"{where} {code} {media}: no example"
                for example in found:
                    if media == "application/json":
                        check(document, content["schema"], example, f"{where} {code}")
                    else:
                        assert isinstance(example, str), f"{where} {code} {media}"


def test_errors_are_documented_with_the_one_error_shape(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            if code.startswith("2"):
                continue
            where = f"{method} {path} {code}"
            assert code.isdigit() and 400 <= int(code) < 600, where
            assert response.get("description"), where
            [example] = examples_of(response["content"]["application/json"])
            assert example["detail"] and all(set(item) >= {"field", "message"} for item in example["detail"]), where


def test_lists_document_their_paging_and_writes_their_headers(document: dict[str, Any]) -> None:
    paged = []
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        names = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
        if ("query", "cursor") in names:
            paged.append(path)
            assert ("query", "limit") in names, where
            assert {"Link", "X-Next-Cursor"} <= set(operation["responses"]["200"].get("headers", {})), where
        if ("header", "Idempotency-Key") in names:
            [success] = [r for code, r in operation["responses"].items() if code.startswith("2")]
            assert {"Location", "Idempotent-Replayed"} <= set(success["headers"]), where
    # Every list the API has: none is returned whole.
    assert {
        "/api/v1/cards",
        "/api/v1/decks",
        "/api/v1/submissions",
        "/api/v1/learners",
        "/api/v1/webhooks",
        "/api/v1/grading/queue",
        "/api/v1/cards/{slug}/versions",
    } <= set(paged)
    for method, path, operation in operations(document):
        schema = next(
            (
                r["content"]["application/json"]["schema"]
                for c, r in operation["responses"].items()
                if c == "200" and "application/json" in r.get("content", {})
            ),
            {},
        )
        if method == "GET" and schema.get("type") == "array":
            assert path in paged, f"{path} returns a list without pages"


def test_an_operation_that_takes_no_input_documents_no_422(document: dict[str, Any]) -> None:
    assert "422" not in document["paths"]["/api/v1/session"]["get"]["responses"]


def test_every_catalogue_entry_is_an_operation(document: dict[str, Any]) -> None:
    names = {operation["operationId"].split("_api_v1_")[0] for _, _, operation in operations(document)}

    assert set(EXAMPLES) <= names, set(EXAMPLES) - names


def test_the_documented_submissions_are_taken_by_the_app(
    document: dict[str, Any], app: FastAPI, make_user: Callable[..., User]
) -> None:
    with app.state.sessionmaker() as session:
        admin = session.get(User, make_user("admin").id)
        assert admin is not None
        secret = create_token(session=session, user=admin, name="lms", scopes=None).secret
    content = document["paths"]["/api/v1/cards/{slug}/submissions"]["post"]["requestBody"]["content"]
    client = TestClient(app, headers={"Authorization": f"Bearer {secret}"})

    for name, example in content["application/json"]["examples"].items():
        response = client.post("/api/v1/cards/evaluate-student-models/submissions", json=example["value"])

        assert response.status_code == 201, (name, response.text)
