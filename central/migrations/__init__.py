"""Alembic script directory of the central database (run by ``central.db.migrate``)."""
