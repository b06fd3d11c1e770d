"""The demo's Mosquitto: the shipped configuration (TLS listener, client certificates, ACL)
with the demo's port and certificate paths, so the demo runs what a central host runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "systemd" / "mosquitto"
SHIPPED_CONF = SHIPPED_DIR / "reeferwatch.conf"
SHIPPED_ACL = SHIPPED_DIR / "reeferwatch.acl"


def render_shipped_config(port: int, host: str, files: dict[str, Path]) -> str:
    """The shipped config listening on ``host:port``; every installed path (``/etc/mosquitto/
    …/NAME``) replaced by ``files[NAME]``. A path with no replacement is an error, so a new
    file in the shipped config cannot be silently missed."""
    text = SHIPPED_CONF.read_text().replace("listener 8883", f"listener {port} {host}")
    files = {"reeferwatch.acl": SHIPPED_ACL, **files}

    def swap(match: re.Match[str]) -> str:
        name = match.group(0).rsplit("/", 1)[1]
        if name not in files:
            raise FileNotFoundError(f"{SHIPPED_CONF}: no demo file for {match.group(0)}")
        return str(files[name])

    lines = [
        line if line.lstrip().startswith("#") else re.sub(r"/etc/mosquitto/\S+", swap, line)
        for line in text.splitlines()
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # as root Mosquitto would switch users and lose the files
    return "\n".join(lines) + "\n"
