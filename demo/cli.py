"""``reeferwatch demo``: broker, central (API + ingest) and one simulated site on this machine.

Prints the URL and a freshly generated admin password, triggers a first event shortly after
start (then the simulated metal detector fires every minute), and stops every child on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from demo.broker import render_shipped_config
from demo.children import Children
from demo.pki import make_pki
from demo.site import DEVICE, SITE, write_edge_config

log = logging.getLogger("reeferwatch.demo")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def _tool(name: str) -> str:
    """A console script of this installation (next to the running interpreter)."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(
        "mosquitto is not installed: run ./scripts/demo as root, or: sudo apt-get install mosquitto"
    )


def _create_admin(central_env: dict[str, str], password: str) -> None:
    env = {**os.environ, **central_env}
    subprocess.run([_tool("reeferwatch-central"), "migrate"], env=env, check=True)
    subprocess.run(
        [
            _tool("reeferwatch-central"),
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input=password.encode(),
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run(workdir: Path, http_port: int, every_seconds: int, first_after: float) -> int:
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)  # a demo starts fresh: new users, new secret, new recordings
    workdir.mkdir(parents=True)
    mqtt_port = _free_port()
    password = secrets.token_urlsafe(12)
    central_env = {
        "REEFERWATCH_DATA_DIR": str(workdir / "central"),
        "REEFERWATCH_MQTT_HOST": "127.0.0.1",
        "REEFERWATCH_MQTT_PORT": str(mqtt_port),
    }
    bundle = workdir / "edge" / "tls"
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    _create_admin(central_env, password)
    env = {**os.environ, **central_env}
    pki = make_pki(_tool("reeferwatch-central"), env, bundle, SITE, DEVICE, mqtt_port)
    central_env.update(pki.central_env)
    edge_config = write_edge_config(
        workdir / "edge" / "edge.toml", workdir / "edge" / "data", mqtt_port, every_seconds,
        bundle,
    )  # fmt: skip
    broker_config = workdir / "mosquitto.conf"
    broker_config.write_text(render_shipped_config(mqtt_port, "127.0.0.1", pki.broker_files))

    with Children(workdir / "logs") as children:
        children.start("mosquitto", [_mosquitto(), "-c", str(broker_config)])
        if not _wait_port(mqtt_port, 10):
            raise SystemExit(f"the broker did not start; see {workdir / 'logs' / 'mosquitto.log'}")
        children.start("ingest", [_tool("reeferwatch-central"), "ingest"], central_env)
        children.start(
            "central",
            [
                _tool("reeferwatch-central"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(http_port),
            ],
            central_env,
        )
        children.start("edge", [_tool("reeferwatch-edge"), "run", "--config", str(edge_config)])
        if not _wait_port(http_port, 30):
            raise SystemExit(f"central did not start; see {workdir / 'logs' / 'central.log'}")
        print(
            f"\nReeferWatch demo is running.\n"
            f"  Inspector UI and API:  http://127.0.0.1:{http_port}/   (API docs: /docs)\n"
            f"  User:                  admin\n"
            f"  Password:              {password}\n"
            f"  Logs:                  {workdir / 'logs'}\n"
            f"  Edge config:           {edge_config}\n"
            f"A first event is marked in {first_after:.0f} s; the simulated metal detector "
            f"then fires every {every_seconds} s. Ctrl-C stops everything.\n",
            flush=True,
        )
        started = time.monotonic()
        first_marked = False
        while not stop.wait(0.5):
            if died := children.exited():
                log.error("stopped unexpectedly: %s; see %s", died, workdir / "logs")
                return 1
            if not first_marked and time.monotonic() - started >= first_after:
                first_marked = True
                children.start(
                    "first-mark",
                    [_tool("reeferwatch-edge"), "trigger", "--config", str(edge_config), "mark"],
                    one_shot=True,
                )
        print("\nstopping ...", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reeferwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run central, a broker and one simulated site")
    demo.add_argument("--workdir", type=Path, default=Path("var/demo"))
    demo.add_argument("--port", type=int, default=8000, help="HTTP port of central")
    demo.add_argument("--every", type=int, default=60, help="seconds between simulated events")
    demo.add_argument("--first-after", type=float, default=15.0, help="seconds to the first mark")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(args.workdir, args.port, args.every, args.first_after)


if __name__ == "__main__":
    sys.exit(main())
