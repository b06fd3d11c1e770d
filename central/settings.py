"""Central settings from the environment (prefix ``REEFERWATCH_``); never a default secret."""

from __future__ import annotations

import itertools
import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_CHARS = 32


def _load_or_create_secret(path: Path) -> str:
    """Read the secret file, creating it (32 random bytes as hex, mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs below
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
    return path.read_text().strip()


RETENTION_MAX_DAYS = 100 * 366


class RetentionSettings(BaseSettings):
    """How many days central keeps a clip of each retention class (regulation Art. 19: "per
    the archive rules"), counted from its arrival; 0 keeps it for good. ``central.retention``
    reads them; a longer-lived class never expires before a shorter-lived one."""

    model_config = SettingsConfigDict(env_prefix="REEFERWATCH_", extra="ignore")

    retention_standard_days: int = Field(
        default=180, ge=0, le=RETENTION_MAX_DAYS, description="loading-session and event clips"
    )
    retention_anomaly_days: int = Field(
        default=1096, ge=0, le=RETENTION_MAX_DAYS, description="clips of anomalies and faults"
    )
    retention_evidence_days: int = Field(
        default=0, ge=0, le=RETENTION_MAX_DAYS, description="clips an admin made evidence"
    )

    @model_validator(mode="after")
    def _retention_order(self) -> RetentionSettings:
        order = [
            ("retention_standard_days", self.retention_standard_days),
            ("retention_anomaly_days", self.retention_anomaly_days),
            ("retention_evidence_days", self.retention_evidence_days),
        ]
        for (short_name, short), (long_name, long) in itertools.pairwise(order):
            if long != 0 and (short == 0 or short > long):
                raise ValueError(
                    f"{long_name} ({long}) is shorter than {short_name} "
                    f"({short or 'for good'}); 0 means for good"
                )
        return self


class Settings(RetentionSettings):
    """Everything central needs to know; see the field descriptions."""

    model_config = SettingsConfigDict(env_prefix="REEFERWATCH_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./var/central"), description="database, blobs, partial files"
    )
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default sqlite:///{data_dir}/central.db"
    )
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_tls_ca: Path | None = None
    mqtt_tls_cert: Path | None = None
    mqtt_tls_key: Path | None = None
    crl_file: Path | None = Field(
        default=None,
        description="the broker's CRL (crlfile); /metrics reports when it expires",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="JWT signing key; if unset, read/created at {data_dir}/secret_key"
    )
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="session lifetime; refreshing never extends it"
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed sign-ins of one user name that lock it"
    )
    login_failure_window_minutes: float = Field(
        default=15.0, gt=0, description="...counted within this many minutes"
    )
    login_lockout_minutes: float = Field(default=15.0, gt=0, description="how long a lock lasts")
    login_rate_limit: int = Field(
        default=30, ge=1, description="sign-in requests per client address per rate window"
    )
    login_rate_window_s: float = Field(default=60.0, gt=0)
    health_interval_s: float = Field(
        default=60.0, gt=0, description="edges' health period; offline after three missed"
    )
    seq_gap_grace_s: float = Field(
        default=300.0, ge=0, description="a sequence gap older than this raises an alarm"
    )
    api_threads: int = Field(
        default=4,
        ge=1,
        le=32,
        description="threads per API process for database work (the pool holds one more)",
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'central.db'}"
        if self.secret_key is None:
            path = self.data_dir / "secret_key"
            self.secret_key = SecretStr(_load_or_create_secret(path))
            source = str(path)
        else:
            source = "REEFERWATCH_SECRET_KEY"
        if len(self.secret_key.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"secret_key from {source} is shorter than {MIN_SECRET_CHARS} characters; "
                "use e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return self

    @property
    def mqtt_tls(self) -> bool:
        """Connect to the broker over TLS when a CA or a client certificate is configured."""
        return self.mqtt_tls_ca is not None or self.mqtt_tls_cert is not None

    def secret(self) -> str:
        """The signing secret (always set once validation has run)."""
        assert self.secret_key is not None
        return self.secret_key.get_secret_value()
