"""A real app on the migrated test database (SQLite, and PostgreSQL when configured) with the built-in bank.

Loading the bank parses and checks every YAML card, which takes a second or more; it is done once per run
with ``load_cards`` into a scratch database, and each test's database gets a copy of the rows it wrote.

Accounts: ``make_user(role, email=None)`` creates a user (password ``PASSWORD``); ``signed_in(client, user)``
signs a client in through the sign-in form and presets its ``X-CSRF-Token`` header; ``learner_client``,
``instructor_client`` and ``admin_client`` are such clients for a fresh user of each role (``client.user``).
``csrf_headers(client)`` gives the header a cookie client sends on a POST; ``form_csrf_token(html)`` reads
the token out of a page's form. Those helpers live in ``accounts_support.py``: import them from there
(``from accounts_support import csrf_headers``), since another folder's conftest may answer to ``conftest``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from accounts_support import (  # noqa: F401 (names the fixtures below use)
    PASSWORD,
    SECRET_KEY,
    MakeUser,
    UserClient,
    csrf_headers,
    form_csrf_token,
    signed_in,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, text, update

from app.config import Settings
from app.db.migrate import upgrade
from app.db.models import Card, CardVersion, User
from app.db.session import make_engine, make_sessionmaker
from app.main import create_app
from app.services.accounts import create_user
from app.services.bank import load_cards
from app.web.guest import COOKIE_NAME, GuestSigner


@dataclass(frozen=True)
class BankRows:
    """The card and card_version rows that loading the built-in bank writes."""

    cards: list[dict[str, Any]]
    versions: list[dict[str, Any]]


@pytest.fixture(scope="session")
def bank_rows(tmp_path_factory: pytest.TempPathFactory) -> BankRows:
    url = f"sqlite:///{tmp_path_factory.mktemp('bank') / 'bank.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            load_cards(session=session, path=Settings(_env_file=None).bank_dir)
        with engine.connect() as connection:
            cards = [dict(row._mapping) for row in connection.execute(select(Card.__table__))]
            versions = [dict(row._mapping) for row in connection.execute(select(CardVersion.__table__))]
    finally:
        engine.dispose()
    return BankRows(cards=cards, versions=versions)


def insert_bank(engine: Engine, rows: BankRows) -> None:
    """Write the bank's rows; cards and versions point at each other, so the cards' pointers come last."""
    with engine.begin() as connection:
        connection.execute(insert(Card), [{**card, "current_version_id": None} for card in rows.cards])
        connection.execute(insert(CardVersion), rows.versions)
        for card in rows.cards:
            connection.execute(
                update(Card).where(Card.id == card["id"]).values(current_version_id=card["current_version_id"])
            )
        if engine.dialect.name == "postgresql":
            # Rows were written with their ids, so the sequences must be moved past them by hand.
            for table in (Card.__table__, CardVersion.__table__):
                highest = connection.scalar(select(func.max(table.c.id)))
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :highest)"),
                    {"highest": highest},
                )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SECRET_KEY,
        secret_key_file=tmp_path / "secret_key",
    )


@pytest.fixture
def app(settings: Settings, bank_rows: BankRows) -> Iterator[FastAPI]:
    """The app on this test's empty, migrated database with the built-in cards published."""
    application = create_app(settings)
    insert_bank(application.state.engine, bank_rows)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A browser-like client: it keeps its guest cookie from one request to the next."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def make_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """``make_client()`` gives another client of the same app: another guest, with its own cookies."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        clients.append(TestClient(app))
        return clients[-1]

    yield make
    for extra in clients:
        extra.close()


@pytest.fixture
def guest_id_of(settings: Settings) -> Callable[[TestClient], str]:
    """``guest_id_of(client)`` reads the guest id in the client's signed cookie (failing if it has none)."""
    signer = GuestSigner(settings.signing_key())

    def read(test_client: TestClient) -> str:
        found = signer.read(test_client.cookies.get(COOKIE_NAME))
        assert found is not None, "the client has no genuine guest cookie"
        return found[0]

    return read


# --- accounts -------------------------------------------------------------------------------------------------


@pytest.fixture
def make_user(app: FastAPI) -> MakeUser:
    """``make_user(role="learner", email=None, password=PASSWORD)`` creates a user in the app's database."""
    numbers = itertools.count(1)

    def make(role: str = "learner", email: str | None = None, password: str = PASSWORD) -> User:
        address = email or f"{role}-{next(numbers)}@example.org"
        with app.state.sessionmaker() as session:
            return create_user(session=session, email=address, password=password, role=role)

    return make


@pytest.fixture
def user_client(app: FastAPI, make_user: MakeUser) -> Iterator[Callable[[str], UserClient]]:
    """``user_client(role)``: a new client signed in as a new user of ``role``."""
    clients: list[UserClient] = []

    def make(role: str) -> UserClient:
        client = UserClient(app)
        clients.append(client)
        client.user = make_user(role)
        signed_in(client, client.user)
        return client

    yield make
    for made in clients:
        made.close()


@pytest.fixture
def learner_client(user_client: Callable[[str], UserClient]) -> UserClient:
    return user_client("learner")


@pytest.fixture
def instructor_client(user_client: Callable[[str], UserClient]) -> UserClient:
    return user_client("instructor")


@pytest.fixture
def admin_client(user_client: Callable[[str], UserClient]) -> UserClient:
    return user_client("admin")
