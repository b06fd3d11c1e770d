"""The pi-gen stage, as far as a machine without an arm64 chroot can run it.

pi-gen itself needs a privileged arm64 or binfmt host (image-build/README.md). Here: the stage
follows pi-gen's layout; its host-side scripts run against a fake rootfs (with a stand-in
``on_chroot``); its units verify clean together with the edge unit and its drop-in; the data
partition script creates, keeps and grows the partition on a real loop device; the read-only
switch edits the command line once and only after provisioning.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_image_units import make_verify_root, unit_keys

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STAGE = REPO / "image-build" / "pi-gen" / "stage-reeferwatch"
FILES = STAGE / "01-system" / "files"
CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=abcd1234-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n"
)


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=env, cwd=cwd, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_stage_follows_pi_gen_conventions() -> None:
    assert os.access(STAGE / "prerun.sh", os.X_OK)
    assert "copy_previous" in (STAGE / "prerun.sh").read_text()
    assert re.search(r'^IMG_SUFFIX="-edge"$', (STAGE / "EXPORT_IMAGE").read_text(), re.M)
    for sub in sorted(p for p in STAGE.iterdir() if p.is_dir()):
        assert re.fullmatch(r"\d\d-[a-z-]+", sub.name), sub
        for script in sub.glob("*-run*.sh"):
            assert re.fullmatch(r"\d\d-run(-chroot)?\.sh", script.name), script
            assert os.access(script, os.X_OK), f"{script} must be executable for pi-gen"
    packages = (STAGE / "00-packages" / "00-packages-nr").read_text().split()
    assert {"ffmpeg", "chrony", "python3-picamera2", "overlayroot"} <= set(packages)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "boot/firmware").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "tmp").mkdir()
    (root / "boot/firmware/cmdline.txt").write_text(CMDLINE)
    (root / "boot/firmware/config.txt").write_text("[all]\nauto_initramfs=1\n")
    (root / "etc/fstab").write_text("proc /proc proc defaults 0 0\n")
    return root


def test_system_files_are_installed_once(rootfs: Path) -> None:
    env = {**os.environ, "ROOTFS_DIR": str(rootfs)}
    for _ in range(2):  # pi-gen may re-run a sub-stage (CONTINUE=1): nothing is added twice
        run([str(STAGE / "01-system" / "00-run.sh")], env=env, cwd=STAGE / "01-system")
    cmdline = (rootfs / "boot/firmware/cmdline.txt").read_text()
    assert "init=" not in cmdline and " resize" not in cmdline  # root is not grown at first boot
    assert cmdline.startswith("console=serial0,115200 console=tty1 root=PARTUUID=abcd1234-02")
    assert (rootfs / "boot/firmware/config.txt").read_text().count("dtparam=watchdog=on") == 1
    fstab = (rootfs / "etc/fstab").read_text()
    assert fstab.count("LABEL=rwdata ") == 1
    mounts = {}
    for line in fstab.splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split()
            assert len(fields) == 6, line
            mounts[fields[1]] = fields
    assert (
        mounts["/var/lib/rwdata"][0] == "LABEL=rwdata" and "nofail" in mounts["/var/lib/rwdata"][3]
    )
    for target, source in (
        ("/var/lib/reeferwatch", "reeferwatch"),
        ("/var/log/journal", "journal"),
    ):
        assert mounts[target][0] == f"/var/lib/rwdata/{source}"
        assert "x-systemd.requires-mounts-for=/var/lib/rwdata" in mounts[target][3]
    for path in (
        "usr/lib/reeferwatch/pi-storage",
        "usr/lib/reeferwatch/pi-readonly",
        "etc/systemd/system/reeferwatch-pi-storage.service",
        "etc/systemd/system/reeferwatch-pi-readonly.service",
        "etc/systemd/system/reeferwatch-edge.service.d/10-pi-data.conf",
        "etc/systemd/system.conf.d/90-reeferwatch-watchdog.conf",
        "boot/firmware/reeferwatch/README.txt",
    ):
        assert (rootfs / path).is_file(), path
    watchdog = unit_keys(rootfs / "etc/systemd/system.conf.d/90-reeferwatch-watchdog.conf")
    assert watchdog["RuntimeWatchdogSec"] == ["15s"]  # the BCM watchdog counts ~16 s at most
    # the storage unit runs before the data partition's mount unit
    storage = unit_keys(FILES / "reeferwatch-pi-storage.service")
    escaped = run(["systemd-escape", "--path", "--suffix=mount", "/var/lib/rwdata"]).strip()
    assert escaped in storage["Before"][0].split() and storage["RequiredBy"] == [escaped]


def test_the_package_is_installed_with_apt(rootfs: Path, tmp_path: Path) -> None:
    substage = tmp_path / "00-packages"
    shutil.copytree(STAGE / "00-packages", substage)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "on_chroot").write_text(f'#!/bin/sh\ncat >>"{tmp_path}/chroot.log"\n')
    (fake / "on_chroot").chmod(0o755)
    env = {**os.environ, "ROOTFS_DIR": str(rootfs), "PATH": f"{fake}:{os.environ['PATH']}"}
    script = str(substage / "01-run.sh")
    missing = subprocess.run([script], capture_output=True, text=True, env=env, cwd=substage)
    assert missing.returncode == 1 and "exactly one reeferwatch-edge_*_arm64.deb" in missing.stderr
    (substage / "files/reeferwatch-edge_0.1.0_arm64.deb").write_bytes(b"!<arch>\n")
    run([script], env=env, cwd=substage)
    assert (rootfs / "tmp/reeferwatch-edge_0.1.0_arm64.deb").exists()
    log = (tmp_path / "chroot.log").read_text()
    deb = '"/tmp/reeferwatch-edge_0.1.0_arm64.deb"'
    assert f"apt-get install -y --no-install-recommends {deb}" in log


def test_units_verify_with_the_edge_and_its_drop_in(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    units = [FILES / "reeferwatch-pi-storage.service", FILES / "reeferwatch-pi-readonly.service"]
    root = make_verify_root(tmp_path / "root", [*units, REPO / "systemd/reeferwatch-edge.service"])
    dropin = root / "etc/systemd/system/reeferwatch-edge.service.d"
    dropin.mkdir()
    shutil.copy(FILES / "10-pi-data.conf", dropin)
    for program in ("opt/reeferwatch/bin/reeferwatch-edge", "usr/lib/reeferwatch/pi-storage",
                    "usr/lib/reeferwatch/pi-readonly"):  # fmt: skip
        stub = root / program
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    names = ["reeferwatch-pi-storage.service", "reeferwatch-pi-readonly.service"]
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *names, "reeferwatch-edge.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    readonly = unit_keys(FILES / "reeferwatch-pi-readonly.service")
    assert readonly["ConditionPathExists"] == ["/etc/reeferwatch/provisioned.json"]
    assert readonly["Before"] == ["reeferwatch-edge.service"]
    assert unit_keys(FILES / "10-pi-data.conf")["RequiresMountsFor"] == ["/var/lib/reeferwatch"]


def test_read_only_root_only_after_provisioning_and_once(tmp_path: Path) -> None:
    cmdline, marker = tmp_path / "cmdline.txt", tmp_path / "provisioned.json"
    cmdline.write_text(CMDLINE)
    env = {**os.environ, "RW_CMDLINE": str(cmdline), "RW_MARKER": str(marker), "RW_NO_REBOOT": "1"}
    script = [str(FILES / "pi-readonly")]
    assert "not provisioned" in run(script, env=env)
    assert cmdline.read_text() == CMDLINE
    marker.write_text("{}")
    assert "rebooting now" in run(script, env=env)
    assert cmdline.read_text() == CMDLINE.rstrip("\n") + " overlayroot=tmpfs:recurse=0\n"
    run(script, env=env)
    assert cmdline.read_text().count("overlayroot=") == 1


# --- the data partition on a real loop device ---------------------------------------------


@pytest.fixture
def card(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    if os.geteuid() != 0:
        pytest.skip("loop devices need root")
    for tool in ("losetup", "parted", "partprobe", "mkfs.ext4", "resize2fs", "blkid"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing (scripts/lib/bootstrap.sh installs parted for tests)")
    probe = subprocess.run(["blkid", "-L", "rwdata"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        pytest.skip(f"this machine has an rwdata partition of its own ({probe.stdout.strip()})")
    image = tmp_path / "card.img"
    image.write_bytes(b"")
    os.truncate(image, 2048 * 2**20)
    run(["parted", "-s", str(image), "mklabel", "msdos", "mkpart", "primary", "fat32",
         "4MiB", "68MiB", "mkpart", "primary", "ext4", "68MiB", "600MiB"])  # fmt: skip
    loop = run(["losetup", "--find", "--show", "--partscan", str(image)]).strip()
    try:
        run(["partprobe", loop])
        yield image, loop
    finally:
        subprocess.run(["losetup", "--detach", loop], check=False)


def partitions(loop: str) -> dict[str, int]:
    """Partition device → size in MiB, from /proc/partitions."""
    name = Path(loop).name
    found = {}
    for line in Path("/proc/partitions").read_text().splitlines()[2:]:
        _, _, blocks, part = line.split()
        if part.startswith(f"{name}p"):
            found[f"/dev/{part}"] = int(blocks) // 1024
    return found


def test_data_partition_is_created_kept_and_grown(card: tuple[Path, str], tmp_path: Path) -> None:
    image, loop = card
    env = {**os.environ, "RW_DISK": loop}
    script = [str(FILES / "pi-storage")]
    out = run(script, env=env)
    assert "creating the data partition" in out, out
    parts = partitions(loop)
    data = f"{loop}p3"
    assert 1400 <= parts[data] <= 1448, parts  # the rest of the 2 GiB card after 600 MiB
    assert run(["blkid", "-s", "LABEL", "-o", "value", data]).strip() == "rwdata"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run(["mount", data, str(mnt)])
    try:
        assert (mnt / "reeferwatch").is_dir() and (mnt / "journal").is_dir()
        (mnt / "reeferwatch" / "evidence.mp4").write_bytes(b"x" * 4096)
    finally:
        run(["umount", str(mnt)])

    assert "is in place" in run(script, env=env)  # every boot: nothing to do
    assert partitions(loop)[data] == parts[data]

    os.truncate(image, 3072 * 2**20)  # the same card image on a larger card
    run(["losetup", "--set-capacity", loop])
    assert "growing" in run(script, env=env)
    assert partitions(loop)[data] >= parts[data] + 1000
    run(["mount", data, str(mnt)])
    try:  # what was recorded survives the growth
        assert (mnt / "reeferwatch" / "evidence.mp4").read_bytes() == b"x" * 4096
    finally:
        run(["umount", str(mnt)])


def test_no_room_for_data_stops_with_the_reason(card: tuple[Path, str]) -> None:
    image, loop = card
    run(["parted", "-s", loop, "resizepart", "2", "100%"])  # as if root was grown over the card
    run(["partprobe", loop])
    result = subprocess.run(
        [str(FILES / "pi-storage")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RW_DISK": loop},
    )
    assert result.returncode == 1
    assert "no data partition and only 0 MiB free" in result.stderr
    assert "was the root partition grown over the card?" in result.stderr
