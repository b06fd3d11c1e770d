"""The Alembic migrations build exactly the schema the models describe (SQLite and
PostgreSQL): a column, index or table added to one and not the other fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from central.db import Base, Database

pytest_plugins = ["tests.central_fixtures"]


def test_migrated_schema_matches_the_models(central_db: Database) -> None:
    with central_db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "models and migrations differ:\n" + "\n".join(map(str, differences))
