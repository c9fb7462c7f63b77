"""The collector at a start: held while the app loads, resumed (and the start's objects frozen) once it is built."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from app import startup_gc
from app.cli import main
from app.config import Settings
from app.main import create_app
from app.startup_gc import hold_collection, release_collection, resume_collection, tune_collection


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """Whatever a test does, the process collects again afterwards, with nothing left frozen or held."""
    yield
    startup_gc._held = False
    gc.unfreeze()
    gc.enable()


def test_hold_then_resume_freezes_what_exists_and_collects_again() -> None:
    hold_collection()
    assert not gc.isenabled()
    resume_collection()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    resume_collection()  # a second resume has nothing to do
    assert gc.isenabled()


def test_release_collects_again_without_freezing() -> None:
    hold_collection()
    release_collection()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_collector_it_did_not_turn_off_is_left_alone() -> None:
    gc.disable()
    hold_collection()
    resume_collection()
    release_collection()
    assert not gc.isenabled()  # turned off by someone else: theirs to turn back on
    assert gc.get_freeze_count() == 0
    gc.enable()
    resume_collection()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_app_start_resumes_a_held_collector(database_url: str) -> None:
    app = create_app(Settings(_env_file=None, database_url=database_url, secret_key="startup-gc-key"))
    hold_collection()
    try:
        with TestClient(app) as client:
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0
            assert client.get("/healthz").status_code == 200
    finally:
        app.state.engine.dispose()


def test_serve_holds_the_collector_for_one_worker_and_gives_it_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[bool] = []

    def run(*args: Any, **kwargs: Any) -> None:
        seen.append(gc.isenabled())

    monkeypatch.chdir(tmp_path)
    for name in ("ACCESS_LOG", "PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY"):
        # Set, then removed: monkeypatch then puts back what was there before, even a variable serve sets.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(uvicorn, "run", run)
    assert main(["serve", "--workers", "1"]) == 0
    assert main(["serve", "--workers", "2"]) == 0
    assert seen == [False, True]  # a supervisor of several workers keeps its collector
    assert gc.isenabled()  # the app never started here, yet the collector is back on


@pytest.fixture
def kept_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_served_app_collects_its_young_generation_less_often(
    database_url: str, kept_thresholds: tuple[int, int, int]
) -> None:
    app = create_app(
        Settings(_env_file=None, database_url=database_url, secret_key="startup-gc-key", gc_threshold=25_000)
    )
    try:
        with TestClient(app):
            assert gc.get_threshold() == (25_000, *kept_thresholds[1:])  # the older generations as they were
    finally:
        app.state.engine.dispose()


def test_a_threshold_of_zero_leaves_the_collector_as_it_is(kept_thresholds: tuple[int, int, int]) -> None:
    tune_collection(0)
    assert gc.get_threshold() == kept_thresholds
    tune_collection(5_000)
    assert gc.get_threshold()[0] == 5_000
