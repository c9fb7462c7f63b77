"""Request ids, the JSON access log, /metrics (route templates, submissions, grading errors, the outbox) and /readyz."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from accounts_support import csrf_headers
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings
from app.db.integrations import OutboxMessage
from app.db.migrate import alembic_config, upgrade
from app.db.models import utcnow
from app.main import create_app
from app.observability import ACCESS_LOGGER, JsonLineFormatter, RequestIdFilter, TextFormatter

SLUG = "evaluate-student-models"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}


def metric(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of GET /metrics (0 when it is not there yet)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_lines() -> Iterator[list[logging.LogRecord]]:
    """The records of the access logger, captured at INFO whatever the test run's logging is."""
    handler = Collect()
    logger = logging.getLogger(ACCESS_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


# --- request ids ---------------------------------------------------------------------------------------------


def test_a_request_id_is_made_and_sent_back(client: TestClient) -> None:
    first = client.get("/api/v1/cards").headers["x-request-id"]
    second = client.get("/api/v1/cards").headers["x-request-id"]
    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second)
    assert first != second


def test_an_incoming_request_id_is_kept(client: TestClient) -> None:
    for given in ("5f0c9a2e-1b7d-4c1e-9f0a-3a1b2c3d4e5f", "Root=1-67891233-abcdef012345678912345678"):
        assert client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["two words", "x" * 129, "line\\nbreak<script>", ""])
def test_an_unfit_request_id_is_replaced(client: TestClient, given: str) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"]
    assert GENERATED_ID.fullmatch(echoed)


# --- the access log ------------------------------------------------------------------------------------------


def test_each_request_is_one_json_line_with_its_id_route_status_and_duration(
    client: TestClient, access_lines: list[logging.LogRecord]
) -> None:
    response = client.get(f"/api/v1/cards/{SLUG}?seed=3", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200

    (record,) = access_lines
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    fields = json.loads(line)
    assert list(fields)[:4] == ["time", "level", "logger", "message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["time"])
    assert fields["level"] == "INFO"
    assert fields["logger"] == "tutor.access"
    assert fields["message"].startswith(f"GET /api/v1/cards/{SLUG} 200 ")
    assert fields["request_id"] == "req-42"
    assert (fields["method"], fields["path"], fields["route"]) == (
        "GET",
        f"/api/v1/cards/{SLUG}",
        "/api/v1/cards/{slug}",
    )
    assert fields["status"] == 200
    assert isinstance(fields["duration_ms"], float) and fields["duration_ms"] >= 0
    assert "seed=3" not in line  # query strings may carry tokens: never logged


def test_the_text_format_shows_the_request_id(client: TestClient, access_lines: list[logging.LogRecord]) -> None:
    client.get("/api/v1/cards", headers={"X-Request-ID": "req-7"})
    assert " tutor.access [req-7] GET /api/v1/cards 200 " in TextFormatter().format(access_lines[0])


def test_lines_logged_while_a_request_is_handled_carry_its_id(app: FastAPI, client: TestClient) -> None:
    async def noisy() -> dict[str, str]:
        logging.getLogger("app.test").warning("something to say")
        return {}

    app.add_api_route("/noisy-test-route", noisy)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonLineFormatter())
    logging.getLogger("app.test").addHandler(handler)
    try:
        client.get("/noisy-test-route", headers={"X-Request-ID": "inside-1"})
        logging.getLogger("app.test").warning("outside any request")
    finally:
        logging.getLogger("app.test").removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["message"], inside["request_id"]) == ("something to say", "inside-1")
    assert outside["request_id"] is None


def test_probes_are_counted_but_not_logged(client: TestClient, access_lines: list[logging.LogRecord]) -> None:
    before = metric(client, "tutor_http_requests_total", route="/healthz", status="200")
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert metric(client, "tutor_http_requests_total", route="/healthz", status="200") == before + 1
    assert not access_lines


