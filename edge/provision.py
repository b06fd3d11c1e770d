"""First-boot provisioning: install the enrollment bundle from the boot partition, then erase it.

``reeferwatch-edge provision`` runs as ``reeferwatch-firstboot.service`` (root, oneshot, before
``reeferwatch-edge.service``); every step is logged, so ``journalctl -u reeferwatch-firstboot``
tells the story:

1. No bundle in the boot folder: nothing to do if the box is provisioned, otherwise fail with
   "not provisioned".
2. Read and check the bundle (``edge.bundle``). A bad bundle installs nothing; the message
   names the file and the problem, and the box stays unprovisioned.
3. The same certificate installed already (an earlier run stopped before erasing): erase only.
4. Refuse on a volatile root (``overlayroot=`` on the kernel command line): it would not last.
5. Install into ``etc_dir``: each file is written under a temporary name, fsynced, given its
   owner and mode and renamed into place, ``edge.toml`` last (its presence starts the edge),
   then the directory is fsynced. Files are 0640 root:reeferwatch, ``signing.key`` 0600
   reeferwatch:reeferwatch.
6. The marker ``etc_dir/provisioned.json``: site, device, certificate SHA-256, time.
7. Erase the bundle: secrets are overwritten with zeros and fsynced, every bundle file is
   unlinked (``device.pem`` last), the folder is fsynced; ``PROVISIONED.txt`` is left there.

Paths and owners are parameters (``Layout``), so tests run all of it in a temporary folder.
"""

from __future__ import annotations

import grp
import hashlib
import json
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from edge import bundle
from edge.bundle import CERT, CONFIG, SIGNING, SITE, Bundle, ProvisionError, read_bundle
from edge.timeutil import iso, now

log = logging.getLogger(__name__)

BOOT_DIR = Path("/boot/firmware/reeferwatch")
ETC_DIR = Path("/etc/reeferwatch")
SERVICE_USER = "reeferwatch"
MARKER = "provisioned.json"
NOTE = "PROVISIONED.txt"
CMDLINE = Path("/proc/cmdline")


@dataclass(frozen=True)
class Owners:
    """Numeric owners: root (``uid``), the service group and the service user."""

    uid: int
    gid: int
    service_uid: int

    @classmethod
    def system(cls, user: str = SERVICE_USER) -> Owners:
        try:
            service = pwd.getpwnam(user)
            group = grp.getgrnam(user)
        except KeyError as exc:
            raise ProvisionError(
                f"no user or group {user!r}: is the reeferwatch-edge package installed?"
            ) from exc
        return cls(0, group.gr_gid, service.pw_uid)


@dataclass(frozen=True)
class Layout:
    boot_dir: Path = BOOT_DIR
    etc_dir: Path = ETC_DIR
    owners: Owners | None = None  # None: looked up (Owners.system) when installing
    cmdline: Path = CMDLINE

    @property
    def marker(self) -> Path:
        return self.etc_dir / MARKER


@dataclass(frozen=True)
class Outcome:
    """``provisioned``, ``already`` (nothing to do) or ``erased`` (installed earlier)."""

    state: str
    device: str | None = None


def provision(layout: Layout) -> Outcome:
    """Install the bundle in ``layout.boot_dir`` once; see the module docstring."""
    marker = read_marker(layout.marker)
    if not bundle.present(layout.boot_dir):
        if marker is not None:
            log.info(
                "already provisioned as %s/%s on %s; no bundle in %s",
                marker.get("site"), marker.get("device"), marker.get("at"), layout.boot_dir,
            )  # fmt: skip
            return Outcome("already", marker.get("device"))
        raise ProvisionError(
            f"not provisioned: no enrollment bundle in {layout.boot_dir} (copy the folder "
            "`reeferwatch-central device enroll` made there, with a site.toml)"
        )
    log.info("found a bundle in %s", layout.boot_dir)
    if marker is not None and marker.get("cert_sha256") == _cert_sha256(layout.boot_dir / CERT):
        log.info("this bundle is installed already; erasing it from the boot folder")
        _erase_or_explain(layout.boot_dir)
        return Outcome("erased", marker.get("device"))
    found = read_bundle(layout.boot_dir, layout.etc_dir)
    config = found.config
    log.info(
        "bundle checked: site %s, device %s, broker %s:%d, %d camera(s)",
        config.site.id, config.site.device, config.mqtt.host, config.mqtt.port,
        len(config.cameras),
    )  # fmt: skip
    _refuse_volatile_root(layout.cmdline)
    if marker is not None:
        log.warning(
            "replacing the installation of device %s (a new bundle)",
            marker.get("device"),
        )
    install(found, layout.etc_dir, layout.owners or Owners.system())
    try:
        write_marker(layout.marker, found)
    except OSError as exc:
        raise ProvisionError(f"{layout.marker}: cannot write ({exc.strerror or exc})") from exc
    _erase_or_explain(layout.boot_dir)
    log.info(
        "done: %s/%s installed in %s; secrets erased from %s",
        config.site.id, config.site.device, layout.etc_dir, layout.boot_dir,
    )  # fmt: skip
    return Outcome("provisioned", config.site.device)


