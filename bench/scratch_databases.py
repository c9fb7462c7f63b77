"""Throwaway databases for the benchmarks that start the real server: a SQLite file or a PostgreSQL database.

``url, name = create_database("postgresql", work, label="load")`` … ``drop_database(name)`` when ``name``.
The PostgreSQL server is the local one (trust authentication), as on the development and CI machines.
"""

from __future__ import annotations

import os
from pathlib import Path

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def create_database(kind: str, work: Path, *, label: str) -> tuple[str, str | None]:
    """A fresh database's URL, and the PostgreSQL database's name to drop afterwards (None for SQLite)."""
    if kind == "sqlite":
        return f"sqlite:///{work / f'{label}.db'}", None
    import psycopg

    name = f"bench_{label}_{os.getpid()}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
