"""Metrics of several worker processes are added up by whichever process answers the scrape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.db.session import make_engine, make_sessionmaker
from app.metrics import render_metrics

# What one worker does: count two requests to one route and one stored submission, then exit.
WORKER = """
from app.metrics import SUBMISSIONS_STORED, observe_request
observe_request("GET", "/api/v1/cards/{slug}", 200, 0.004)
observe_request("GET", "/api/v1/cards/{slug}", 200, 0.3)
SUBMISSIONS_STORED.inc()
"""


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_the_workers_counts_are_summed_from_the_shared_folder(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    root = Path(__file__).resolve().parent.parent
    workers = [subprocess.Popen([sys.executable, "-c", WORKER], env=environment, cwd=root) for _ in range(2)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    assert len(list(folder.glob("*.db"))) >= 2  # a file per process and kind of metric

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    engine = make_engine(f"sqlite:///{sqlite_template}")
    try:
        body, content_type = render_metrics(make_sessionmaker(engine), None)
    finally:
        engine.dispose()

    assert content_type.startswith("text/plain")
    found = samples(body)
    route = (("method", "GET"), ("route", "/api/v1/cards/{slug}"), ("status", "200"))
    assert found[("tutor_http_requests_total", route)] == 4
    assert found[("tutor_http_request_duration_seconds_count", route)] == 4
    fast = tuple(sorted((*route, ("le", "0.005"))))
    assert found[("tutor_http_request_duration_seconds_bucket", fast)] == 2  # one per worker was that quick
    assert found[("tutor_submissions_stored_total", ())] == 2
    assert found[("tutor_outbox_messages", (("status", "pending"),))] == 0  # read from the database as well
