"""Settings: no default secret, a generated secret file with mode 0600, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from central.settings import Settings

pytest_plugins = ["tests.central_fixtures"]


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


def test_api_threads_caps_the_thread_pool_and_sizes_the_database_pool(
    central_settings: Settings,
) -> None:
    from anyio import to_thread
    from fastapi.testclient import TestClient

    from central.api import create_app

    settings = central_settings.model_copy(update={"api_threads": 2})
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.portal is not None
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
        assert tokens == 2
        assert app.state.db.engine.pool.size() == 3


def test_api_threads_out_of_range_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="api_threads"):
        Settings(data_dir=tmp_path, secret_key="s" * 40, api_threads=0)
