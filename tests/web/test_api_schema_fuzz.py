"""Schemathesis against ``/openapi.json``: every operation, schema-valid and schema-breaking input alike.

Each operation is a test of its own with a bounded number of generated requests (``FUZZ_EXAMPLES`` per
generation mode, positive and negative), sent through the ASGI app on a migrated SQLite database with the
built-in cards, authenticated by an admin's API token so that every route is reached. A response must never be
a 5xx, must have a status the operation documents, the documented content type and a body that matches its
schema; input that breaks the schema must be refused with a 4xx. Random slugs and ids would only ever meet a
404, so path parameters are drawn from the cards, decks, submissions and webhooks that exist most of the time,
and from the generated values otherwise. A stateful test then chains calls along the links schemathesis infers.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks as schemathesis_checks
from schemathesis.core.parameters import ParameterLocation

from app.config import Settings
from app.db.migrate import upgrade
from app.main import create_app
from app.services.accounts import create_user
from app.services.bank import load_cards
from app.services.tokens import create_token

# Per operation and generation mode; 20 keeps the whole run near half a minute on two cores. The same examples
# every run, so a failure in CI is one that reproduces; FUZZ_RANDOM=1 explores afresh (FUZZ_EXAMPLES=500, say).
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
)
schemathesis_checks.load_all_checks()
CHECKS = [schemathesis_checks.CHECKS.get_one(name) for name in CHECK_NAMES]


def openapi_document() -> dict[str, Any]:
    """The app's document, built without touching a database (the engine of an in-memory URL is never used)."""
    app = create_app(Settings(_env_file=None, database_url="sqlite://", secret_key="openapi-only"))
    try:
        return app.openapi()
    finally:
        app.state.http_client.close()
        app.state.engine.dispose()


@dataclass(frozen=True)
class World:
    """The app under test, a token to send, and the slugs and ids that exist, by path parameter name."""

    app: FastAPI
    settings: Settings
    database: Path
    token: str
    path_values: dict[str, list[Any]]


def _answer(part: dict[str, Any]) -> Any:
    if part["kind"] == "numeric":
        return "0.1"
    if part["kind"] == "choice":
        return part["choices"][0]
    if part["kind"] == "multi":
        return part["choices"][:1]
    return "Student A, because its KL divergence is lower."


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app for every operation: what one request creates or deletes, the next ones may meet."""
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'tutor.db'}"
    upgrade(url)
    settings = Settings(
        _env_file=None, database_url=url, secret_key="fuzz", secret_key_file=folder / "key", outbox_interval=0
    )
    app = create_app(settings)
    with app.state.sessionmaker() as session:
        load_cards(session=session, path=settings.bank_dir)
        admin = create_user(session=session, email="admin@example.org", password="a long enough password", role="admin")
        token = create_token(session=session, user=admin, name="schema fuzz").secret
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        card_slugs = [card["slug"] for card in client.get("/api/v1/cards").json()]
        deck_slugs = [deck["slug"] for deck in client.get("/api/v1/decks").json()]
        submission_ids: list[int] = []
        keys: set[str] = set()
        for slug in card_slugs[:4]:
            variant = client.get(f"/api/v1/cards/{slug}/variant").json()
            answers = {part["key"]: _answer(part) for part in variant["parts"]}
            keys.update(answers)
            sent = client.post(f"/api/v1/cards/{slug}/submissions", json={"seed": variant["seed"], "answers": answers})
            assert sent.status_code == 201, sent.text
            submission_ids.append(sent.json()["id"])
        webhook = client.post(
            "/api/v1/webhooks", json={"url": "https://lms.example.edu/hooks/distill", "secret": "s" * 24}
        )
        assert webhook.status_code == 201, webhook.text
    yield World(
        app=app,
        settings=settings,
        database=folder / "tutor.db",
        token=token,
        path_values={
            "slug": card_slugs + deck_slugs,
            "card_slug": card_slugs,
            "submission_id": submission_ids,
            "key": sorted(keys),
            "webhook_id": [webhook.json()["id"]],
        },
    )
    app.state.http_client.close()
    app.state.engine.dispose()


schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(max_examples=FUZZ_EXAMPLES)
# Filled by the fixture before any case is drawn: the hook below runs while the test generates its cases.
PATH_VALUES: dict[str, list[Any]] = {}


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy[Any]:
    # A path parameter generated to break the schema stays as it is: replacing it would make the request valid,
    # and the negative check would then wrongly expect a refusal.
    if not case.path_parameters or case.meta is None or case.meta.is_negative_at(ParameterLocation.PATH):
        return st.just(case)
    drawn = {
        name: st.one_of(st.sampled_from(PATH_VALUES[name]), st.just(value)) if PATH_VALUES.get(name) else st.just(value)
        for name, value in case.path_parameters.items()
    }

    def with_values(values: dict[str, Any]) -> schemathesis.Case:
        case.path_parameters = values
        return case

    return st.fixed_dictionaries(drawn).map(with_values)


@pytest.fixture
def fuzz_world(world: World) -> World:
    PATH_VALUES.clear()
    PATH_VALUES.update(world.path_values)
    return world


@schema.parametrize()
@settings(deadline=None, database=None, derandomize=not FUZZ_RANDOM, suppress_health_check=list(HealthCheck))
def test_api_operation_answers_as_documented(case: schemathesis.Case, fuzz_world: World) -> None:
    case.call_and_validate(app=fuzz_world.app, headers={"Authorization": f"Bearer {fuzz_world.token}"}, checks=CHECKS)


# Links between operations are inferred from the document (a created card's slug feeds GET /cards/{slug}, a
# submission's id its grading): sequences of calls, each answer checked as above.
APIWorkflow = schema.as_state_machine()


def test_api_workflows_answer_as_documented(fuzz_world: World, tmp_path: Path) -> None:
    # Each sequence starts from the same database: Hypothesis replays sequences and needs them to behave alike.
    fuzz_world.app.state.engine.dispose()  # folds SQLite's write-ahead log into the file, so a copy holds it all
    template = tmp_path / "template.db"
    shutil.copyfile(fuzz_world.database, template)
    runs = itertools.count()

    class Workflow(APIWorkflow):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            path = tmp_path / f"run-{next(runs)}.db"
            shutil.copyfile(template, path)
            self.app = create_app(fuzz_world.settings.model_copy(update={"database_url": f"sqlite:///{path}"}))

        def teardown(self) -> None:
            self.app.state.http_client.close()
            self.app.state.engine.dispose()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": self.app, "headers": {"Authorization": f"Bearer {fuzz_world.token}"}}

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=FUZZ_EXAMPLES,
            stateful_step_count=5,
            deadline=None,
            database=None,
            derandomize=not FUZZ_RANDOM,
            suppress_health_check=list(HealthCheck),
        )
    )