def test_an_unhandled_error_is_answered_with_its_request_id_logged_and_counted_as_a_500(
    app: FastAPI, access_lines: list[logging.LogRecord]
) -> None:
    async def broken() -> None:
        raise RuntimeError("the test route broke")

    app.add_api_route("/broken-test-route", broken)
    app.add_api_route("/api/v1/broken-test-route", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        before = metric(client, "tutor_http_requests_total", route="/broken-test-route", status="500")
        page = client.get("/broken-test-route", headers={"X-Request-ID": "boom-1"})
        api = client.get("/api/v1/broken-test-route", headers={"X-Request-ID": "boom-2"})
        assert metric(client, "tutor_http_requests_total", route="/broken-test-route", status="500") == before + 1
    # The app's own 500 answers, with the id to quote when reporting the problem.
    assert (page.status_code, page.headers["x-request-id"]) == (500, "boom-1")
    assert (api.status_code, api.headers["x-request-id"]) == (500, "boom-2")
    assert api.json() == {"detail": [{"field": None, "message": "internal server error"}]}
    errors = [r for r in access_lines if r.levelno == logging.ERROR]
    assert len(errors) == 2
    fields = json.loads(JsonLineFormatter().format(errors[0]))
    assert (fields["request_id"], fields["status"], fields["level"]) == ("boom-1", 500, "ERROR")
    assert "RuntimeError: the test route broke" in fields["exc_info"]


# --- /metrics ------------------------------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_not_by_path(client: TestClient) -> None:
    template = {"method": "GET", "route": "/api/v1/cards/{slug}"}
    ok = metric(client, "tutor_http_requests_total", **template, status="200")
    missing = metric(client, "tutor_http_requests_total", **template, status="404")
    unmatched = metric(client, "tutor_http_requests_total", route="unmatched", status="404")
    static = metric(client, "tutor_http_requests_total", route="/static/{path}")

    client.get(f"/api/v1/cards/{SLUG}")
    client.get("/api/v1/cards/closest-student")
    client.get("/api/v1/cards/no-such-card")
    client.get("/no/such/page/at/all")
    client.get("/static/app.css")

    assert metric(client, "tutor_http_requests_total", **template, status="200") == ok + 2
    assert metric(client, "tutor_http_requests_total", **template, status="404") == missing + 1
    assert metric(client, "tutor_http_requests_total", route="unmatched", status="404") == unmatched + 1
    assert metric(client, "tutor_http_requests_total", route="/static/{path}") == static + 1
    brewed = metric(client, "tutor_http_requests_total", method="OTHER", route="/healthz", status="405")
    client.request("BREW", "/healthz")  # any word can be sent as a method: unknown ones share one label
    assert metric(client, "tutor_http_requests_total", method="OTHER", route="/healthz", status="405") == brewed + 1
    text = client.get("/metrics").text
    assert "no-such-card" not in text and "/no/such/page" not in text and "BREW" not in text
    assert 'tutor_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/cards/{slug}"' in text
    assert "# TYPE tutor_http_request_duration_seconds histogram" in text


def test_submissions_stored_and_answers_that_could_not_be_graded_are_counted(client: TestClient) -> None:
    stored = metric(client, "tutor_submissions_stored_total")
    invalid = metric(client, "tutor_grading_errors_total", reason="invalid_answer")
    headers = csrf_headers(client)
    url = f"/api/v1/cards/{SLUG}/submissions"

    assert client.post(url, json={"seed": 0, "answers": ANSWERS}, headers=headers).status_code == 201
    assert client.post(url, json={"seed": 1, "answers": ANSWERS}, headers=headers).status_code == 201
    unreadable = {**ANSWERS, "loss_a": "about a third"}
    assert client.post(url, json={"seed": 0, "answers": unreadable}, headers=headers).status_code == 422

    assert metric(client, "tutor_submissions_stored_total") == stored + 2
    assert metric(client, "tutor_grading_errors_total", reason="invalid_answer") == invalid + 1


def test_the_outbox_backlog_is_read_from_the_database_at_each_scrape(settings: Settings) -> None:
    # No background delivery: it would try the due messages while the test counts them.
    app = create_app(settings.model_copy(update={"outbox_interval": 0}))
    now = utcnow()

    def message(status: str, due_in: timedelta) -> OutboxMessage:
        return OutboxMessage(
            kind="webhook",
            target_url="https://lms.example.edu/hook",
            payload={},
            status=status,
            next_attempt_at=now + due_in,
        )

    with app.state.sessionmaker() as session:
        session.add_all(
            [
                message("pending", -timedelta(minutes=1)),
                message("pending", -timedelta(seconds=1)),
                message("pending", timedelta(hours=1)),  # retried later: waiting, not due
                message("failed", -timedelta(days=1)),
                message("sent", -timedelta(days=1)),
            ]
        )
        session.commit()
    with TestClient(app) as client:
        assert metric(client, "tutor_outbox_messages", status="pending") == 3
        assert metric(client, "tutor_outbox_messages", status="failed") == 1
        assert metric(client, "tutor_outbox_due") == 2
    app.state.engine.dispose()


def test_metrics_can_ask_for_a_token(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": "scrape-secret"}))
    with TestClient(app) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["detail"][0]["field"] == "Authorization"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert allowed.status_code == 200
        assert "tutor_http_requests_total" in allowed.text
    app.state.engine.dispose()


# --- /readyz -------------------------------------------------------------------------------------------------


def test_ready_when_the_database_answers_at_the_newest_migration(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def readiness_of(database_url: str) -> tuple[int, str, list[dict[str, str]]]:
    """Status, ``status`` field and problems of GET /readyz for an app on ``database_url``."""
    settings = Settings(_env_file=None, database_url=database_url, secret_key="k" * 32, outbox_interval=0)
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            response = client.get("/readyz")
            body = response.json()
            return response.status_code, body["status"], body["detail"]
    finally:
        app.state.engine.dispose()


def test_not_ready_on_an_empty_database(tmp_path: Path) -> None:
    status, word, [problem] = readiness_of(f"sqlite:///{tmp_path / 'empty.db'}")
    assert (status, word) == (503, "unavailable")
    assert problem["field"] == "migrations"
    assert "no schema yet: run `tutor migrate`" in problem["message"]


def test_not_ready_on_a_database_behind_the_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = list(ScriptDirectory.from_config(alembic_config(url)).walk_revisions())[-1].revision
    upgrade(url, revision=first)
    status, _, [problem] = readiness_of(url)
    assert status == 503
    assert problem["field"] == "migrations"
    assert f"at revision {first}, this code expects" in problem["message"]


def test_not_ready_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder-not-a-file"
    folder.mkdir()
    status, _, [problem] = readiness_of(f"sqlite:///{folder}")
    assert status == 503
    assert problem["field"] == "database"
    assert "does not answer (OperationalError)" in problem["message"]
    assert str(folder) not in problem["message"]  # the details go to the log, not to whoever asks


# --- cookies behind an HTTPS proxy ----------------------------------------------------------------------------


def test_cookies_are_secure_when_the_request_came_over_https(app: FastAPI) -> None:
    with TestClient(app, base_url="https://tutor.example.edu") as secure, TestClient(app) as plain:
        over_https = secure.get(f"/cards/{SLUG}").headers.get_list("set-cookie")
        over_http = plain.get(f"/cards/{SLUG}").headers.get_list("set-cookie")
    assert over_https and all(cookie.endswith("; Secure") or "; Secure;" in cookie for cookie in over_https)
    assert over_http and not any("Secure" in cookie for cookie in over_http)


def test_behind_a_trusted_https_proxy_the_cookies_are_secure(app: FastAPI) -> None:
    """uvicorn's proxy-headers middleware (what `tutor serve --proxy-headers` puts in front) and the app together."""
    trusted = ProxyHeadersMiddleware(app, trusted_hosts="*")
    untrusted = ProxyHeadersMiddleware(app, trusted_hosts="10.9.8.7")  # the test client is not that proxy
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with TestClient(trusted) as behind_proxy, TestClient(untrusted) as spoofing:
        secure = behind_proxy.get(f"/cards/{SLUG}", headers=forwarded).headers.get_list("set-cookie")
        plain = spoofing.get(f"/cards/{SLUG}", headers=forwarded).headers.get_list("set-cookie")
    assert secure and all("; Secure" in cookie for cookie in secure)
    assert plain and not any("Secure" in cookie for cookie in plain)
