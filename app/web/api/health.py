"""Probes and metrics for load balancers, orchestrators and Prometheus.

* ``GET /healthz``: the process is up and answering. It touches nothing (no database, no serialisation), so a
  busy database never gets a healthy server restarted, and it is the ceiling of the load benchmark.
* ``GET /readyz``: 200 when the database answers and its schema is at the newest migration, else 503 naming
  what is wrong: take the server out of rotation, not restart it.
* ``GET /metrics``: the Prometheus metrics (``app.metrics``), behind ``METRICS_TOKEN`` when that is set.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from app.metrics import render_metrics
from app.services.readiness import readiness_problems
from app.web.db import SessionDep

router = APIRouter(tags=["health"])

_OK = b'{"status":"ok"}'


@router.get("/healthz", summary="Liveness check", response_model=dict[str, str])
async def healthz() -> Response:
    return Response(_OK, media_type="application/json")


@router.get("/readyz", summary="Readiness check", include_in_schema=False)
def readyz(session: SessionDep) -> JSONResponse:
    problems = readiness_problems(session=session)
    if problems:
        detail = [{"field": check, "message": message} for check, message in problems]
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    token: str = request.app.state.settings.metrics_token
    if token and not hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode()):
        return JSONResponse(
            {"detail": [{"field": "Authorization", "message": "a bearer token (METRICS_TOKEN) is required"}]},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    # The outbox is counted with a query: off the event loop, like any database call.
    body, content_type = await run_in_threadpool(render_metrics, factory, request.headers.get("accept"))
    return Response(body, media_type=content_type)
