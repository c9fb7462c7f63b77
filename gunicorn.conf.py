"""gunicorn settings for Distill Tutor, read from the environment like ``tutor serve``.

From the project's folder (gunicorn reads ./gunicorn.conf.py by itself)::

    pip install 'gunicorn==27.0.1' 'uvicorn-worker==0.4.0'
    gunicorn 'app.main:create_app()'

uvicorn's own ``uvicorn.workers.UvicornWorker`` is deprecated in the pinned uvicorn (importing it warns); the
``uvicorn-worker`` package holds the same worker, maintained. Its loop and HTTP parser are "auto": uvloop and
httptools, which ``uvicorn[standard]`` installs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from app.config import Settings
from app.observability import MULTIPROC_ENV, logging_config

_settings = Settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_concurrency
worker_class = "uvicorn_worker.UvicornWorker"
# X-Forwarded-Proto and -For are trusted from these addresses only (uvicorn's proxy headers are on).
forwarded_allow_ips = _settings.forwarded_allow_ips
graceful_timeout = round(_settings.shutdown_timeout)
# Above the load balancer's idle timeout, so that it, not gunicorn, closes idle connections.
keepalive = 75

# One format for every line: gunicorn's own, uvicorn's (which the worker sends to gunicorn.error's handlers) and
# the app's. The app logs each request itself, so gunicorn's access log stays off.
logconfig_dict = logging_config(_settings.log_format, _settings.log_level)
logconfig_dict["loggers"]["gunicorn.error"] = {"handlers": ["stderr"], "propagate": False}

# Set before any worker imports prometheus_client, so that all of them write their metrics to the shared folder.
_made_metrics_dir = ""
if workers > 1 and not os.environ.get(MULTIPROC_ENV):
    _made_metrics_dir = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="tutor-metrics-")


def on_exit(server: Any) -> None:
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (its counters and histograms keep counting in the totals)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
