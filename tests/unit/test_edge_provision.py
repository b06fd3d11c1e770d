"""First-boot provisioning (edge.provision, edge.bundle) against a fake boot folder and /etc.

Bundles are real: made by central's CA exactly as ``reeferwatch-central device enroll`` makes
them, plus the site.toml an installer adds.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
from pathlib import Path

import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st

from central.ca import CertificateAuthority
from edge import cli
from edge.bundle import ProvisionError, _dump_toml
from edge.config import load_config
from edge.panel.notice import open_notice, pattern
from edge.pins.gpiozero_backend import GpiozeroBackend
from edge.provision import MARKER, NOTE, Layout, Owners, provision

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
backend = "mock"

[[gpio.inputs]]
name = "line1_md"
pin = 17
kind = "metal_detector_reject"

[panel.leds]
green = 5
red = 13
"""
SECRETS = ("device.key", "signing.key", "dock1.password")
BUNDLE_FILES = ("ca.pem", "device.pem", "edge.toml", "site.toml", *SECRETS)
# as root the owners are real and distinct; otherwise only modes are checked
ROOT = os.geteuid() == 0
OWNERS = Owners(0, 4242, 4343) if ROOT else Owners(os.getuid(), os.getgid(), os.getuid())
DEVICES = itertools.count(1)  # one CA for the module: every bundle gets a device id of its own


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path_factory.mktemp("ca") / "ca")


def make_bundle(
    ca: CertificateAuthority, folder: Path, device: str = "edge01", replace: bool = False
) -> Path:
    ca.enroll_device("site01", device, folder, "mqtt.example.org", 8883, replace=replace)
    (folder / "site.toml").write_text(SITE_TOML)
    (folder / "dock1.password").write_text("s3cret\n")
    return folder


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 rootwait\n")
    return Layout(
        tmp_path / "boot" / "reeferwatch", tmp_path / "etc" / "reeferwatch", OWNERS, cmdline
    )


@pytest.fixture
def bundle(ca: CertificateAuthority, layout: Layout) -> Path:
    return make_bundle(ca, layout.boot_dir, device=f"edge{next(DEVICES)}")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_good_bundle_is_installed_and_erased(layout: Layout, bundle: Path) -> None:
    key_copy = layout.boot_dir.parent / "device.key.link"
    os.link(layout.boot_dir / "device.key", key_copy)  # sees the key's blocks after unlink
    outcome = provision(layout)
    assert outcome.state == "provisioned"

    etc = layout.etc_dir
    for name in ("ca.pem", "device.pem", "device.key", "dock1.password", "edge.toml"):
        assert mode(etc / name) == 0o640, name
        if ROOT:
            assert ((etc / name).stat().st_uid, (etc / name).stat().st_gid) == (0, 4242)
    assert mode(etc / "signing.key") == 0o600
    if ROOT:
        assert (etc / "signing.key").stat().st_uid == 4343
    assert mode(etc) == 0o750
    assert not (etc / "site.toml").exists()
    assert not list(etc.glob(".*.provision"))

    config = load_config(etc / "edge.toml")
    assert config.site.device == outcome.device and config.site.location_code == "370200-QD-01"
    assert config.mqtt.ca_file == str(etc / "ca.pem") and config.mqtt.port == 8883
    assert config.mqtt.key_file == str(etc / "device.key")
    assert config.signing_key_path == etc / "signing.key"
    assert config.cameras[0].password_file == etc / "dock1.password"  # type: ignore[union-attr]

    # the boot folder holds no secret and no bundle file any more, only the note
    assert [p.name for p in layout.boot_dir.iterdir()] == [NOTE]
    assert key_copy.read_bytes().strip(b"\0") == b""  # overwritten before the unlink
    assert (etc / MARKER).exists()


def test_a_second_run_is_a_no_op(layout: Layout, bundle: Path) -> None:
    provision(layout)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in layout.etc_dir.iterdir()}
    outcome = provision(layout)
    assert outcome.state == "already"
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in layout.etc_dir.iterdir()}
    assert after == before


def test_an_interrupted_erase_is_finished(layout: Layout, bundle: Path) -> None:
    kept = {name: (bundle / name).read_bytes() for name in BUNDLE_FILES}
    provision(layout)
    for name, data in kept.items():  # as if the power went before the erase
        (bundle / name).write_bytes(data)
    installed = (layout.etc_dir / "edge.toml").stat().st_ino
    assert provision(layout).state == "erased"
    assert [p.name for p in bundle.iterdir()] == [NOTE]
    assert (layout.etc_dir / "edge.toml").stat().st_ino == installed


def test_a_new_bundle_replaces_the_installed_one(
    ca: CertificateAuthority, layout: Layout, bundle: Path
) -> None:
    first = provision(layout)
    old_cert = (layout.etc_dir / "device.pem").read_bytes()
    for name in BUNDLE_FILES:
        (bundle / name).unlink(missing_ok=True)
    assert first.device is not None
    make_bundle(ca, bundle, device=first.device, replace=True)  # `enroll --replace`
    assert provision(layout).state == "provisioned"
    assert (layout.etc_dir / "device.pem").read_bytes() != old_cert
    assert [p.name for p in bundle.iterdir()] == [NOTE]


def test_no_bundle_and_not_provisioned_fails(layout: Layout) -> None:
    with pytest.raises(ProvisionError, match=r"not provisioned: no enrollment bundle in .*boot"):
        provision(layout)


