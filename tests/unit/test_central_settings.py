"""Settings: no default secret, a generated secret file with mode 0600, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from central.settings import Settings


def test_secret_is_generated_once_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REEFERWATCH_SECRET_KEY", raising=False)
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(tmp_path / "data"))
    first = Settings()
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret()) == 64 and first.secret() == path.read_text()
    assert Settings().secret() == first.secret()
    assert first.database_url == f"sqlite:///{tmp_path / 'data' / 'central.db'}"


def test_short_secret_is_refused_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REEFERWATCH_SECRET_KEY", "changeme")
    with pytest.raises(ValidationError, match="shorter than 32 characters"):
        Settings()
    monkeypatch.delenv("REEFERWATCH_SECRET_KEY")
    (tmp_path / "secret_key").write_text("short\n")
    with pytest.raises(ValidationError, match="secret_key"):
        Settings()


def test_env_prefix_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REEFERWATCH_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REEFERWATCH_MQTT_PORT", "8883")
    monkeypatch.setenv("REEFERWATCH_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("REEFERWATCH_ACCESS_TOKEN_MINUTES", "5")
    settings = Settings()
    assert settings.mqtt_port == 8883 and settings.access_token_minutes == 5
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert not (tmp_path / "secret_key").exists()
