"""The edge package in a real Debian bookworm rootfs: apt install, provisioning, selftest.

A rootfs made by ``mmdebstrap`` (variant ``apt``, plus the package's ``Depends:``) is cached as a
tarball under ``~/.cache/reeferwatch/rootfs/``, keyed by suite, architecture and package list, so
only the first run downloads (about 250 MB, 2-3 minutes here). Each run extracts it, installs the
freshly built .deb with ``apt-get install ./…deb`` inside a chroot (apt checks every dependency
and runs the maintainer scripts), puts an enrollment bundle made by central's CA plus a test
``site.toml`` on a fake boot partition, runs ``reeferwatch-edge provision`` as first boot would,
and then ``reeferwatch-edge selftest --dry-run --config /etc/reeferwatch/edge.toml`` as the
service user on the configuration that provisioning wrote.

The chroot runs in a private mount namespace (``unshare --mount``): /proc and /dev are mounted
for it and vanish with it. The apt output is written to ``<tmp>/install.log`` and
``~/.cache/reeferwatch/chroot-install.log`` and printed. An unreachable mirror is a failure, not
a skip: CI runs on the same kind of machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from central.ca import CertificateAuthority
from tests.integration.test_image_deb import build_deb

pytestmark = pytest.mark.slow

SUITE = "bookworm"
MIRROR = os.environ.get("REEFERWATCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reeferwatch"
SITE_TOML = """
[site]
location_code = "370200-QD-01"

[[cameras]]
id = "dock1"
source = "onvif"
host = "192.168.10.21"
username = "recorder"
password_file = "dock1.password"

[gpio]
backend = "native"

[[gpio.inputs]]
name = "line1_md"
pin = 17
kind = "metal_detector_reject"
"""


def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def depends(deb: Path) -> list[str]:
    """The package's Depends as package names (first alternative, no versions)."""
    field = run(["dpkg-deb", "-f", str(deb), "Depends"], 30).stdout
    names = [re.split(r"[\s(|]", part.strip(), maxsplit=1)[0] for part in field.split(",")]
    return sorted({name for name in names if name})


