"""Central database: typed SQLAlchemy models, the engine wrapper and the Alembic runner."""

from central.db.engine import Database, migrate
from central.db.models import Audit, Base, Clip, ClipEvent, Device, Event, Transfer, User

__all__ = [
    "Audit",
    "Base",
    "Clip",
    "ClipEvent",
    "Database",
    "Device",
    "Event",
    "Transfer",
    "User",
    "migrate",
]
