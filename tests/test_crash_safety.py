"""Nothing acknowledged is ever lost: the server is killed with SIGKILL in the middle of a stream of submissions.

Clients send submissions with an ``Idempotency-Key`` each; about half way the server is killed outright, as a
power cut or the OOM killer would. After a restart every request that got no answer is sent again with its own
key, as a client following the API's advice does. Then the database, read directly, must hold every submission
that was acknowledged with a 201 (under the id the 201 named) and no submission twice: the one stored just
before the kill but never acknowledged is found by its key and replayed, not stored again. Also: a retry sent
while the first request is still being processed gets the same submission.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from served_app import ServedApp, fresh_database, prepare
from sqlalchemy import func, select

from app.db.integrations import IdempotencyKey
from app.db.models import Submission
from app.db.session import make_engine, make_sessionmaker

SUBMIT = "/api/v1/cards/evaluate-student-models/submissions"
TOTAL = 200
KILL_AFTER = 100  # acknowledged submissions before the kill
SENDERS = 8
DUPLICATED = 20  # keys sent twice at once after the restart


@dataclass
class Sent:
    """One submission: its key and body, and the id and status of the answer it got (None: no answer)."""

    key: str
    body: dict[str, Any]
    status: int | None = None
    submission_id: int | None = None
    replayed: bool = False


def submission(index: int) -> Sent:
    # The free-text answer makes each submission recognisable in the database.
    answers = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": f"submission {index}"}
    return Sent(key=f"crash-{index}", body={"seed": 0, "answers": answers})


def send(client: httpx.Client, server: ServedApp, sent: Sent) -> None:
    try:
        response = client.post(server.url(SUBMIT), json=sent.body, headers={"Idempotency-Key": sent.key})
    except httpx.TransportError:
        return  # no answer: the server is gone; the client will retry this one
    sent.status = response.status_code
    if response.status_code == 201:
        sent.submission_id = int(response.json()["id"])
        sent.replayed = response.headers.get("Idempotent-Replayed") == "true"


def stored(url: str) -> tuple[dict[str, int], Counter[str], int]:
    """From the database itself: each answer text's submission id, how often each text is stored, the keys kept."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(select(Submission.id, Submission.answers)).all()
            keys = int(session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)
    finally:
        engine.dispose()
    texts = Counter(str(answers["reasoning"]) for _, answers in rows)
    ids = {str(answers["reasoning"]): int(ident) for ident, answers in rows}
    return ids, texts, keys


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_every_acknowledged_submission_survives_a_kill_and_none_is_stored_twice(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = prepare(database, monkeypatch, capsys)
    headers = {"Authorization": f"Bearer {token}"}
    submissions = [submission(index) for index in range(TOTAL)]
    acknowledged = 0
    lock = threading.Lock()

    first = ServedApp(database, tmp_path).start()
    try:
        assert first.process is not None
        process = first.process

        def send_and_kill(client: httpx.Client, sent: Sent) -> None:
            nonlocal acknowledged
            send(client, first, sent)
            with lock:
                acknowledged += sent.status == 201
                if acknowledged == KILL_AFTER and process.poll() is None:
                    process.kill()  # SIGKILL: no shutdown, requests in flight are cut off

        with httpx.Client(headers=headers, timeout=10) as client, ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(lambda sent: send_and_kill(client, sent), submissions))
        process.wait(timeout=10)
    finally:
        first.stop()

    answered = [sent for sent in submissions if sent.status is not None]
    unanswered = [sent for sent in submissions if sent.status is None]
    assert all(sent.status == 201 for sent in answered), {sent.status for sent in answered}
    assert KILL_AFTER <= len(answered) < TOTAL, "the kill came too late to cut anything off"
    acknowledged_before = {sent.key: sent.submission_id for sent in answered}

    with ServedApp(database, tmp_path, port=first.port) as second, httpx.Client(headers=headers, timeout=10) as client:
        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(lambda sent: send(client, second, sent), unanswered))
        # A client that gave up waiting sends again while the first request is still being processed.
        duplicated = [submission(TOTAL + index) for index in range(DUPLICATED)]
        twins = [Sent(key=sent.key, body=sent.body) for sent in duplicated]
        interleaved = [sent for pair in zip(duplicated, twins, strict=True) for sent in pair]
        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(lambda sent: send(client, second, sent), interleaved))

    assert all(sent.status == 201 for sent in submissions), Counter(sent.status for sent in submissions)
    assert all(sent.status == 201 for sent in duplicated + twins)
    assert [sent.submission_id for sent in duplicated] == [sent.submission_id for sent in twins]
    for sent in answered:  # a retry never changes what was acknowledged
        assert sent.submission_id == acknowledged_before[sent.key]

    ids, texts, keys = stored(database)
    everything = submissions + duplicated
    assert sum(texts.values()) == len(everything) == keys
    assert [text for text, times in texts.items() if times > 1] == []
    for sent in everything:
        assert ids[str(sent.body["answers"]["reasoning"])] == sent.submission_id
