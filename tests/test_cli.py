from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from app.cli import main
from app.db.migrate import current_is_head

CARD: dict[str, Any] = {
    "slug": "cli-card",
    "title": "A card for the command line",
    "tags": ["kl-divergence"],
    "params": {"P": {"dirichlet": [8, 1, 1], "decimals": 2}, "Q": [0.4, 0.3, 0.3]},
    "prompt": "P = {{ P }}, Q = {{ Q }}",
    "parts": [{"key": "kl", "kind": "numeric", "label": "KL(P‖Q)", "answer": "kl(P, Q)"}],
    "solution": "{{ kl(P, Q) }}",
}


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DATABASE_URL names a SQLite file in a folder that does not exist yet; no .env is read."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data" / "tutor.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def write(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['slug']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_migrate_then_load_then_load_again(
    database_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = tmp_path / "bank"
    write(bank, CARD)
    assert main(["migrate"]) == 0
    assert current_is_head(f"sqlite:///{database_file}")

    assert main(["cards", "load", str(bank)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == ["created: cli-card", "1 created, 0 updated, 0 unchanged"]

    assert main(["cards", "load", str(bank)]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 created, 0 updated, 1 unchanged"]

    write(bank, {**CARD, "title": "A revised card"})
    assert main(["cards", "load", str(bank / "cli-card.yaml")]) == 0
    assert capsys.readouterr().out.splitlines() == ["updated: cli-card", "0 created, 1 updated, 0 unchanged"]


def test_load_asks_for_the_migrations_first(
    database_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cards", "load", str(write(tmp_path / "bank", CARD))]) == 1
    assert "tutor migrate" in capsys.readouterr().err


def test_load_refuses_broken_files_and_writes_nothing(
    database_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = tmp_path / "bank"
    write(bank, CARD)
    broken = write(bank, {**CARD, "slug": "broken", "parts": [{**CARD["parts"][0], "answer": "P.__class__"}]})
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["cards", "load", str(bank)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}: parts[0].answer: " in err
    assert "nothing loaded" in err
    assert main(["cards", "load", str(bank / "cli-card.yaml")]) == 0
    assert "1 created" in capsys.readouterr().out


def test_check_passes_good_cards_with_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank = tmp_path / "bank"
    write(bank, CARD)
    assert main(["cards", "check", str(bank)]) == 0
    assert capsys.readouterr().out == "1 card file(s) OK: every expression evaluated for 200 seeds\n"


def test_check_names_file_field_and_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank = tmp_path / "bank"
    write(bank, CARD)
    # Parses (seed 0 is fine) but fails for every seed whose drawn P[0] is 0.75 or less.
    risky = write(bank, {**CARD, "slug": "risky", "parts": [{**CARD["parts"][0], "answer": "log(P[0] - 0.75)"}]})
    (bank / "syntax.yaml").write_text("slug: [oops\n")
    assert main(["cards", "check", str(bank)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{risky}: parts[0].answer: seed ")
    assert lines[1].startswith(f"{bank / 'syntax.yaml'}: line 2, column 1: not valid YAML")


def test_serve_runs_the_app_factory_with_the_environments_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "8123")
    # serve hands these to its worker processes through the environment: restored after the test.
    monkeypatch.setenv("ACCESS_LOG", "true")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))

    assert main(["serve"]) == 0
    assert main(["serve", "--port", "9000", "--workers", "2", "--no-access-log"]) == 0
    # The options for workers, proxies and logs are checked in test_serving.py.
    assert [
        (args, {key: kwargs[key] for key in ("factory", "host", "port", "workers", "timeout_graceful_shutdown")})
        for args, kwargs in calls
    ] == [
        (
            ("app.main:create_app",),
            {"factory": True, "host": "0.0.0.0", "port": 8123, "workers": 1, "timeout_graceful_shutdown": 20.0},
        ),
        (
            ("app.main:create_app",),
            {"factory": True, "host": "0.0.0.0", "port": 9000, "workers": 2, "timeout_graceful_shutdown": 20.0},
        ),
    ]
