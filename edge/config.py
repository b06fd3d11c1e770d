"""Edge configuration: TOML validated by pydantic models that forbid unknown keys.

``load_config(path)`` returns an ``EdgeConfig`` or raises ``ConfigError`` naming the file,
the dotted key and the problem, e.g. ``edge.toml: cameras.0.fps: Input should be greater than 0``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.sources.config import (
    SOURCE_KINDS,
    AnyCamera,
    CameraConfig,
    OnvifCamera,
    RtspCamera,
)
from wire.errors import ConfigError
from wire.models import EventKind
from wire.topics import ID_PATTERN, MAX_CHUNK_BYTES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TopicId = Annotated[str, Field(pattern=ID_PATTERN.pattern)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Section):
    id: TopicId
    device: TopicId
    location_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]
    registration_no: Annotated[str, Field(max_length=64)] | None = None
    # Ed25519 key that signs clip manifests; default {data_dir}/signing.key, made on first run
    signing_key_file: Path | None = None


class StorageConfig(_Section):
    data_dir: Path = Path("/var/lib/reeferwatch")


class MqttConfig(_Section):
    host: Annotated[str, Field(min_length=1, max_length=253)] = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    keepalive: int = Field(default=30, ge=5, le=3600)
    chunk_size: int = Field(default=262144, ge=1024, le=MAX_CHUNK_BYTES)
    window: int = Field(default=8, ge=1, le=64)  # most chunks in flight (edge.pacing adapts)
    ack_timeout: float = Field(default=15.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _client_cert_pair(self) -> MqttConfig:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file must be set together")
        if self.cert_file and not self.ca_file:
            raise ValueError("cert_file needs ca_file (TLS) to be set")
        return self

    @property
    def tls(self) -> bool:
        return bool(self.ca_file)


HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class UplinkWindow(_Section):
    """``[[uplink.schedule]]``: from ``from`` to ``to`` (local time, may wrap midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: HHMM = Field(alias="from")
    end: HHMM = Field(alias="to")
    kbps: float = Field(ge=0, le=10_000_000)  # 0 = unlimited


class UplinkConfig(_Section):
    """``[uplink]``: bandwidth cap of everything the sync client sends (0 = unlimited)."""

    kbps: float = Field(default=0, ge=0, le=10_000_000)
    schedule: list[UplinkWindow] = Field(default_factory=list, max_length=48)


class RecordingConfig(_Section):
    segment_seconds: int = Field(default=10, ge=1, le=3600)


class ClipKindConfig(_Section):
    """``[clips.kinds.KIND]``: cameras (default all), pre/post (default ``[clips]``), priority."""

    cameras: list[TopicId] | None = Field(default=None, min_length=1, max_length=64)
    pre_seconds: float | None = Field(default=None, ge=0, le=3600)
    post_seconds: float | None = Field(default=None, ge=0, le=3600)
    priority: int | None = Field(default=None, ge=0, le=99)


class ClipsConfig(_Section):
    pre_seconds: float = Field(default=10, ge=0, le=3600)
    post_seconds: float = Field(default=20, ge=0, le=3600)
    kinds: dict[EventKind, ClipKindConfig] = Field(default_factory=dict)


class SessionsConfig(_Section):
    """``[sessions]``: loading-session clips (whole session, every camera, in pieces)."""

    max_clip_seconds: float = Field(default=600, ge=1, le=3600)
    priority: int = Field(default=20, ge=0, le=99)
    max_hours: float = Field(default=12, gt=0, le=72)


InputKind = Literal[  # "mark": a mark-the-moment push button wired as a plain input
    "mark",
    "metal_detector_reject",
    "metal_detector_pass",
    "seal_applied",
    "seal_broken",
    "door_open",
    "custom",
]


class GpioInput(_Section):
    name: TopicId
    pin: int = Field(ge=0, le=1023)
    kind: InputKind
    active_high: bool = False
    pull: Literal["up", "down", "none"] | None = None  # default: away from the active level
    debounce_ms: int = Field(default=20, ge=0, le=10_000)
    min_pulse_ms: int = Field(default=0, ge=0, le=60_000)

    @property
    def pull_mode(self) -> str:
        if self.pull is not None:
            return self.pull
        return "down" if self.active_high else "up"


class SimulationConfig(_Section):
    pulse_input: str
    every_seconds: float = Field(default=60, gt=0, le=86400)


class GpioConfig(_Section):
    backend: Literal["mock", "native", "jetson"] = "mock"
    numbering: Literal["bcm", "board"] = "bcm"  # pin numbers: BCM (gpiozero) or header pins
    inputs: list[GpioInput] = Field(default_factory=list, max_length=64)
    simulation: SimulationConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GpioConfig:
        names = [i.name for i in self.inputs]
        pins = [i.pin for i in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError("inputs: input names must be unique")
        if len(set(pins)) != len(pins):
            raise ValueError("inputs: pins must be unique")
        if self.numbering == "board" and self.backend != "jetson":
            raise ValueError("numbering = 'board' is only supported with backend = 'jetson'")
        if self.simulation is not None:
            if self.backend != "mock":
                raise ValueError("simulation is only allowed with backend = 'mock'")
            if self.simulation.pulse_input not in names:
                raise ValueError(
                    f"simulation.pulse_input: {self.simulation.pulse_input!r} is not an input name"
                )
        return self


class RetentionConfig(_Section):
    """Disk ring buffer: quota = the smaller of ``max_bytes`` (0 = none) and ``max_percent``."""

    max_bytes: int = Field(default=0, ge=0)
    max_percent: float = Field(default=80.0, gt=0, le=100)
    check_seconds: float = Field(default=60.0, gt=0, le=86400)
    clip_grace_seconds: float = Field(default=86400.0, ge=0, le=365 * 86400)
    anomaly_keep_hours: float = Field(default=720.0, ge=0, le=24 * 3650)


class HealthConfig(_Section):
    """Thresholds of the camera and device health checks (luma on a 0-255 scale)."""

    check_seconds: float = Field(default=10.0, gt=0, le=3600)
    publish_seconds: float = Field(default=60.0, gt=0, le=86400)
    frames_per_segment: int = Field(default=2, ge=1, le=30)
    frozen_seconds: float = Field(default=60.0, gt=0, le=86400)
    frozen_tolerance: float = Field(default=0.5, ge=0, le=255)
    dark_luma: float = Field(default=20.0, ge=0, le=255)
    blur_threshold: float = Field(default=20.0, ge=0)
    bitrate_drop_ratio: float = Field(default=0.3, gt=0, lt=1)
    baseline_segments: int = Field(default=30, ge=3, le=10000)
    min_free_percent: float = Field(default=10.0, ge=0, le=100)
    temperature_max_c: float = Field(default=80.0, gt=0, le=150)
    clock_check: bool = True
    clock_grace_seconds: float = Field(default=120.0, ge=0, le=86400)


PANEL_COLOURS = ("green", "amber", "red", "blue")


class PanelLedsConfig(_Section):
    """``[panel.leds]``: BCM pin of each wired status LED; every colour is optional."""

    green: int | None = Field(default=None, ge=0, le=1023)
    amber: int | None = Field(default=None, ge=0, le=1023)
    red: int | None = Field(default=None, ge=0, le=1023)
    blue: int | None = Field(default=None, ge=0, le=1023)
    active_high: bool = True

    def wired(self) -> dict[str, int]:
        """Colour → pin of the LEDs that are wired."""
        pins = {"green": self.green, "amber": self.amber, "red": self.red, "blue": self.blue}
        return {colour: pin for colour, pin in pins.items() if pin is not None}


class PanelButtonsConfig(_Section):
    """``[panel.buttons]``: push buttons to GND (internal pull-up); both optional."""

    loading: int | None = Field(default=None, ge=0, le=1023)
    mark: int | None = Field(default=None, ge=0, le=1023)
    hold_seconds: float = Field(default=5.0, gt=0, le=60)
    bounce_seconds: float = Field(default=0.05, ge=0, le=1)

    def wired(self) -> dict[str, int]:
        pins = {"loading": self.loading, "mark": self.mark}
        return {name: pin for name, pin in pins.items() if pin is not None}


class PanelConfig(_Section):
    """``[panel]``: status LEDs and buttons (docs/panel.md); off when nothing is wired."""

    leds: PanelLedsConfig = PanelLedsConfig()
    buttons: PanelButtonsConfig = PanelButtonsConfig()
    refresh_seconds: float = Field(default=0.25, ge=0.02, le=5)
    ack_seconds: float = Field(default=1.0, gt=0, le=10)
    starting_seconds: float = Field(default=60.0, ge=0, le=3600)
    broker_alarm_minutes: float = Field(default=10.0, ge=0, le=24 * 60)

    @model_validator(mode="after")
    def _unique_pins(self) -> PanelConfig:
        pins = list(self.leds.wired().values()) + list(self.buttons.wired().values())
        if len(set(pins)) != len(pins):
            raise ValueError("leds and buttons must use different pins")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.leds.wired() or self.buttons.wired())

    def pins(self) -> set[int]:
        return set(self.leds.wired().values()) | set(self.buttons.wired().values())


class EdgeConfig(_Section):
    site: SiteConfig
    storage: StorageConfig = StorageConfig()
    mqtt: MqttConfig = MqttConfig()
    uplink: UplinkConfig = UplinkConfig()
    recording: RecordingConfig = RecordingConfig()
    cameras: list[CameraConfig] = Field(min_length=1, max_length=64)
    clips: ClipsConfig = ClipsConfig()
    sessions: SessionsConfig = SessionsConfig()
    gpio: GpioConfig = GpioConfig()
    retention: RetentionConfig = RetentionConfig()
    health: HealthConfig = HealthConfig()
    panel: PanelConfig = PanelConfig()
    _source: Path | None = PrivateAttr(default=None)  # set by ``load_config``

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        ids = [c.id for c in cameras]
        if len(set(ids)) != len(ids):
            raise ValueError("camera ids must be unique")
        return cameras

    @model_validator(mode="after")
    def _clip_cameras_exist(self) -> EdgeConfig:
        ids = {c.id for c in self.cameras}
        for kind, spec in self.clips.kinds.items():
            unknown = [c for c in spec.cameras or [] if c not in ids]
            if unknown:
                raise ValueError(f"clips.kinds.{kind}.cameras: no camera with id {unknown[0]!r}")
        return self

    @model_validator(mode="after")
    def _panel_pins_free(self) -> EdgeConfig:
        shared = self.panel.pins() & {spec.pin for spec in self.gpio.inputs}
        if shared:
            raise ValueError(f"panel: pin(s) {sorted(shared)} are also gpio inputs")
        return self

    def camera(self, camera_id: str) -> AnyCamera:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise ConfigError(f"cameras: no camera with id {camera_id!r}")

    @property
    def data_dir(self) -> Path:
        return self.storage.data_dir

    @property
    def db_path(self) -> Path:
        return self.storage.data_dir / "edge.db"

    @property
    def source_path(self) -> Path | None:
        """The TOML file this configuration was read from (None if not from a file)."""
        return self._source

    @property
    def signing_key_path(self) -> Path:
        return self.site.signing_key_file or self.storage.data_dir / "signing.key"


def _describe(error: Any) -> str:
    parts = list(error["loc"])
    if len(parts) > 2 and parts[0] == "cameras" and parts[2] in SOURCE_KINDS:
        del parts[2]  # the union's tag: say cameras.0.url, not cameras.0.rtsp.url
    loc = ".".join(str(part) for part in parts)
    msg = "unknown key" if error["type"] == "extra_forbidden" else str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{loc}: {msg}" if loc else msg


def parse_config(data: Any, source: str, base_dir: Path | None = None) -> EdgeConfig:
    """Validate already-parsed TOML ``data``; relative paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table at the top level")
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {_describe(errors[0])}{more}") from exc
    if base_dir is None:
        return config
    return _resolve_paths(config, base_dir)


def _resolve_paths(config: EdgeConfig, base_dir: Path) -> EdgeConfig:
    def rel(value: str) -> str:
        return str(base_dir / value) if value and not Path(value).is_absolute() else value

    data_dir = config.storage.data_dir
    if not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    mqtt = config.mqtt.model_copy(
        update={
            "ca_file": rel(config.mqtt.ca_file),
            "cert_file": rel(config.mqtt.cert_file),
            "key_file": rel(config.mqtt.key_file),
        }
    )
    storage = config.storage.model_copy(update={"data_dir": data_dir})
    cameras = [
        cam.model_copy(update={"password_file": Path(rel(str(cam.password_file)))})
        if isinstance(cam, (RtspCamera, OnvifCamera)) and cam.password_file is not None
        else cam
        for cam in config.cameras
    ]
    return config.model_copy(update={"storage": storage, "mqtt": mqtt, "cameras": cameras})


def load_config(path: str | Path) -> EdgeConfig:
    """Read and validate the TOML file at ``path``; raise ``ConfigError`` naming file and key."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    config = parse_config(data, str(path), path.resolve().parent)
    config._source = path.resolve()  # ``config_refresh`` re-reads it
    return config
