"""Shared fixtures: a Mosquitto of the test's own, and skips that name what is missing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Broker, mosquitto_binary, running_broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto on a free loopback port, configured by the test, stopped afterwards."""
    if not mosquitto_binary():
        pytest.skip("mosquitto is not installed (the README's test command installs it)")
    with running_broker(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if not path or not shutil.which("ffprobe"):
        pytest.skip("ffmpeg/ffprobe are not installed (the README's test command installs them)")
    return path
