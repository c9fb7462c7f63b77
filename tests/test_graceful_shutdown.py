"""Stopping the server with SIGTERM: the requests in flight finish, the process exits 0, the outbox loses nothing.

The requests are made "in flight" without adding anything slow to the app: each client sends its headers and
half its body, and the rest only after the server was told to stop, as a client on a slow link would.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from event_loops import run_in_own_loop
from served_app import ServedApp, fresh_database, prepare
from sqlalchemy import func, select

from app.db.integrations import OutboxMessage
from app.db.models import Submission, utcnow
from app.db.session import make_engine, make_sessionmaker
from app.services.lti.ags import AccessTokens
from app.services.lti.outbox import outbox_worker
from app.services.webhooks import KIND, add_webhook

SUBMIT = "/api/v1/cards/evaluate-student-models/submissions"
IN_FLIGHT = 8
SHUTDOWN_TIMEOUT = 20


def refused(port: int) -> bool:
    """True once nothing accepts connections on ``port`` any more."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_requests_in_flight_finish_on_sigterm_and_the_server_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database("sqlite", tmp_path) as database:
        token = prepare(database, monkeypatch, capsys)
        server = ServedApp(database, tmp_path, SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT)).start()
        connections: list[http.client.HTTPConnection] = []
        try:
            assert server.process is not None
            bodies = []
            for index in range(IN_FLIGHT):
                answers = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": f"r{index}"}
                body = json.dumps({"seed": 0, "answers": answers}).encode()
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=SHUTDOWN_TIMEOUT)
                connection.putrequest("POST", SUBMIT)
                connection.putheader("Authorization", f"Bearer {token}")
                connection.putheader("Content-Type", "application/json")
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body[: len(body) // 2])
                connections.append(connection)
                bodies.append(body)
            # A request answered after those were sent: the server has read their headers by now.
            assert httpx.get(server.url("/healthz")).status_code == 200

            server.process.terminate()
            deadline = time.monotonic() + 10
            while not refused(server.port) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert refused(server.port), "the server went on accepting connections after SIGTERM"

            for connection, body in zip(connections, bodies, strict=True):
                connection.send(body[len(body) // 2 :])
            statuses = []
            for connection in connections:
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)

            assert statuses == [201] * IN_FLIGHT
            assert server.process.wait(timeout=SHUTDOWN_TIMEOUT + 5) == 0, server.log()
        finally:
            for connection in connections:
                connection.close()
            server.stop()

        engine = make_engine(database)
        try:
            with make_sessionmaker(engine)() as session:
                assert session.scalar(select(func.count()).select_from(Submission)) == IN_FLIGHT
        finally:
            engine.dispose()


def test_a_stop_lets_the_outbox_delivery_in_flight_finish_and_claims_no_other(database_url: str) -> None:
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    due = utcnow() - timedelta(seconds=1)
    with factory() as session:
        hook = add_webhook(session=session, url="https://lms.example.edu/hooks", secret="a long enough secret")
        for number in (1, 2):
            payload = {"event": "submission.created", "number": number}
            session.add(
                OutboxMessage(kind=KIND, target_url=hook.url, payload=payload, webhook_id=hook.id, next_attempt_at=due)
            )
        session.commit()

    started = threading.Event()
    release = threading.Event()
    received: list[int] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content)["number"])
        started.set()
        release.wait(timeout=10)  # the receiver is slow: the stop comes while this delivery is under way
        return httpx.Response(200)

    async def run_then_stop() -> float:
        with httpx.Client(transport=httpx.MockTransport(receiver)) as client:
            async with outbox_worker(factory=factory, client=client, tokens=AccessTokens(), interval=0.01):
                assert await asyncio.to_thread(started.wait, 10)
                asyncio.get_running_loop().call_later(0.2, release.set)
                stopping = time.monotonic()
            return time.monotonic() - stopping

    try:
        waited = run_in_own_loop(run_then_stop)
        with factory() as session:
            messages = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    finally:
        engine.dispose()

    assert waited >= 0.15  # the stop waited for the delivery in flight
    assert received == [1]
    first, second = messages
    assert (first.status, first.attempts) == ("sent", 1)
    # The next one was not claimed: still due, no attempt counted, for the next server to send.
    assert (second.status, second.attempts) == ("pending", 0)
    assert second.next_attempt_at.replace(tzinfo=None) == due.replace(tzinfo=None)
