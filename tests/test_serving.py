"""``tutor serve``: workers, the event loop, httptools, proxy headers, the log format, the workers' metrics."""

from __future__ import annotations

import logging
import logging.config
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.cli import main
from app.event_loop import AcceptingLoop
from app.observability import JsonLineFormatter, TextFormatter


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """uvicorn.run replaced by a recorder; the environment serve writes for its workers is restored afterwards."""
    monkeypatch.chdir(tmp_path)
    for name in ("ACCESS_LOG", "PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY", "LOG_FORMAT", "FORWARDED_ALLOW_IPS"):
        # Set, then removed: monkeypatch then puts back what was there before, even a variable serve sets.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    return calls


@pytest.fixture(autouse=True)
def restore_logging() -> Any:
    """The log configuration serve builds is applied by some tests here; the root logger is put back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_one_worker_by_default_with_uvloop_httptools_and_the_apps_own_access_log(
    uvicorn_calls: list[dict[str, Any]],
) -> None:
    assert main(["serve"]) == 0
    (call,) = uvicorn_calls
    assert call["workers"] == 1
    assert call["http"] == "httptools"
    # uvloop, accepting every waiting connection at each turn (app.event_loop), as uvicorn makes it
    loop = uvicorn.Config("app.main:create_app", loop=call["loop"]).get_loop_factory()()
    try:
        assert isinstance(loop, AcceptingLoop)
    finally:
        loop.close()
    assert call["ws"] == "none"  # no WebSocket routes, so no WebSocket protocol loaded at start
    # uvicorn's access line is off; the app's middleware writes one with the request id instead.
    assert call["access_log"] is False
    assert os.environ["ACCESS_LOG"] == "true"
    assert (call["proxy_headers"], call["forwarded_allow_ips"]) == (True, "127.0.0.1")
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # one process keeps its metrics in memory


def test_several_workers_share_a_fresh_metrics_folder(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")

    assert main(["serve", "--no-access-log"]) == 0
    assert uvicorn_calls[0]["workers"] == 3
    assert os.environ["ACCESS_LOG"] == "false"
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.is_dir() and not list(folder.iterdir())
    shutil.rmtree(folder)  # serve removes it when it exits; this test process is not serve


def test_a_named_metrics_folder_is_emptied_of_a_previous_runs_files(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old counts")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))

    assert main(["serve", "--workers", "2"]) == 0
    assert not (folder / "counter_123.db").exists()


def test_proxy_options(uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1,10.0.0.2")
    assert main(["serve"]) == 0
    assert main(["serve", "--no-proxy-headers", "--forwarded-allow-ips", "*"]) == 0
    assert [(c["proxy_headers"], c["forwarded_allow_ips"]) for c in uvicorn_calls] == [
        (True, "10.0.0.1,10.0.0.2"),
        (False, "*"),
    ]


@pytest.mark.parametrize(("given", "formatter"), [("json", JsonLineFormatter), ("text", TextFormatter)])
def test_the_log_configuration_formats_every_logger_alike(
    uvicorn_calls: list[dict[str, Any]], given: str, formatter: type[logging.Formatter]
) -> None:
    assert main(["serve", "--log-format", given, "--log-level", "warning"]) == 0
    call = uvicorn_calls[0]
    assert call["log_level"] == "warning"
    logging.config.dictConfig(call["log_config"])
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, formatter)
    assert logging.getLogger().level == logging.WARNING
    # uvicorn's loggers go through the same handler; its access logger is silent.
    assert logging.getLogger("uvicorn.error").propagate
    assert not logging.getLogger("uvicorn.access").propagate


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_a_worker_count_out_of_range_is_refused(
    uvicorn_calls: list[dict[str, Any]], workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--workers", workers])
    assert exit_info.value.code == 2
    assert "--workers" in capsys.readouterr().err
    assert not uvicorn_calls