def rootfs_tarball(packages: list[str], arch: str) -> Path:
    """The cached rootfs with ``packages``; made with mmdebstrap on a miss."""
    key = hashlib.sha256(f"{SUITE} {arch} apt {' '.join(packages)}".encode()).hexdigest()[:16]
    tarball = CACHE / "rootfs" / f"{SUITE}-{arch}-{key}.tar.zst"
    if tarball.exists():
        print(f"rootfs: cached {tarball}")
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_name(tarball.name + f".{os.getpid()}.partial.tar.zst")
    started = time.monotonic()
    result = run(
        ["mmdebstrap", "--variant=apt", f"--architectures={arch}", "--mode=root"]
        + ["--include=" + ",".join(packages), SUITE, str(partial), MIRROR],
        1800,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        pytest.fail(
            f"mmdebstrap could not make the {SUITE}/{arch} rootfs from {MIRROR} "
            f"(exit {result.returncode}): is the Debian mirror reachable from this machine? "
            "(set REEFERWATCH_DEBIAN_MIRROR to use another)\n" + result.stderr[-3000:]
        )
    partial.rename(tarball)
    print(f"rootfs: made {tarball} in {time.monotonic() - started:.0f} s")
    return tarball


def in_chroot(root: Path, script: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) chrooted into ``root``, with /proc and /dev, in its own mount
    namespace so nothing stays mounted afterwards."""
    wrapper = (
        'set -e; mount -t proc proc "$1/proc"; mount --rbind /dev "$1/dev"; '
        'exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin '
        'DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 /bin/sh -c "$2"'
    )
    return run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper, "sh"]
        + [str(root), script],
        timeout,
    )


def passwd_ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise AssertionError(f"no user {user} in the rootfs")


@pytest.fixture(scope="module")
def tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("chroot, mount and mmdebstrap --mode=root need root")
    for tool in ("mmdebstrap", "unshare", "chroot", "zstd"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing (scripts/lib/bootstrap.sh installs it for tests)")


def test_install_provision_and_selftest_in_a_debian_rootfs(
    tools: None, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    started = time.monotonic()
    deb = build_deb(tmp_path_factory)
    arch = run(["dpkg", "--print-architecture"], 30).stdout.strip()
    tarball = rootfs_tarball(depends(deb), arch)

    root = tmp_path / "rootfs"
    root.mkdir()
    try:
        untar = run(["tar", "--zstd", "-xpf", str(tarball), "-C", str(root)], 600)
        assert untar.returncode == 0, untar.stderr
        shutil.copy(deb, root / "tmp" / deb.name)

        # --- apt install: dependencies resolved by apt, maintainer scripts run
        install = in_chroot(
            root, f"apt-get install -y --no-install-recommends /tmp/{deb.name} 2>&1"
        )
        log = install.stdout + install.stderr
        for path in (tmp_path / "install.log", CACHE / "chroot-install.log"):
            path.write_text(log)
        print(f"--- apt-get install (exit {install.returncode}; {tmp_path / 'install.log'})")
        print("\n".join(line for line in log.splitlines() if "Reading database" not in line))
        assert install.returncode == 0, log[-3000:]
        assert re.search(r"Setting up reeferwatch-edge \(\S+\) \.\.\.", log), log[-2000:]
        assert "0 not upgraded" in log and not re.search(r"\bE: ", log)

        uid, gid = passwd_ids(root, "reeferwatch")
        groups = (root / "etc/group").read_text()
        for group in ("gpio", "video"):
            assert re.search(rf"^{group}:x:\d+:(.*,)?reeferwatch(,|$)", groups, re.M), group
        wants = root / "etc/systemd/system/multi-user.target.wants"
        for unit in ("reeferwatch-edge.service", "reeferwatch-firstboot.service"):
            assert (wants / unit).is_symlink(), f"{unit} is not enabled"
        etc = root / "etc/reeferwatch"
        assert (etc.stat().st_uid, etc.stat().st_gid, etc.stat().st_mode & 0o777) == (0, gid, 0o750)

        # --- first boot: the bundle on the boot partition becomes /etc/reeferwatch
        boot = root / "boot/firmware/reeferwatch"
        ca = CertificateAuthority.init(tmp_path / "ca")
        ca.enroll_device("site01", "edge01", boot, "mqtt.example.org", tls_dir="/etc/reeferwatch")
        (boot / "site.toml").write_text(SITE_TOML)
        (boot / "dock1.password").write_text("s3cret\n")
        first = in_chroot(root, "reeferwatch-edge provision 2>&1")
        print("--- reeferwatch-edge provision\n" + first.stdout)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "provision: provisioned (device edge01)" in first.stdout
        assert sorted(p.name for p in boot.iterdir()) == ["PROVISIONED.txt"]
        key = etc / "signing.key"
        assert (key.stat().st_uid, key.stat().st_mode & 0o777) == (uid, 0o600)
        for name in ("ca.pem", "device.pem", "device.key", "dock1.password", "edge.toml"):
            info = (etc / name).stat()
            assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, gid, 0o640), name
        again = in_chroot(root, "reeferwatch-edge provision 2>&1")
        assert again.returncode == 0 and "provision: already" in again.stdout, again.stdout

        # --- the installer's check, as the service user, on what provisioning wrote
        selftest = in_chroot(
            root,
            "setpriv --reuid=reeferwatch --regid=reeferwatch --init-groups "
            "reeferwatch-edge selftest --dry-run --config /etc/reeferwatch/edge.toml",
        )
        print("--- reeferwatch-edge selftest --dry-run\n" + selftest.stdout + selftest.stderr)
        assert selftest.returncode == 0, selftest.stdout + selftest.stderr
        lines = selftest.stdout.splitlines()
        assert not [line for line in lines if line.startswith("FAIL")], lines
        for check in ("config", "ffmpeg", "data_dir", "gpio_library"):
            assert any(line.startswith(f"PASS {check}: ") for line in lines), (check, lines)
        assert "PASS ffmpeg: /usr/bin/ffmpeg" in lines
        assert "PASS data_dir: /var/lib/reeferwatch is writable" in lines
    finally:
        shutil.rmtree(root, ignore_errors=True)
        print(f"chroot test: {time.monotonic() - started:.0f} s")
