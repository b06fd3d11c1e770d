"""The wire contract: topics, payload models and codec round-trip; bad input names the field."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import codec, models, ranges, topics
from wire.errors import WireError
from wire.ids import new_ulid

ids = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")
aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
).map(lambda d: d.astimezone(timezone(timedelta(hours=8))))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.text(max_size=40),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(site=ids, device=ids, file_id=ids, offset=st.integers(0, 10**12))
def test_file_topics_round_trip(site: str, device: str, file_id: str, offset: int) -> None:
    parsed = topics.parse(topics.file_chunk(site, device, file_id, offset))
    assert (parsed.site, parsed.device, parsed.kind) == (site, device, "file-chunk")
    assert (parsed.file_id, parsed.offset) == (file_id, offset)
    assert topics.parse(topics.file_init(site, device, file_id)).kind == "file-init"
    assert topics.parse(topics.file_fin(site, device, file_id)).kind == "file-fin"
    assert topics.is_file_chunk(topics.file_chunk(site, device, file_id, offset))
    assert not topics.is_file_chunk(topics.file_init(site, device, file_id))
    assert not topics.is_file_chunk(topics.file_fin(site, device, file_id))
    for kind in topics.UP_KINDS:
        assert not topics.is_file_chunk(topics.up(site, device, kind))


@given(site=ids, device=ids, kind=st.sampled_from(topics.UP_KINDS))
def test_up_topics_round_trip(site: str, device: str, kind: str) -> None:
    assert topics.parse(topics.up(site, device, kind)) == topics.Topic(site, device, "up", kind)


@pytest.mark.parametrize(
    "topic, names",
    [
        ("rw/v1/3700/02001/dev/up/event", "up/down"),
        ("rw/v2/s/d/up/event", "does not start"),
        ("rw/v1/s/d/up/file/abc/12x", "file leaf"),
        ("rw/v1/s p/d/up/event", "site"),
        ("rw/v1/s/" + "d" * 65 + "/up/event", "device"),
        ("rw/v1/s/d/up/unknown", "not a known up topic"),
    ],
)
def test_bad_topics_are_refused_with_the_level_named(topic: str, names: str) -> None:
    with pytest.raises(WireError, match=names):
        topics.parse(topic)


def test_registration_number_cannot_be_a_topic_level() -> None:
    with pytest.raises(WireError, match="site"):
        topics.up("3700/02001", "edge01", "event")


@given(
    seq=st.integers(1, 2**62),
    when=aware,
    kind=st.sampled_from(models.EVENT_KINDS),
    data=st.dictionaries(st.text(min_size=1, max_size=10), scalars, max_size=5),
    synced=st.booleans(),
)
def test_event_round_trip(seq: int, when: datetime, kind: str, data: dict, synced: bool) -> None:
    event = models.EventMessage(
        sent_at=when,
        clock_synced=synced,
        seq=seq,
        id=new_ulid(),
        kind=kind,  # type: ignore[arg-type]
        occurred_at=when,
        data=data,
    )
    decoded = codec.decode(models.EventMessage, codec.encode(event))
    assert decoded == event
    assert decoded.occurred_at.utcoffset() == timedelta(hours=8)


@given(size=st.integers(1, 8 * 1024**3), when=aware, length=st.integers(1, 10**6))
def test_file_init_round_trip(size: int, when: datetime, length: int) -> None:
    init = models.FileInit(
        sent_at=when,
        clock_synced=True,
        seq=7,
        file_id=new_ulid(),
        name="s_c_20261127T120000+0800.mp4",
        size=size,
        sha256="a" * 64,
        kind="clip",
        camera="cam1",
        start=when,
        end=when + timedelta(microseconds=length),
        event_ids=[new_ulid()],
        chunk_size=1024 * 1024,
    )
    assert codec.decode(models.FileInit, codec.encode(init)) == init


def test_naive_timestamp_is_refused_with_the_field_named() -> None:
    payload = (
        b'{"v":1,"sent_at":"2026-11-27T12:00:00","clock_synced":true,"seq":1,'
        b'"id":"01J","kind":"mark","occurred_at":"2026-11-27T12:00:00+08:00"}'
    )
    with pytest.raises(WireError, match=r"EventMessage\.sent_at: .*UTC offset"):
        codec.decode(models.EventMessage, payload)


@pytest.mark.parametrize(
    "payload, names",
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"v": 2}', "v"),
        (b'{"v":1,"file_id":"x","size":1,"sha256":"A' + b"0" * 63 + b'"}', "sha256"),
        (b'{"v":1,"file_id":"x","size":1,"sha256":"' + b"0" * 64 + b'","extra":1}', "extra"),
        (b"{" + b" " * codec.MAX_JSON_BYTES + b"}", "exceeds"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"v": ' + b"9" * 5000 + b"}", "unreadable JSON"),
    ],
)
def test_malformed_payloads_name_the_problem(payload: bytes, names: str) -> None:
    with pytest.raises(WireError, match=names):
        codec.decode(models.FileFin, payload)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_wire_error(payload: bytes) -> None:
    for model in (models.EventMessage, models.FileInit, models.AckMessage, models.CommandMessage):
        with contextlib.suppress(WireError):
            codec.decode(model, payload)


def test_file_init_refuses_end_before_start() -> None:
    now = datetime.now(timezone.utc)
    with pytest.raises(ValueError, match="end must be after start"):
        models.FileInit(
            sent_at=now,
            clock_synced=True,
            seq=1,
            file_id="f",
            name="a.mp4",
            size=1,
            sha256="0" * 64,
            kind="clip",
            camera="c",
            start=now,
            end=now,
            chunk_size=1024,
        )


@given(
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), max_size=20),
    st.integers(0, 1200),
)
def test_missing_and_merged_ranges_partition_the_file(spans: list, size: int) -> None:
    held = ranges.merge(spans)
    gaps = ranges.missing(held, size)
    covered = set()
    for start, end in held:
        covered.update(range(start, min(end, size)))
    assert {i for g in gaps for i in range(*g)} == set(range(size)) - covered
    assert ranges.covered(held + gaps, size)


def test_ulids_sort_by_time_and_are_unique() -> None:
    first, second = new_ulid(1_000), new_ulid(2_000)
    assert len(first) == 26 and first < second
    assert len({new_ulid() for _ in range(1000)}) == 1000


def test_committed_asyncapi_document_matches_the_models() -> None:
    from pathlib import Path

    from wire import asyncapi

    committed = Path(__file__).parents[2] / "docs" / "asyncapi.yaml"
    assert committed.read_text() == asyncapi.render(), (
        "run: python -m wire.asyncapi > docs/asyncapi.yaml"
    )
