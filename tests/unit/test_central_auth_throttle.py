"""The lockout and the per-address limit on a clock the test sets (no sleeping)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from central.auth import throttle
from central.auth.throttle import AccountLocked, ClientRateLimited, LoginPolicy
from central.db import Database
from central.settings import Settings

pytest_plugins = ["tests.central_fixtures"]

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
POLICY = LoginPolicy(
    max_failures=3,
    failure_window=timedelta(minutes=10),
    lockout=timedelta(minutes=15),
    client_limit=4,
    client_window=timedelta(seconds=60),
)


def fail(session: Session, name: str, at: datetime, policy: LoginPolicy = POLICY) -> bool:
    """Record a failed sign-in; True if it locked the name."""
    throttle.record(session, name, "10.0.0.1", "fail", at)
    return throttle.after_failure(session, policy, name, at) is not None


def locked(session: Session, name: str, at: datetime) -> bool:
    try:
        throttle.check_lock(session, name, at)
    except AccountLocked:
        return True
    return False


def test_failures_within_the_window_lock_for_the_lockout_time(central_db: Database) -> None:
    with central_db.session() as session:
        assert not fail(session, "mona", T0)
        assert not fail(session, "mona", T0 + timedelta(minutes=4))
        assert fail(session, "mona", T0 + timedelta(minutes=9))
        lock_end = T0 + timedelta(minutes=24)
        assert locked(session, "mona", lock_end - timedelta(seconds=1))
        with pytest.raises(AccountLocked) as raised:
            throttle.check_lock(session, "mona", T0 + timedelta(minutes=20))
        assert raised.value.retry_after == 4 * 60
        assert not locked(session, "mona", lock_end)
        assert not locked(session, "other", T0 + timedelta(minutes=10))


def test_counting_starts_again_after_a_lock(central_db: Database) -> None:
    long = LoginPolicy(3, timedelta(hours=1), timedelta(minutes=5), 100, timedelta(seconds=60))
    with central_db.session() as session:
        assert [fail(session, "mona", T0 + timedelta(minutes=m), long) for m in (0, 1, 2)] == [
            False,
            False,
            True,
        ]
        assert not locked(session, "mona", T0 + timedelta(minutes=7))
        assert not fail(session, "mona", T0 + timedelta(minutes=8), long)
        assert not fail(session, "mona", T0 + timedelta(minutes=9), long)
        assert fail(session, "mona", T0 + timedelta(minutes=10), long)


def test_failures_spread_wider_than_the_window_do_not_lock(central_db: Database) -> None:
    with central_db.session() as session:
        for minutes in (0, 6, 12, 18, 24):
            assert not fail(session, "mona", T0 + timedelta(minutes=minutes))
        assert not locked(session, "mona", T0 + timedelta(minutes=25))


def test_a_success_or_an_unlock_forgets_earlier_failures(central_db: Database) -> None:
    with central_db.session() as session:
        fail(session, "mona", T0)
        fail(session, "mona", T0 + timedelta(minutes=1))
        throttle.record(session, "mona", "10.0.0.1", "ok", T0 + timedelta(minutes=2))
        assert not fail(session, "mona", T0 + timedelta(minutes=3))
        assert not fail(session, "mona", T0 + timedelta(minutes=4))
        assert not throttle.unlock(session, "mona", "test", T0 + timedelta(minutes=5))
        assert not fail(session, "mona", T0 + timedelta(minutes=6))
        assert not fail(session, "mona", T0 + timedelta(minutes=7))
        assert fail(session, "mona", T0 + timedelta(minutes=8))
        assert throttle.unlock(session, "mona", "test", T0 + timedelta(minutes=9))
        assert not locked(session, "mona", T0 + timedelta(minutes=9))


def test_client_limit_counts_requests_in_a_sliding_window(central_db: Database) -> None:
    with central_db.session() as session:
        for second in (0, 10, 20, 30):
            throttle.check_client(session, POLICY, "10.0.0.1", T0 + timedelta(seconds=second))
            throttle.record(session, "x", "10.0.0.1", "fail", T0 + timedelta(seconds=second))
        with pytest.raises(ClientRateLimited) as first:
            throttle.check_client(session, POLICY, "10.0.0.1", T0 + timedelta(seconds=45))
        assert first.value.retry_after == 15 and first.value.first
        with pytest.raises(ClientRateLimited) as again:
            throttle.check_client(session, POLICY, "10.0.0.1", T0 + timedelta(seconds=50))
        assert again.value.retry_after == 10 and not again.value.first
        throttle.check_client(session, POLICY, "10.0.0.2", T0 + timedelta(seconds=50))
        throttle.check_client(session, POLICY, "10.0.0.1", T0 + timedelta(seconds=60))


def test_old_attempts_are_pruned(central_db: Database) -> None:
    wide = LoginPolicy(2, timedelta(days=9), timedelta(minutes=1), 100, timedelta(days=9))
    with central_db.session() as session:
        throttle.record(session, "mona", "10.0.0.1", "fail", T0)
        throttle.record(session, "mona", "10.0.0.1", "fail", T0 + timedelta(days=2))
        throttle.prune(session, T0 + timedelta(days=2, seconds=1))
        # two failures would lock; the first one is gone
        assert throttle.after_failure(session, wide, "mona", T0 + timedelta(days=2)) is None


def test_default_policy(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40)
    assert LoginPolicy.from_settings(settings) == LoginPolicy(
        max_failures=5,
        failure_window=timedelta(minutes=15),
        lockout=timedelta(minutes=15),
        client_limit=30,
        client_window=timedelta(seconds=60),
    )
    assert settings.access_token_minutes == 15 and settings.refresh_token_hours == 12
