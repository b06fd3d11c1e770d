"""Keyset pagination and time-window filters shared by the list routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import HTTPException, Query, Response, status
from pydantic import AfterValidator, AwareDatetime, TypeAdapter
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from central.api.cursor import decode_cursor, encode_cursor
from central.api.dbwork import run_db
from wire.errors import WireError

EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)  # leaves room for offsets and clip bounds
LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc)


def _storable(value: datetime) -> datetime:
    """A query time the database can hold (year 1 + a day … year 9999 − a day, in UTC)."""
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError as exc:
        raise ValueError("time out of range") from exc
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"time out of range {EARLIEST:%Y-%m-%d} … {LATEST:%Y-%m-%d}")
    return value


QueryTime = Annotated[
    AwareDatetime | None,
    AfterValidator(lambda v: None if v is None else _storable(v)),
    Query(description="ISO-8601 with offset"),
]


def after_cursor(
    query: Select[Any],
    cursor: str | None,
    time_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[str],
) -> Select[Any]:
    """Restrict ``query`` to items strictly after ``cursor`` in (time desc, id desc) order."""
    query = query.order_by(time_col.desc(), id_col.desc())
    if cursor is None:
        return query
    try:
        at, item_id = decode_cursor(cursor)
    except WireError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return query.where(or_(time_col < at, and_(time_col == at, id_col < item_id)))


def page(rows: list[Any], limit: int, time_attr: str) -> tuple[list[Any], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the next cursor."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, time_attr), last.id)


def check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="end must be after start")


async def json_page(
    session: Session,
    query: Select[Any],
    limit: int,
    time_attr: str,
    fields: Callable[[dict[str, Any]], dict[str, Any]],
    adapter: TypeAdapter[Any],
) -> Response:
    """Run a list query (``limit + 1`` Core rows, no ORM objects) where ``dbwork`` puts it
    and answer its page as JSON: each row's columns through ``fields``, validated once as the
    page (``adapter``) and serialised once."""

    def body() -> bytes:
        result = session.connection().execute(query)
        keys = tuple(result.keys())
        rows, next_cursor = page(list(result), limit, time_attr)
        items = [fields(dict(zip(keys, r, strict=True))) for r in rows]
        return adapter.dump_json(
            adapter.validate_python({"items": items, "next_cursor": next_cursor})
        )

    return Response(await run_db(session, body), media_type="application/json")
