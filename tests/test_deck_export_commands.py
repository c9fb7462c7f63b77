"""``tutor decks export SLUG --format qti|gift [--seed N] [-o FILE]``: a deck written for another system."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lms_exports_support import parse_gift, qti_tree, unzip

from app.cli import main
from app.config import Settings

BANK = Settings(_env_file=None).bank_dir
DECK = "course-foundations"  # the built-in deck that loading the bank writes


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database holding the built-in bank and its deck, named by DATABASE_URL."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(sqlite_template, tmp_path / "tutor.db")
    url = f"sqlite:///{tmp_path / 'tutor.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["cards", "load", str(BANK)]) == 0
    return url


def test_export_writes_the_qti_package_under_its_own_name(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["decks", "export", DECK, "--format", "qti", "--seed", "3"]) == 0
    written = tmp_path / f"{DECK}-seed-3-qti.zip"
    assert f"written to {written.name}" in capsys.readouterr().out
    files = unzip(written.read_bytes())
    assessment = qti_tree(files[f"{DECK}-seed-3.xml"])
    assert len(assessment.findall("assessment/section/section")) == 4


def test_export_gift_to_a_file_or_stdout(database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "moodle.txt"
    target.parent.mkdir()
    assert main(["decks", "export", DECK, "--format", "gift", "-o", str(target)]) == 0
    from_file = parse_gift(target.read_text(encoding="utf-8"))
    assert from_file.questions and from_file.questions[0].title.startswith("evaluate-student-models ")
    capsys.readouterr()
    assert main(["decks", "export", DECK, "--format", "gift", "-o", "-"]) == 0
    assert capsys.readouterr().out == target.read_text(encoding="utf-8")


def test_export_names_an_unknown_deck_or_a_bad_seed(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["decks", "export", "no-such-deck", "--format", "gift"]) == 1
    assert "slug: no deck 'no-such-deck'" in capsys.readouterr().err
    assert main(["decks", "export", DECK, "--format", "gift", "--seed", "-1"]) == 1
    assert "seed: seed must be a whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["decks", "export", DECK, "--format", "pdf"])
    assert "invalid choice: 'pdf'" in capsys.readouterr().err