def read_marker(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProvisionError(f"{path}: unreadable marker ({exc}); remove it to provision") from exc
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def _cert_sha256(path: Path) -> str | None:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _refuse_volatile_root(cmdline: Path) -> None:
    try:
        words = cmdline.read_text().split()
    except OSError:
        return
    for word in words:  # overlayroot: "disabled" or an empty value do nothing
        if word.startswith("overlayroot=") and word not in ("overlayroot=", "overlayroot=disabled"):
            raise ProvisionError(
                f"the root file system is volatile ({word}): what is installed would be lost "
                "at the next boot; remove it from cmdline.txt on the boot partition, boot, "
                "and provisioning turns it back on"
            )


def _erase_or_explain(folder: Path) -> None:
    try:
        erase(folder)
    except OSError as exc:
        raise ProvisionError(
            f"{folder}: installed, but the bundle cannot be erased ({exc}); the secrets are "
            "still on the boot partition: the next boot tries again, or delete them by hand"
        ) from exc


def install(found: Bundle, etc_dir: Path, owners: Owners) -> None:
    """Write every file of ``found`` into ``etc_dir`` atomically, ``edge.toml`` last."""
    try:
        etc_dir.mkdir(parents=True, exist_ok=True)
        os.chown(etc_dir, owners.uid, owners.gid)
        etc_dir.chmod(0o750)
    except OSError as exc:
        raise ProvisionError(f"{etc_dir}: cannot prepare ({exc.strerror or exc})") from exc
    names = sorted(n for n in found.files if n != CONFIG) + [CONFIG]
    for name in names:
        if name == SIGNING:
            owner, mode = (owners.service_uid, owners.gid), 0o600
        else:
            owner, mode = (owners.uid, owners.gid), 0o640
        _write(etc_dir / name, found.files[name], mode, owner)
        log.info("installed %s (%04o)", etc_dir / name, mode)
    _fsync_dir(etc_dir)


def _write(path: Path, data: bytes, mode: int, owner: tuple[int, int]) -> None:
    tmp = path.with_name(f".{path.name}.provision")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fchown(handle.fileno(), *owner)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProvisionError(f"{path}: cannot install ({exc.strerror or exc})") from exc


def write_marker(path: Path, found: Bundle) -> None:
    site = found.config.site
    marker = {
        "site": site.id,
        "device": site.device,
        "cert_sha256": found.cert_sha256,
        "at": iso(now()),
        "from": str(found.folder),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(marker, indent=1) + "\n")
    tmp.chmod(0o644)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def erase(folder: Path) -> None:
    """Remove the bundle from ``folder``: secrets zeroed first, ``device.pem`` last."""
    files = [p for p in folder.iterdir() if p.is_file() and p.name != NOTE]
    secret = {bundle.KEY, SIGNING}

    def order(path: Path) -> tuple[int, str]:
        if path.name in secret or path.name.endswith(bundle.PASSWORD_SUFFIX):
            return 0, path.name
        return (2 if path.name == CERT else 1), path.name

    for path in sorted(files, key=order):
        if order(path)[0] == 0:
            _zero(path)
        if path.name in (*bundle.REQUIRED, SITE) or order(path)[0] == 0:
            path.unlink()
            log.info("erased %s", path)
    _fsync_dir(folder)
    note = folder / NOTE
    note.write_text(
        f"This box was provisioned on {iso(now())}; the enrollment bundle was erased.\n"
        "To enroll it again, copy a new bundle into this folder (see docs/deployment.md).\n"
    )
    _fsync_dir(folder)


def _zero(path: Path) -> None:
    """Overwrite ``path`` with zeros and flush it to the medium (best effort on flash)."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems (vfat on old kernels) refuse directory fsync
        log.debug("fsync of %s: %s", folder, exc)
    finally:
        os.close(fd)
