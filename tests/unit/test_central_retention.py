"""Retention periods: settings validation, the environment, and ``retain_until``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from central.retention import Periods, RetentionConflict, configured_periods, rank, retain_until
from central.settings import RetentionSettings, Settings

ARRIVED = datetime.fromisoformat("2026-11-27T00:00:00+00:00")


@pytest.fixture
def fresh_periods() -> Iterator[None]:
    configured_periods.cache_clear()
    yield
    configured_periods.cache_clear()


def test_defaults_keep_standard_half_a_year_anomalies_three_years_evidence_for_good() -> None:
    periods = Periods.of(Settings(data_dir="/nonexistent", secret_key="k" * 40))
    assert periods == Periods(standard_days=180, anomaly_days=1096, evidence_days=0)
    assert retain_until("standard", ARRIVED, periods) == ARRIVED + timedelta(days=180)
    assert retain_until("anomaly", ARRIVED, periods) == ARRIVED + timedelta(days=1096)
    assert retain_until("evidence", ARRIVED, periods) is None
    assert periods.finite() == ["standard", "anomaly"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REEFERWATCH_RETENTION_ANOMALY_DAYS": "90"}, "retention_anomaly_days (90) is shorter"),
        ({"REEFERWATCH_RETENTION_EVIDENCE_DAYS": "365"}, "retention_evidence_days (365)"),
        ({"REEFERWATCH_RETENTION_STANDARD_DAYS": "0", "REEFERWATCH_RETENTION_ANOMALY_DAYS": "400"},
         "than retention_standard_days (for good)"),
        ({"REEFERWATCH_RETENTION_STANDARD_DAYS": "-1"}, "greater than or equal to 0"),
        ({"REEFERWATCH_RETENTION_STANDARD_DAYS": "half a year"}, "valid integer"),
    ],
)  # fmt: skip
def test_inconsistent_periods_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RetentionSettings()


def test_periods_come_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, fresh_periods: None
) -> None:
    monkeypatch.setenv("REEFERWATCH_RETENTION_STANDARD_DAYS", "365")
    monkeypatch.setenv("REEFERWATCH_RETENTION_EVIDENCE_DAYS", "7300")
    assert retain_until("standard", ARRIVED) == ARRIVED + timedelta(days=365)
    assert retain_until("evidence", ARRIVED) == ARRIVED + timedelta(days=7300)
    monkeypatch.setenv("REEFERWATCH_RETENTION_STANDARD_DAYS", "400")
    assert configured_periods().standard_days == 365  # read once per process


def test_unknown_class_is_an_error() -> None:
    with pytest.raises(RetentionConflict, match="'forever'"):
        retain_until("forever", ARRIVED, Periods())
    with pytest.raises(RetentionConflict):
        rank("forever")
    assert rank("standard") < rank("anomaly") < rank("evidence")
