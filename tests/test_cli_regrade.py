"""`tutor regrade`: a dry run that counts, a run that writes, a progress bar on stderr, and errors named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from app.cli import main
from app.db.models import Submission
from app.db.session import make_engine, make_sessionmaker
from app.domain.divergence import kl
from app.services.learners import guest_learner
from app.services.submissions import submit

RIGHT = kl([0.5, 0.5], [0.9, 0.1])
CARD: dict[str, Any] = {
    "slug": "regrade-card",
    "title": "A card to re-grade",
    "tags": ["kl-divergence"],
    "params": {"P": [0.5, 0.5], "Q": [0.9, 0.1]},
    "prompt": "P = {{ P }}, Q = {{ Q }}",
    "parts": [{"key": "kl", "kind": "numeric", "label": "KL(P‖Q)", "answer": "kl(P, Q)", "tolerance": {"rtol": 0.01}}],
    "solution": "{{ kl(P, Q) }}",
}


def write(bank: Path, data: dict[str, Any]) -> None:
    bank.mkdir(parents=True, exist_ok=True)
    (bank / f"{data['slug']}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'tutor.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_regrade_counts_in_a_dry_run_then_writes(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = tmp_path / "bank"
    write(bank, CARD)
    assert main(["migrate"]) == 0 and main(["cards", "load", str(bank)]) == 0
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            learner = guest_learner(session=session, guest_id="guest-cli")
            for value in (RIGHT, RIGHT * 1.04, RIGHT * 1.5):  # right; within 5% only; wrong
                submit(session=session, learner_id=learner.id, slug="regrade-card", seed=0, answers={"kl": str(value)})
        write(bank, {**CARD, "parts": [{**CARD["parts"][0], "tolerance": {"rtol": 0.05}}]})
        assert main(["cards", "load", str(bank)]) == 0
        capsys.readouterr()

        assert main(["regrade", "regrade-card", "--dry-run"]) == 0
        out, err = capsys.readouterr()
        assert out.strip() == (
            "regrade-card: 3 submissions, 3 numeric answers checked; "
            "1 now right, 0 now wrong; 1 submissions would change"
        )
        assert "checking [" in err and "100% 3/3" in err

        with make_sessionmaker(engine)() as session:
            assert sorted(session.scalars(select(Submission.score))) == [0.0, 0.0, 1.0]
        assert main(["regrade", "regrade-card"]) == 0
        assert capsys.readouterr().out.strip().endswith("1 submissions changed")
        with make_sessionmaker(engine)() as session:
            assert sorted(session.scalars(select(Submission.score))) == [0.0, 1.0, 1.0]
    finally:
        engine.dispose()


def test_regrade_names_an_unknown_card_or_version(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["regrade", "no-such-card"]) == 1
    assert capsys.readouterr().err.strip() == "tutor regrade: no card 'no-such-card'"
    with pytest.raises(SystemExit):
        main(["regrade", "x", "--version", "two"])
    assert "invalid int value: 'two'" in capsys.readouterr().err
