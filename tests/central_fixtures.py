"""Fixtures and message builders for the central tests (SQLite, or PostgreSQL when
``REEFERWATCH_TEST_PG`` names a server). Test modules load it with ``pytest_plugins``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from central.blobs import FileBlobStore
from central.db import Database
from central.ingest import IngestService
from central.settings import Settings
from tests.central_messages import DEVICE, SITE
from tests.keys import TEST_DEVICE_KEY, trust_key

SECRET = "x" * 16 + "test-secret-0123456789abcdef"


def _pg_database(server_url: str) -> Iterator[str]:
    import psycopg

    url = make_url(server_url)
    name = f"rw_test_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def central_db_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database."""
    server = os.environ.get("REEFERWATCH_TEST_PG")
    if server:
        yield from _pg_database(server)
    else:
        yield f"sqlite:///{tmp_path / 'central.db'}"


@pytest.fixture
def central_settings(tmp_path: Path, central_db_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "central",
        database_url=central_db_url,
        secret_key=SECRET,
        mqtt_host="127.0.0.1",
    )


@pytest.fixture
def central_db(central_settings: Settings) -> Iterator[Database]:
    with Database(central_settings.database_url) as db:
        db.migrate()
        trust_key(db, SITE, DEVICE, TEST_DEVICE_KEY)  # the device of tests.central_messages
        yield db


@pytest.fixture
def blobs(central_settings: Settings) -> FileBlobStore:
    return FileBlobStore(central_settings.data_dir)


@pytest.fixture
def ingest(central_db: Database, blobs: FileBlobStore) -> IngestService:
    return IngestService(central_db, blobs)
