"""Where a request's database work runs: on the event loop for SQLite, in a thread otherwise.

SQLite is a library inside this process: a query on the API's indexed paths is CPU work of
well under a millisecond to a few milliseconds, and Python runs one thread at a time anyway.
Handing each step of a request to a worker thread and back (the auth dependency, the route,
closing the session) cost more than the work itself: the clip list took 4.1–5.6 ms of CPU per
response that way against 2.1 ms inline (one uvicorn worker, 16 connections, 50 000 clips;
``docs/performance.md``). PostgreSQL waits on the network, so its work stays in the thread
pool (capped by ``Settings.api_threads``), where the event loop keeps serving meanwhile.

Only reads and short writes run inline. SQLite's writer lock may be held by the ingest
process for a batch; a write that could wait on it (the session's "last used" stamp) goes to
a thread on every database (``central.api.deps``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from anyio import to_thread
from sqlalchemy.orm import Session

T = TypeVar("T")


def inline(session: Session) -> bool:
    """Whether ``session``'s database work runs on the event loop (SQLite)."""
    return session.get_bind().dialect.name == "sqlite"


async def run_db(session: Session, work: Callable[[], T]) -> T:
    """``work()`` inline on SQLite, in the API's thread pool on any other database."""
    if inline(session):
        return work()
    return await to_thread.run_sync(work)
