"""``tutor cards export`` and ``tutor cards import``: the bank out to files and back, unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app.cli import main
from app.config import Settings
from app.db.models import Card, CardVersion
from app.db.session import make_engine, make_sessionmaker
from app.services.accounts import create_user

BANK = Settings(_env_file=None).bank_dir


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database holding the built-in bank, named by DATABASE_URL; no .env is read."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(sqlite_template, tmp_path / "tutor.db")
    url = f"sqlite:///{tmp_path / 'tutor.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["cards", "load", str(BANK)]) == 0
    return url


def cards(url: str) -> dict[str, tuple[str, str | None, int | None, int]]:
    """Per slug: the current spec hash, the status, the owner and the number of versions."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Card, CardVersion.spec_hash).join(CardVersion, CardVersion.id == Card.current_version_id)
            )
            found = {}
            for card, digest in rows:
                count = len(session.scalars(select(CardVersion.id).where(CardVersion.card_id == card.id)).all())
                found[card.slug] = (digest, card.status, card.owner_id, count)
            return found
    finally:
        engine.dispose()


def test_export_then_import_changes_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = cards(database_url)
    capsys.readouterr()

    assert main(["cards", "export", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{len(before)} card(s) written to {tmp_path / 'out'}"]
    assert sorted(path.stem for path in (tmp_path / "out").iterdir()) == sorted(before)

    assert main(["cards", "import", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines() == [f"0 created, 0 updated, {len(before)} unchanged"]
    assert cards(database_url) == before


def test_import_creates_drafts_for_an_owner_and_versions_changed_cards(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        owner = create_user(
            session=session, email="ada@example.org", password="a long enough password", role="instructor"
        )
    engine.dispose()
    main(["cards", "export", str(tmp_path / "out")])
    changed = tmp_path / "out" / "kl-asymmetry.yaml"
    data = yaml.safe_load(changed.read_text())
    changed.write_text(yaml.safe_dump({**data, "title": "KL is not symmetric"}, sort_keys=False))
    copy = tmp_path / "out" / "my-copy.yaml"
    copy.write_text(yaml.safe_dump({**data, "slug": "my-copy"}, sort_keys=False))
    capsys.readouterr()

    assert main(["cards", "import", str(tmp_path / "out"), "--owner", "ADA@example.org"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["created: my-copy", "updated: kl-asymmetry"]
    after = cards(database_url)
    assert after["my-copy"][1:] == ("draft", owner.id, 1)
    assert after["kl-asymmetry"][1:] == ("published", None, 2)


def test_import_refuses_a_bad_file_and_an_unknown_owner(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "slug: bad-card\ntitle: Bad\nprompt: x\nparts:\n  - key: a\n    kind: numeric\n    answer: ().__class__\n"
    )
    before = cards(database_url)
    capsys.readouterr()

    assert main(["cards", "import", str(bad)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert (
        errors[0]
        == f"{bad}: line 7: parts[0].answer: attribute access ('.__class__') is not allowed; use P[0] or a function"
    )
    assert errors[-1] == "nothing imported: 1 problem(s)"

    assert main(["cards", "import", str(BANK), "--owner", "nobody@example.org"]) == 1
    assert capsys.readouterr().err.strip() == "--owner: nobody@example.org: no such account"
    assert cards(database_url) == before
