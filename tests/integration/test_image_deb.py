"""``image-build/build-deb``: build the edge package once and check what is in it.

The build makes a real venv (pip, from the local wheel cache) and compresses with zstd here
(``REEFERWATCH_DEB_COMPRESS``) so the module stays well under a minute; releases use xz.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_image_units import make_verify_root

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "image-build" / "build-deb"


_BUILT: list[Path] = []  # one build per test session, shared with test_image_chroot


def build_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, built once per session (zstd); skips when the build tools are missing."""
    for tool in ("dpkg-deb", "fakeroot"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing (apt-get install dpkg fakeroot)")
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("no /usr/bin/python3: the package is built with the target's Python")
    if _BUILT and _BUILT[0].exists():
        return _BUILT[0]
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [str(BUILD), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "REEFERWATCH_DEB_COMPRESS": "zstd"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert re.fullmatch(rf"reeferwatch-edge_\d+\.\d+\.\d+[^_]*_{arch}\.deb", path.name), path
    _BUILT[:] = [path]
    return path


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_deb(tmp_path_factory)


@pytest.fixture(scope="module")
def extracted(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("extracted")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def test_control_fields(deb: Path) -> None:
    info = subprocess.run(
        ["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    print(info)
    fields = dict(
        re.findall(r"^ ([A-Z][A-Za-z-]+): (.*)$", info, re.M),
    )
    assert fields["Package"] == "reeferwatch-edge"
    depends = [d.strip() for d in fields["Depends"].split(",")]
    assert "ffmpeg" in depends
    assert "chrony | systemd-timesyncd" in depends
    assert any(re.fullmatch(r"python3 \(>= 3\.1\d\)", d) for d in depends), depends
    for script in ("postinst", "prerm", "postrm"):
        assert re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*\s+{script}\s", info, re.M), script


def test_contents(deb: Path) -> None:
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    entries = {line.split()[5].removeprefix("."): line for line in listing.splitlines()}
    for path in (
        "/lib/systemd/system/reeferwatch-edge.service",
        "/lib/systemd/system/reeferwatch-firstboot.service",
        "/lib/systemd/system/reeferwatch-unprovisioned.service",
        "/opt/reeferwatch/share/doc/panel.md",
        "/opt/reeferwatch/bin/reeferwatch-edge",
        "/opt/reeferwatch/pyvenv.cfg",
        "/lib/udev/rules.d/99-reeferwatch-gpio.rules",
        "/usr/lib/systemd/journald.conf.d/50-reeferwatch.conf",
        "/etc/reeferwatch/edge.toml.example",
        "/usr/bin/reeferwatch-edge",
    ):
        assert path in entries, path
    assert entries["/opt/reeferwatch/bin/reeferwatch-edge"].startswith("-rwxr-xr-x root/root")
    assert not any("/__pycache__/" in p and "/tmp/" in p for p in entries)


def test_maintainer_scripts(deb: Path, tmp_path: Path) -> None:
    control = tmp_path / "DEBIAN"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    postinst = (control / "postinst").read_text()
    assert "addgroup --quiet --system" in postinst and "adduser --quiet --system" in postinst
    assert "adduser --quiet reeferwatch gpio" in postinst
    assert "adduser --quiet reeferwatch video" in postinst
    assert "reeferwatch-edge.service reeferwatch-firstboot.service" in postinst  # both enabled
    assert (control / "conffiles").read_text().split() == ["/etc/reeferwatch/edge.toml.example"]
    for script in ("postinst", "prerm", "postrm"):
        subprocess.run(["sh", "-n", str(control / script)], check=True)
        if shutil.which("shellcheck"):
            subprocess.run(["shellcheck", str(control / script)], check=True)


def test_venv_is_relocated_and_runs(extracted: Path, tmp_path: Path) -> None:
    venv = extracted / "opt/reeferwatch"
    entry = (venv / "bin/reeferwatch-edge").read_text()
    assert entry.startswith("#!/opt/reeferwatch/bin/python"), entry.splitlines()[0]
    for path in [*(venv / "bin").iterdir(), venv / "pyvenv.cfg"]:
        if path.is_file() and not path.is_symlink():
            assert "reeferwatch-deb." not in path.read_text(errors="replace"), path
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    # the venv carries what it imports itself, not what the build host has in dist-packages
    site = next((venv / "lib").glob("python3.*/site-packages"))
    for module in ("cryptography", "pydantic", "paho", "gpiozero"):
        assert (site / module).is_dir(), module

    # The shipped code validates the shipped skeleton (paths moved into tmp_path).
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("ca.pem", "device.pem", "device.key", "dock1.password"):
        (etc / name).write_text("x\n")
    example = (extracted / "etc/reeferwatch/edge.toml.example").read_text()
    config = tmp_path / "edge.toml"
    config.write_text(
        example.replace("/etc/reeferwatch/", f"{etc}/").replace(
            '"/var/lib/reeferwatch"', f'"{tmp_path / "data"}"'
        )
    )
    result = subprocess.run(
        [str(venv / "bin/python"), "-m", "edge.cli", "selftest", "--config", str(config)]
        + ["--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr


def image_scripts() -> list[Path]:
    """Every shell script under image-build/: *.sh, and files whose first line names sh/bash."""
    found = []
    for path in sorted((REPO / "image-build").rglob("*")):
        if not path.is_file():
            continue
        head = path.read_bytes()[:64]
        if path.suffix == ".sh" or re.match(rb"#!\s*/(usr/)?bin/(env )?(ba)?sh\b", head):
            found.append(path)
    return found


def test_every_image_script_passes_shellcheck() -> None:
    scripts = image_scripts()
    names = {p.relative_to(REPO).as_posix() for p in scripts}
    assert {"image-build/build-deb", "image-build/deb/maintscripts/postinst"} <= names
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is missing (apt-get install shellcheck)")
    result = subprocess.run(
        ["shellcheck", "--external-sources", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    print("shellcheck:", *sorted(names), sep="\n  ")
    assert result.returncode == 0, result.stdout + result.stderr


def test_units_verify_against_package_contents(deb: Path, tmp_path: Path) -> None:
    """``systemd-analyze verify`` with the package's own tree as root: real ExecStart target."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    root = make_verify_root(tmp_path / "root", [])
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "reeferwatch-edge.service"]
        + ["reeferwatch-firstboot.service", "reeferwatch-unprovisioned.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
