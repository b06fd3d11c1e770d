"""Config: valid files load with defaults; every problem is a ConfigError naming file + key."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import load_config, parse_config
from wire.errors import ConfigError

MINIMAL = """
[site]
id = "site01"
device = "edge01"
location_code = "370200-QD-01"
registration_no = "3700/02001"

[[cameras]]
id = "cam1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    return path


def test_minimal_config_gets_defaults_and_relative_data_dir(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + '\n[storage]\ndata_dir = "data"\n'))
    assert config.site.registration_no == "3700/02001"
    assert config.storage.data_dir == tmp_path.resolve() / "data"
    assert config.mqtt.port == 1883 and config.mqtt.chunk_size == 262144
    assert config.mqtt.window == 8 and config.mqtt.ack_timeout == 15.0
    assert config.recording.segment_seconds == 10
    assert config.cameras[0].fps == 15 and config.cameras[0].source == "testsrc"
    assert config.clips.pre_seconds == 10 and config.clips.post_seconds == 20
    assert config.gpio.backend == "mock" and config.gpio.simulation is None


def test_full_schema_from_the_brief_loads(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
[storage]
data_dir = "/var/lib/reeferwatch"
[mqtt]
host = "127.0.0.1"
port = 1883
ca_file = ""
cert_file = ""
key_file = ""
keepalive = 30
chunk_size = 262144
window = 8
ack_timeout = 15.0
[recording]
segment_seconds = 10
[clips]
pre_seconds = 10
post_seconds = 20
[gpio]
backend = "mock"
[[gpio.inputs]]
name = "line1_md"
pin = 17
kind = "metal_detector_reject"
active_high = false
[gpio.simulation]
pulse_input = "line1_md"
every_seconds = 60
"""
    )
    config = load_config(write(tmp_path, text))
    assert config.gpio.inputs[0].kind == "metal_detector_reject"
    assert config.gpio.simulation is not None and config.gpio.simulation.every_seconds == 60


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[[cameras]]\nid = 'cam2'\nfps = 0\n", "cameras.1.fps: Input should be greater than 0"),
        ("[[cameras]]\nid = 'cam2'\nfsp = 5\n", "cameras.1.fsp: unknown key"),
        ("[mqtt]\nchunk_size = 2000000\n", "mqtt.chunk_size: Input should be less than"),
        ("[mqtt]\nprot = 1\n", "mqtt.prot: unknown key"),
        ("[typo]\nx = 1\n", "typo: unknown key"),
        ("[[cameras]]\nid = 'bad id'\n", "cameras.1.id: String should match pattern"),
        ("[[cameras]]\nid = 'cam1'\n", "cameras: camera ids must be unique"),
        ("[[cameras]]\nid = 'cam2'\nsource = 'rtsp'\n", "cameras.1.url: Field required"),
        (
            "[gpio]\nbackend = 'native'\n[[gpio.inputs]]\nname = 'a'\npin = 1\n"
            "kind = 'mark'\n[gpio.simulation]\npulse_input = 'a'\n",
            "gpio: simulation is only allowed with backend = 'mock'",
        ),
        (
            "[[gpio.inputs]]\nname = 'a'\npin = 1\nkind = 'explosion'\n",
            "gpio.inputs.0.kind: Input should be",
        ),
    ],
)
def test_errors_name_file_and_dotted_key(tmp_path: Path, extra: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message


def test_site_section_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"edge\.toml: site: Field required"):
        load_config(write(tmp_path, "[[cameras]]\nid = 'cam1'\n"))


def test_location_code_rejects_slash(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"site\.location_code"):
        load_config(write(tmp_path, MINIMAL.replace("370200-QD-01", "3702/00")))


def test_unreadable_and_invalid_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.toml: cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="edge.toml: not valid TOML"):
        load_config(write(tmp_path, "[site\n"))
    bad = tmp_path / "edge.toml"
    bad.write_bytes(b"\xff\xfe[site]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8)
)
keys = st.sampled_from(
    ["site", "id", "device", "location_code", "cameras", "fps", "mqtt", "port", "gpio",
     "inputs", "simulation", "pin", "kind", "storage", "data_dir", "clips", "x"]
)  # fmt: skip
tomlish = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(keys, tomlish, max_size=6))
def test_random_documents_raise_only_config_error(data: dict[str, object]) -> None:
    try:
        parse_config(data, "edge.toml", Path("/tmp"))
    except ConfigError as exc:
        assert str(exc).startswith("edge.toml: ")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_config_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edge.toml"
        path.write_bytes(raw)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}: ")
