"""Central database: typed SQLAlchemy models, the engine wrapper and the Alembic runner."""

from central.db.engine import Database, migrate
from central.db.models import Alarm, Audit, Base, Clip, ClipEvent, Device, Event, Transfer, User

__all__ = [
    "Alarm",
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
