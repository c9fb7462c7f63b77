"""The Dockerfile and docker-compose.yml say what they must (Docker itself cannot run in the tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_postgresql_is_healthy_before_the_app_starts(compose: dict[str, Any]) -> None:
    db, app = compose["services"]["db"], compose["services"]["app"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}}


def test_the_database_lives_in_a_named_volume(compose: dict[str, Any]) -> None:
    volume, _, mount = compose["services"]["db"]["volumes"][0].partition(":")
    assert mount == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]


def test_the_app_is_built_here_and_configured_from_the_environment(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert app["build"] == "."
    environment = app["environment"]
    assert re.fullmatch(
        r"postgresql\+psycopg://tutor:\$\{POSTGRES_PASSWORD:\?[^}]+\}@db:5432/tutor", environment["DATABASE_URL"]
    )
    # Refused to start without them rather than running with a made-up key or password.
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert environment["LOG_FORMAT"] == "json"
    assert app["ports"] == ["8000:8000"]
    probe = " ".join(app["healthcheck"]["test"])
    assert "/healthz" in probe and "urllib" in probe and "curl" not in probe


def test_the_image_runs_as_a_user_and_checks_its_health_without_curl(dockerfile: list[str]) -> None:
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    (check,) = [line for line in dockerfile if line.startswith("HEALTHCHECK ")]
    assert "/healthz" in check and "urllib.request" in check and "curl" not in check
    assert "EXPOSE 8000" in dockerfile
    (command,) = [line for line in dockerfile if line.startswith("CMD ")]
    assert "tutor migrate" in command and "exec tutor serve" in command
