"""The retention sweep against ingest: a clip arriving with the content of a clip the sweep is
deleting keeps its file, whatever the interleaving; blobs moved aside by a crash come back."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timedelta

import pytest

from central.blobs import IN_USE_S, FileBlobStore
from central.db import Clip, Database
from central.retention import Periods
from central.retention_sweep import Sweeper
from tests.central_messages import DEVICE, SITE, T0

pytest_plugins = ["tests.central_fixtures"]

PERIODS = Periods(standard_days=180, anomaly_days=1096, evidence_days=0)
NOW = datetime.fromisoformat("2027-06-01T00:00:00+00:00")
DAY = timedelta(days=1)
BODY = b"the same recording" * 100
SHA = hashlib.sha256(BODY).hexdigest()


def _stored_long_ago(blobs: FileBlobStore) -> None:
    path = blobs.path(SHA)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BODY)
    long_ago = time.time() - 200 * DAY.total_seconds()
    os.utime(path, (long_ago, long_ago))


def _clip(db: Database, clip_id: str, received: datetime) -> None:
    with db.session() as session:
        session.add(
            Clip(
                id=clip_id,
                site=SITE,
                device=DEVICE,
                camera="cam-1",
                kind="clip",
                name=f"{clip_id}.mp4",
                size=len(BODY),
                sha256=SHA,
                start=T0,
                end=T0 + timedelta(seconds=30),
                event_ids=[],
                seq=1,
                clock_synced=True,
                received_at=received,
                verified=True,
                retention_class="standard",
                retain_until=received + 180 * DAY,
            )  # fmt: skip
        )
        session.commit()


@pytest.fixture
def expiring(central_db: Database, blobs: FileBlobStore) -> None:
    """One expired clip; its blob was last used 200 days ago."""
    _stored_long_ago(blobs)
    _clip(central_db, "old", NOW - 200 * DAY)


@pytest.mark.usefixtures("expiring")
def test_a_copy_arriving_before_the_sweep_looks_keeps_the_blob(
    central_db: Database, blobs: FileBlobStore
) -> None:
    # ingest has stored the new clip's file (a copy: the blob exists), its row not committed
    partial = blobs.partial_path("new")
    partial.write_bytes(BODY)
    blobs.put_file(partial, SHA)
    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert report.deleted == 1 and report.blobs_removed == 0
    assert report.blobs_in_use == [SHA]
    assert blobs.exists(SHA)
    _clip(central_db, "new", NOW)  # ingest commits: its clip has its file
    with blobs.open(SHA) as handle:
        assert handle.read() == BODY


@pytest.mark.usefixtures("expiring")
def test_a_copy_arriving_while_the_blob_is_aside_installs_its_own(
    central_db: Database, blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_time = time.time
    arrived: list[str] = []

    def ingest_arrives_now() -> float:
        # ``retire`` reads the clock right after moving the blob aside: ingest stores the
        # new clip's file at that very moment, finds no blob and installs its own copy
        if not arrived:
            assert not blobs.exists(SHA)
            partial = blobs.partial_path("new")
            partial.write_bytes(BODY)
            arrived.append(blobs.put_file(partial, SHA))
        return real_time()

    monkeypatch.setattr("central.blobs.time.time", ingest_arrives_now)
    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    monkeypatch.undo()
    assert arrived == [SHA]
    assert report.deleted == 1 and report.blobs_removed == 1  # the old copy, aside
    _clip(central_db, "new", NOW)
    with blobs.open(SHA) as handle:
        assert handle.read() == BODY


@pytest.mark.usefixtures("expiring")
def test_a_blob_kept_for_ingest_that_never_committed_goes_with_a_later_run(
    central_db: Database, blobs: FileBlobStore
) -> None:
    partial = blobs.partial_path("new")
    partial.write_bytes(BODY)
    blobs.put_file(partial, SHA)  # ingest used it, then its transaction was lost
    first = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert first.blobs_in_use == [SHA] and blobs.exists(SHA)

    kept = Sweeper(central_db, blobs, PERIODS, now=NOW).run()  # still within the hour
    assert kept.blobs_in_use == [SHA] and blobs.exists(SHA)

    long_ago = time.time() - IN_USE_S - 1
    os.utime(blobs.path(SHA), (long_ago, long_ago))
    later = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert later.orphans_removed == 1 and later.blobs_in_use == []
    assert not blobs.exists(SHA)


def test_a_blob_left_aside_by_a_crash_is_put_back(
    central_db: Database, blobs: FileBlobStore
) -> None:
    _stored_long_ago(blobs)
    _clip(central_db, "young", NOW - DAY)
    target = blobs.path(SHA)
    os.replace(target, target.with_name(SHA + ".retiring"))  # retire() stopped halfway
    assert not blobs.exists(SHA)
    report = Sweeper(central_db, blobs, PERIODS, now=NOW).run()
    assert report.deleted == 0 and blobs.exists(SHA)