def _swap_key(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    other = make_bundle(ca, tmp_path / "other", device=f"edge{next(DEVICES)}")
    shutil.copy(other / "device.key", bundle / "device.key")


def _foreign_cert(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    foreign = CertificateAuthority.init(tmp_path / "foreign-ca")
    other = make_bundle(foreign, tmp_path / "other", device="foreign")
    shutil.copy(other / "ca.pem", bundle / "ca.pem")


def _no_signing_key(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    (bundle / "signing.key").unlink()


def _rsa_signing_key(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    shutil.copy(bundle / "device.key", bundle / "signing.key")  # P-256, not Ed25519


def _typo(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    text = (bundle / "site.toml").read_text().replace("username = ", "usernme = ")
    (bundle / "site.toml").write_text(text)


def _contradiction(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    (bundle / "site.toml").write_text(SITE_TOML.replace("[site]\n", '[site]\nid = "site02"\n'))


def _cn_mismatch(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    text = (bundle / "edge.toml").read_text()
    start = text.index('device = "') + len('device = "')
    end = text.index('"', start)
    (bundle / "edge.toml").write_text(text[:start] + "edge99" + text[end:])


def _missing_password(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    (bundle / "dock1.password").unlink()


def _no_location(bundle: Path, ca: CertificateAuthority, tmp_path: Path) -> None:
    (bundle / "site.toml").unlink()


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        pytest.param(_swap_key, r"device\.key: does not belong to the certificate", id="swap_key"),
        pytest.param(
            _foreign_cert, r"device\.pem: not issued by the CA in .*ca\.pem", id="foreign_cert"
        ),
        pytest.param(_no_signing_key, r"signing\.key: missing", id="no_signing_key"),
        pytest.param(
            _rsa_signing_key,
            r"signing\.key: the manifest signing key must be Ed25519",
            id="rsa_signing_key",
        ),
        pytest.param(_typo, r"cameras\.0\.usernme: unknown key", id="typo"),
        pytest.param(
            _contradiction,
            r"site\.toml: site\.id = 'site02' contradicts .*edge\.toml \('site01'\)",
            id="contradiction",
        ),
        pytest.param(
            _cn_mismatch, r"issued to '.*' but \[site\] device is 'edge99'", id="cn_mismatch"
        ),
        pytest.param(
            _missing_password,
            r"camera 'dock1' reads .*dock1\.password, which is neither in the",
            id="missing_password",
        ),
        pytest.param(_no_location, r"site\.location_code: Field required", id="no_location"),
    ],
)
def test_a_bad_bundle_installs_nothing_and_keeps_the_box_unprovisioned(
    breakage: object,
    message: str,
    ca: CertificateAuthority,
    layout: Layout,
    bundle: Path,
    tmp_path: Path,
) -> None:
    breakage(bundle, ca, tmp_path)  # type: ignore[operator]
    before = sorted(p.name for p in bundle.iterdir())
    with pytest.raises(ProvisionError, match=message):
        provision(layout)
    assert not layout.etc_dir.exists()  # nothing installed, no marker
    assert sorted(p.name for p in bundle.iterdir()) == before  # the bundle stays to be fixed


def test_overlayroot_disabled_is_not_volatile(layout: Layout, bundle: Path) -> None:
    layout.cmdline.write_text("root=PARTUUID=1234-02 overlayroot=disabled rootwait\n")
    assert provision(layout).state == "provisioned"


def test_a_volatile_root_is_refused(layout: Layout, bundle: Path) -> None:
    layout.cmdline.write_text("console=tty1 root=PARTUUID=1234-02 overlayroot=tmpfs:recurse=0\n")
    with pytest.raises(ProvisionError, match=r"volatile \(overlayroot=tmpfs:recurse=0\)"):
        provision(layout)
    assert not layout.etc_dir.exists()
    assert (bundle / "device.key").exists()


def test_the_command_reports_a_bad_bundle_with_exit_2(
    layout: Layout, bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (bundle / "signing.key").unlink()
    code = cli.main(
        ["provision", "--boot-dir", str(layout.boot_dir), "--etc-dir", str(layout.etc_dir)]
    )
    assert code == 2
    assert "provision: FAILED, the box stays unprovisioned:" in caplog.text
    assert "signing.key: missing" in caplog.text


def test_the_not_provisioned_code_uses_the_bundles_panel(layout: Layout, bundle: Path) -> None:
    (bundle / "signing.key").unlink()  # refused, but its [panel] still tells where the LEDs are
    backend = GpiozeroBackend(mock=True)
    try:
        notice = open_notice([bundle / "site.toml", layout.etc_dir / "edge.toml"], backend)
        assert notice is not None
        with notice:
            assert notice.leds.wired == frozenset({"green", "red"})
            shown = notice.leds.pattern
            assert shown == pattern(frozenset({"green", "red"}))
            lit = [colours for _, colours in shown.steps]
            assert lit == [frozenset({"red"}), frozenset()]  # red, one blink, then the pause
    finally:
        backend.close()


def test_no_panel_no_notice(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text('[site]\nlocation_code = "X-1"\n')
    assert open_notice([tmp_path / "site.toml", tmp_path / "missing.toml"]) is None


scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
keys = st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=5))
def test_the_rewritten_configuration_says_what_was_parsed(data: dict[str, object]) -> None:
    """edge.toml is written back from parsed TOML: whatever TOML can hold comes back equal."""
    assert tomllib.loads(_dump_toml(data)) == data
