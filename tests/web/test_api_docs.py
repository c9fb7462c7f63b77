"""The API documents itself at /docs: every endpoint, every request body with an example to try."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_the_openapi_document_lists_every_endpoint_with_examples(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Distill Tutor"
    assert document["info"]["version"]
    paths = document["paths"]
    assert {
        "/healthz": {"get"},
        "/api/v1/cards": {"get", "post"},
        "/api/v1/cards/{slug}": {"get", "put", "delete"},
        "/api/v1/cards/{slug}/spec": {"get"},
        "/api/v1/cards/{slug}/preview": {"get"},
        "/api/v1/cards/{slug}/publish": {"post"},
        "/api/v1/cards/{slug}/unpublish": {"post"},
        "/api/v1/cards/{slug}/versions": {"get"},
        "/api/v1/cards/{slug}/variant": {"get"},
        "/api/v1/cards/{slug}/submissions": {"post"},
        "/api/v1/submissions": {"get"},
        "/api/v1/submissions/{submission_id}": {"get"},
        "/api/v1/divergence": {"post"},
        "/api/v1/distillation-loss": {"post"},
        "/api/v1/session": {"get"},
        "/api/v1/decks": {"get", "post"},
        "/api/v1/decks/{slug}": {"get", "put"},
        "/api/v1/decks/{slug}/cards/{card_slug}/submissions": {"post"},
        "/api/v1/decks/{slug}/export": {"get"},
        "/api/v1/cards/{slug}/stats": {"get"},
        "/api/v1/decks/{slug}/stats": {"get"},
        "/api/v1/decks/{slug}/gradebook": {"get"},
        "/api/v1/grading/queue": {"get"},
        "/api/v1/submissions/{submission_id}/parts/{key}/grade": {"post"},
        "/api/v1/learners": {"get"},
        "/api/v1/webhooks": {"get", "post"},
        "/api/v1/webhooks/{webhook_id}": {"delete"},
    } == {path: set(methods) for path, methods in paths.items() if path.startswith(("/api", "/healthz"))}
    schemas = document["components"]["schemas"]
    for name in ("SubmissionCreate", "DivergenceRequest", "DistillationLossRequest", "WebhookCreate", "LearnerPublic"):
        assert schemas[name]["examples"], name
    created = paths["/api/v1/cards/{slug}/submissions"]["post"]["responses"]
    assert set(created) >= {"201", "404", "422"}
    assert created["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    # The pages are not part of the API's description.
    assert not [path for path in paths if not path.startswith(("/api", "/healthz"))]


def test_the_documentation_page_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_the_examples_are_valid_requests(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    divergence = client.post("/api/v1/divergence", json=schemas["DivergenceRequest"]["examples"][0])
    loss = client.post("/api/v1/distillation-loss", json=schemas["DistillationLossRequest"]["examples"][0])
    submission = client.post(
        "/api/v1/cards/evaluate-student-models/submissions", json=schemas["SubmissionCreate"]["examples"][0]
    )

    assert divergence.status_code == 200
    assert loss.status_code == 200
    assert submission.status_code == 201
    assert submission.json()["score"] == 1.0


def test_the_docs_page_needs_no_network(client: TestClient) -> None:
    """Swagger UI comes from the app's own static files, so /docs works on a machine with no internet."""
    html = client.get("/docs").text
    vendor = "/static/vendor/swagger-ui"
    assets = [f"{vendor}/swagger-ui.css", f"{vendor}/swagger-ui-bundle.js", "/static/docs.js"]
    for asset in assets:
        assert asset in html
        assert client.get(asset).status_code == 200
    assert "https://" not in html and "<script>" not in html  # nothing remote, nothing inline
