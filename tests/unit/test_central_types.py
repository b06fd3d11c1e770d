"""UTCDateTime on SQLite: what comes back is aware UTC, whatever form the text was stored in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select, text

from central.db.types import UTCDateTime

CST = timezone(timedelta(hours=8))


@pytest.fixture()
def table_and_engine() -> Iterator[tuple[Table, Engine]]:
    engine = create_engine("sqlite://")
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    meta.create_all(engine)
    yield table, engine
    engine.dispose()


def test_round_trip_of_an_offset_time_is_the_same_instant_in_utc(
    table_and_engine: tuple[Table, Engine],
) -> None:
    table, engine = table_and_engine
    local = datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=CST)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, at=local))
        conn.execute(insert(table).values(id=2, at=None))
        stored = conn.execute(text("SELECT at FROM t WHERE id = 1")).scalar_one()
        back = dict(conn.execute(select(table.c.id, table.c.at)).all())
    assert stored == "2026-12-06 01:30:15.123456"  # naive UTC text: sorts as time does
    assert back[1] == local and back[1].tzinfo == timezone.utc
    assert back[2] is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-06 01:30:15", datetime(2026, 12, 6, 1, 30, 15, tzinfo=timezone.utc)),
        ("2026-12-06T09:30:15+08:00", datetime(2026, 12, 6, 1, 30, 15, tzinfo=timezone.utc)),
        ("2026-12-05 22:30:15.5-03:00", datetime(2026, 12, 6, 1, 30, 15, 500000, timezone.utc)),
        ("2026-12-06T01:30:15Z", datetime(2026, 12, 6, 1, 30, 15, tzinfo=timezone.utc)),
        ("2026-12-06 01:30:15.000001", datetime(2026, 12, 6, 1, 30, 15, 1, timezone.utc)),
    ],
)
def test_text_written_by_hand_is_read_as_utc(
    table_and_engine, raw: str, expected: datetime
) -> None:
    table, engine = table_and_engine
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (id, at) VALUES (1, :at)"), {"at": raw})
        back = conn.execute(select(table.c.at)).scalar_one()
    assert back == expected and back.utcoffset() == timedelta(0)


OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                        max_value=timedelta(hours=23, minutes=59)).map(timezone)  # fmt: skip
TIMES = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30),
                     timezones=OFFSETS)  # fmt: skip


@given(at=TIMES)
def test_any_aware_time_comes_back_as_the_same_instant_in_utc(at: datetime) -> None:
    engine = create_engine("sqlite://")
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    meta.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(insert(table).values(id=1, at=at))
            back = conn.execute(select(table.c.at)).scalar_one()
    finally:
        engine.dispose()
    assert back == at and back.utcoffset() == timedelta(0)
