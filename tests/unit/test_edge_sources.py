"""Camera source config, credential handling and the picamera2 check (no peers needed)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edge.config import parse_config
from edge.sources import describe, make_source
from edge.sources.config import RtspCamera
from edge.sources.secrets import (
    ffconcat_input,
    read_password,
    redact,
    secret_forms,
    strip_credentials,
    with_credentials,
)
from wire.errors import ConfigError, ExternalProgramMissing

SITE = {"id": "s1", "device": "d1", "location_code": "LC-1"}


def cameras(*cams: dict) -> list:
    return parse_config({"site": SITE, "cameras": list(cams)}, "t", Path("/base")).cameras


def test_sources_parse_and_testsrc_is_the_default() -> None:
    got = cameras(
        {"id": "a", "fps": 10},
        {"id": "b", "source": "rtsp", "url": "rtsp://h:8554/x", "username": "u",
         "password_file": "b.pass"},
        {"id": "c", "source": "onvif", "host": "10.0.0.9", "username": "u", "password": "pw"},
        {"id": "d", "source": "picamera2"},
    )  # fmt: skip
    assert [c.source for c in got] == ["testsrc", "rtsp", "onvif", "picamera2"]
    assert isinstance(got[1], RtspCamera) and got[1].password_file == Path("/base/b.pass")
    assert "pw" not in repr(got[2])
    assert describe(got[2]) == "onvif 10.0.0.9:80 as u"


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ({"id": "a", "source": "rtsp", "url": "rtsp://u:p@h/x"}, "url: must not contain cred"),
        ({"id": "a", "source": "rtsp", "url": "http://h/x"}, "cameras.0.url"),
        ({"id": "a", "source": "rtsp", "url": "rtsp://h/x", "password": "p"}, "needs a username"),
        ({"id": "a", "source": "onvif", "host": "h", "username": "u", "password": "p",
          "password_file": "f"}, "not both"),
        ({"id": "a", "source": "onvif", "host": "h", "hots": 1}, "cameras.0.hots: unknown key"),
        ({"id": "a", "source": "picamera2", "url": "x"}, "cameras.0.url: unknown key"),
    ],
)  # fmt: skip
def test_bad_camera_config_names_the_key(camera: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cameras(camera)


def test_credentials_go_into_a_private_file_and_are_redacted(tmp_path: Path) -> None:
    url = with_credentials("rtsp://cam:554/live", "ad min", "p@ss:w/rd")
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd@cam:554/live"
    assert strip_credentials(url) == "rtsp://cam:554/live"
    args = ffconcat_input(tmp_path / "s.ffconcat", url, {"rtsp_transport": "tcp"})
    assert "p@ss" not in " ".join(args) and "%40" not in " ".join(args)
    assert stat.S_IMODE((tmp_path / "s.ffconcat").stat().st_mode) == 0o600
    assert f"file '{url}'" in (tmp_path / "s.ffconcat").read_text()
    secrets = secret_forms("p@ss:w/rd", url)
    assert redact(f"{url}: Connection refused", secrets) == "***: Connection refused"
    assert "w/rd" not in redact("password p@ss:w/rd", secrets)


def test_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    assert read_password(None, tmp_path / "pw") == "s3cret"
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        read_password(None, tmp_path / "empty")
    with pytest.raises(ConfigError, match="cannot read"):
        read_password(None, tmp_path / "missing")


def test_picamera2_off_pi_fails_clearly_at_start(tmp_path: Path) -> None:
    (cam,) = cameras({"id": "pi", "source": "picamera2"})
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(ExternalProgramMissing, match="python3-picamera2"):
            make_source(cam, tmp_path)
    else:  # pragma: no cover - on a Pi
        assert make_source(cam, tmp_path).kind == "picamera2"
