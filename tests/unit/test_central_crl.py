"""Revocation: ``ca revoke``, the CRL (central.crl), the versioned index, ``enroll --replace``,
installing the CRL for the broker (``ca crl --copy-to``: which serials are newly revoked there,
the flags reeferwatch-crl.{path,service} act on), and central no longer trusting a revoked
device's manifest key. No broker here (test_tls_broker.py runs the CRL in Mosquitto)."""

from __future__ import annotations

import datetime
import json
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from central import crl
from central.ca import RESTART_FLAG, UPDATE_FLAG, CaError, CertificateAuthority
from central.cli import main
from central.db import Audit, Database
from central.db.models import DeviceKey
from central.ingest.manifests import trusted_key
from central.settings import Settings

DAY = datetime.timedelta(days=1)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def load_crl(ca: CertificateAuthority) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(ca.crl_file.read_bytes())


def reasons(revoked: x509.CertificateRevocationList) -> dict[int, x509.ReasonFlags | None]:
    """serial → CRL reason (None when the entry carries none)."""
    out: dict[int, x509.ReasonFlags | None] = {}
    for entry in revoked:
        try:
            out[entry.serial_number] = entry.extensions.get_extension_for_class(
                x509.CRLReason
            ).value.reason
        except x509.ExtensionNotFound:
            out[entry.serial_number] = None
    return out


def assert_signed_by_ca(revoked: x509.CertificateRevocationList, ca: CertificateAuthority) -> None:
    public_key = ca.cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert revoked.is_signature_valid(public_key)
    assert revoked.issuer == ca.cert.subject
    assert crl.problem(revoked, ca.cert) is None


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    authority = CertificateAuthority.init(tmp_path / "ca")
    for device in ("edge01", "edge02"):
        authority.enroll_device("site01", device, tmp_path / device, "h")
    return authority


def test_init_writes_an_empty_signed_crl_at_once(tmp_path: Path) -> None:
    fresh = CertificateAuthority.init(tmp_path / "fresh")
    empty = load_crl(fresh)
    assert len(empty) == 0
    assert_signed_by_ca(empty, fresh)
    assert crl.number(empty) == 1
    assert stat.S_IMODE(fresh.crl_file.stat().st_mode) == 0o644
    assert empty.last_update_utc <= now()
    next_update = empty.next_update_utc
    assert next_update is not None
    assert now() + 29 * DAY < next_update <= now() + 30 * DAY
    assert not (fresh.directory / UPDATE_FLAG).exists()  # nothing revoked, nothing to install


def test_revoke_lists_the_serial_with_its_reason(ca: CertificateAuthority, tmp_path: Path) -> None:
    edge01, edge02 = (
        serial_of(tmp_path / "edge01/device.pem"),
        serial_of(tmp_path / "edge02/device.pem"),
    )
    [entry] = ca.revoke(name="edge01", reason="keyCompromise")
    assert entry["serial"] == format(edge01, "x") and entry["reason"] == "keyCompromise"

    revoked = load_crl(ca)
    assert_signed_by_ca(revoked, ca)
    assert reasons(revoked) == {edge01: x509.ReasonFlags.key_compromise}
    assert revoked.get_revoked_certificate_by_serial_number(edge02) is None
    assert crl.number(revoked) == 2  # init wrote 1
    listed = revoked.get_revoked_certificate_by_serial_number(edge01)
    assert listed is not None
    assert abs(listed.revocation_date_utc - now()) < datetime.timedelta(minutes=1)
    assert not ca.has_valid("edge01") and ca.has_valid("edge02")
    # recorded in the index, the file rewritten as version 2
    doc = json.loads(ca.index_file.read_text())
    assert doc["version"] == 2 and doc["crl_number"] == 2
    assert [e.get("reason") for e in doc["issued"]] == ["keyCompromise", None]


def test_revoke_by_serial_and_without_a_reason(ca: CertificateAuthority, tmp_path: Path) -> None:
    serial = serial_of(tmp_path / "edge02/device.pem")
    spelled = ":".join(f"{b:02X}" for b in serial.to_bytes(20, "big"))  # openssl's spelling
    [entry] = ca.revoke(serial=spelled)
    assert entry["name"] == "edge02" and entry["reason"] == "unspecified"
    assert reasons(load_crl(ca)) == {serial: None}  # RFC 5280: leave "unspecified" out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "edge09"}, "no certificate with name 'edge09'"),
        ({"serial": "abc"}, "no certificate with serial abc"),
        ({"name": "edge01", "reason": "stolen"}, "unknown revocation reason 'stolen'"),
        ({}, "a name or a serial"),
        ({"name": "edge01", "serial": "abc"}, "a name or a serial"),
    ],
)
def test_revoke_refuses_what_it_cannot_do(
    ca: CertificateAuthority, kwargs: dict[str, Any], message: str
) -> None:
    before = ca.crl_file.read_bytes()
    with pytest.raises(CaError, match=message):
        ca.revoke(**kwargs)
    assert ca.crl_file.read_bytes() == before
    assert all("revoked_at" not in e for e in ca.index())


def test_revoking_twice_says_so(ca: CertificateAuthority) -> None:
    ca.revoke(name="edge01", reason="cessationOfOperation")
    with pytest.raises(CaError, match="revoked already .*cessationOfOperation"):
        ca.revoke(name="edge01")


def test_reissue_keeps_entries_and_counts_up(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca.revoke(name="edge01", reason="cessationOfOperation")
    first = load_crl(ca)
    again = ca.issue_crl(days=7)
    assert load_crl(ca) == again
    assert crl.number(again) == crl.number(first) + 1
    assert reasons(again) == reasons(first) != {}
    next_update = again.next_update_utc
    assert next_update is not None and now() + 6 * DAY < next_update <= now() + 7 * DAY
    with pytest.raises(CaError, match="at least 1 day"):
        ca.issue_crl(days=0)
    # nothing left behind by the atomic writes; the revocation is not installed anywhere yet
    assert sorted(p.name for p in ca.directory.iterdir()) == [
        UPDATE_FLAG,
        "ca.key",
        "ca.pem",
        "crl.pem",
        "index.json",
        "index.lock",
    ]


def test_expired_certificates_leave_the_crl(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca.enroll_device("site01", "edge03", tmp_path / "edge03", "h", days=1)
    ca.revoke(name="edge03")
    assert len(load_crl(ca)) == 1
    doc = json.loads(ca.index_file.read_text())
    doc["issued"][-1]["not_after"] = (now() - DAY).isoformat()
    ca.index_file.write_text(json.dumps(doc))
    assert len(ca.issue_crl()) == 0


def test_enroll_replace_revokes_the_old_certificate(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    old = serial_of(tmp_path / "edge01/device.pem")
    assert not (ca.directory / UPDATE_FLAG).exists()
    issued = ca.enroll_device("site01", "edge01", tmp_path / "edge01-new", "h", replace=True)
    assert [e["serial"] for e in issued.superseded] == [format(old, "x")]
    assert (ca.directory / UPDATE_FLAG).exists()  # reeferwatch-crl.path starts the install
    revoked = load_crl(ca)
    assert reasons(revoked) == {old: x509.ReasonFlags.superseded}
    assert revoked.get_revoked_certificate_by_serial_number(issued.cert.serial_number) is None
    assert ca.has_valid("edge01")
    # a second replacement revokes only the one issued in between
    third = ca.enroll_device("site02", "edge01", tmp_path / "edge01-3", "h", replace=True)
    assert [e["serial"] for e in third.superseded] == [format(issued.cert.serial_number, "x")]
    assert set(reasons(load_crl(ca))) == {old, issued.cert.serial_number}


def test_a_version_1_index_is_read_and_upgraded(tmp_path: Path) -> None:
    authority = CertificateAuthority.init(tmp_path / "ca")
    authority.enroll_device("site01", "edge01", tmp_path / "b", "h")
    entries = json.loads(authority.index_file.read_text())["issued"]
    authority.index_file.write_text(json.dumps({"version": 1, "issued": entries}))  # as 0.1 wrote
    assert authority.devices() == entries
    authority.revoke(name="edge01", reason="superseded")
    doc = json.loads(authority.index_file.read_text())
    assert doc["version"] == 2 and doc["crl_number"] == 1
    assert doc["issued"][0] == {**entries[0], "revoked_at": doc["issued"][0]["revoked_at"],
                                "reason": "superseded"}  # fmt: skip
    authority.index_file.write_text(json.dumps({"version": 3, "issued": []}))
    with pytest.raises(CaError, match="index version 3"):
        authority.index()
    authority.index_file.write_text("{not json")
    with pytest.raises(CaError, match="is not a CA index"):
        authority.index()


def test_concurrent_revocations_and_reissues_lose_nothing(tmp_path: Path) -> None:
    """The daily re-issue may run while an operator revokes: the index lock keeps both."""
    authority = CertificateAuthority.init(tmp_path / "ca")
    devices = [f"edge{i:02d}" for i in range(6)]
    for device in devices:
        authority.enroll_device("site01", device, tmp_path / device, "h")
    directory = authority.directory
    jobs: list[Callable[[], object]] = [
        *(partial(lambda d: CertificateAuthority(directory).revoke(name=d), d) for d in devices),
        *(lambda: CertificateAuthority(directory).issue_crl() for _ in range(6)),
    ]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result(timeout=60)  # re-raises what the job raised
    final = load_crl(authority)
    assert len(final) == len(devices)
    assert crl.number(final) == 1 + len(jobs)
    assert not any(authority.has_valid(d) for d in devices)


# --- installing the CRL for the broker: restart only for newly revoked serials ----------


def test_install_flags_a_restart_only_for_newly_revoked_serials(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    target = tmp_path / "mosquitto" / "reeferwatch-crl.pem"
    target.parent.mkdir()
    edge01 = serial_of(tmp_path / "edge01/device.pem")
    edge02 = serial_of(tmp_path / "edge02/device.pem")
    restart = ca.directory / RESTART_FLAG

    # first CRL there, nothing revoked: a reload is enough
    first = ca.install_crl(target)
    assert (first.newly_revoked, first.restart_flag) == ((), None)
    assert not restart.exists()
    assert target.read_bytes() == ca.crl_file.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644

    # a new serial revoked: flagged, and the revocation counts as installed
    ca.revoke(name="edge01", reason="keyCompromise")
    assert (ca.directory / UPDATE_FLAG).exists()
    second = ca.install_crl(target)
    assert second.newly_revoked == (edge01,) and second.restart_flag == restart
    assert f"newly revokes {edge01:x}" in restart.read_text()
    assert stat.S_IMODE(restart.stat().st_mode) == 0o600
    assert not (ca.directory / UPDATE_FLAG).exists()
    assert set(reasons(x509.load_pem_x509_crl(target.read_bytes()))) == {edge01}

    # the same revocations again (the daily run): not flagged; the flag is not cleared here,
    # only by whoever restarts the broker
    again = ca.install_crl(target)
    assert again.newly_revoked == () and again.restart_flag is None
    assert crl.number(again.crl) == crl.number(second.crl) + 1
    assert restart.exists()
    restart.unlink()  # what reeferwatch-crl.service does after restarting Mosquitto
    assert ca.install_crl(target).restart_flag is None and not restart.exists()

    # one more: only the new one is named
    ca.revoke(name="edge02")
    assert ca.install_crl(target).newly_revoked == (edge02,)
    assert f"newly revokes {edge02:x}\n" in restart.read_text()


def test_install_first_crl_with_revocations_is_flagged(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    edge01 = serial_of(tmp_path / "edge01/device.pem")
    ca.revoke(name="edge01")
    target = tmp_path / "reeferwatch-crl.pem"  # nothing there before
    installed = ca.install_crl(target)
    assert installed.newly_revoked == (edge01,)
    assert installed.restart_flag == ca.directory / RESTART_FLAG
    assert installed.restart_flag.exists()


UNUSABLE = ["missing", "a directory", "empty", "garbage", "another CA"]


def write_unusable(target: Path, previous: str, ca: CertificateAuthority, serial: int) -> None:
    """What a broker could not have enforced at ``target``: missing, unreadable (a directory
    fails to read as an unreadable file would), not a CRL, or listing ``serial`` but signed by
    another CA with the same name."""
    if previous == "another CA":
        other = CertificateAuthority.init(target.parent / "other-ca")
        assert other.cert.subject == ca.cert.subject
        forged = crl.build(other.key, other.cert, [crl.Revoked(serial, now(), "unspecified")], 9)
        target.write_bytes(crl.pem(forged))
    elif previous == "a directory":
        target.mkdir()
    elif previous != "missing":
        target.write_bytes(b"" if previous == "empty" else b"-----BEGIN X509 CRL-----\nxx\n")


@pytest.mark.parametrize("previous", UNUSABLE)
def test_an_unusable_crl_revokes_nothing(
    ca: CertificateAuthority, tmp_path: Path, previous: str
) -> None:
    edge01 = serial_of(tmp_path / "edge01/device.pem")
    target = tmp_path / "reeferwatch-crl.pem"
    write_unusable(target, previous, ca, edge01)
    assert crl.installed_serials(target, ca.cert) == frozenset()


@pytest.mark.parametrize("revoked", [False, True])
@pytest.mark.parametrize("previous", [p for p in UNUSABLE if p != "a directory"])
def test_install_over_an_unusable_crl_is_flagged_when_anything_is_revoked(
    ca: CertificateAuthority, tmp_path: Path, previous: str, revoked: bool
) -> None:
    """Nothing counts as revoked before, so the restart is flagged exactly when the new CRL
    revokes anything."""
    edge01 = serial_of(tmp_path / "edge01/device.pem")
    target = tmp_path / "reeferwatch-crl.pem"
    write_unusable(target, previous, ca, edge01)
    if revoked:
        ca.revoke(name="edge01")
    installed = ca.install_crl(target)
    assert installed.newly_revoked == ((edge01,) if revoked else ())
    assert (installed.restart_flag is not None) == revoked
    assert (ca.directory / RESTART_FLAG).exists() == revoked
    assert target.read_bytes() == ca.crl_file.read_bytes()


def test_install_refuses_what_it_cannot_do(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca.revoke(name="edge01")
    with pytest.raises(CaError, match="cannot copy the CRL"):
        ca.install_crl(tmp_path / "missing" / "crl.pem")
    # the restart flag is written before the copy (a crash in between must not lose the
    # restart); the revocation stays pending, so reeferwatch-crl.path keeps it in view
    assert (ca.directory / RESTART_FLAG).exists()
    assert (ca.directory / UPDATE_FLAG).exists()
    with pytest.raises(CaError, match="at least 1 day"):
        ca.install_crl(tmp_path / "crl.pem", days=0)


# --- the CLI: revoke untrusts the manifest key; enroll --replace; crl --copy-to ----------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REEFERWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert main(["ca", "init"]) == 0
    for device in ("e1", "e2"):
        assert main(["device", "enroll", "--site", "s1", "--device", device]) == 0
    return tmp_path


def db_rows(model: Any) -> list[Any]:
    with Database(Settings().database_url) as db, db.session() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def trusted(site: str, device: str) -> str | None:
    with Database(Settings().database_url) as db, db.session() as session:
        row = trusted_key(session, site, device)
        return None if row is None else row.public_key


def test_cli_revoke_untrusts_the_manifest_key(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_e1, key_e2 = trusted("s1", "e1"), trusted("s1", "e2")
    assert key_e1 and key_e2
    serial = serial_of(cli_env / "enroll-s1-e1/device.pem")
    capsys.readouterr()

    assert main(["ca", "revoke", "--name", "e1", "--reason", "keyCompromise"]) == 0
    out = capsys.readouterr().out
    assert f"revoked device e1 serial {serial:x} (keyCompromise)" in out
    assert "untrusted manifest key" in out and "reeferwatch-crl.service" in out

    authority = CertificateAuthority(cli_env / "data/ca")
    assert reasons(load_crl(authority)) == {serial: x509.ReasonFlags.key_compromise}
    assert trusted("s1", "e1") is None  # its clips are refused from now on
    assert trusted("s1", "e2") == key_e2
    [e1_key] = [k for k in db_rows(DeviceKey) if k.device == "e1"]
    assert e1_key.public_key == key_e1 and e1_key.revoked_at is not None
    actions = [(a.action, a.target) for a in db_rows(Audit)]
    assert actions[-2:] == [("ca.revoke", "s1/e1"), ("device.untrust", "s1/e1")]
    assert db_rows(Audit)[-2].detail["serial"] == format(serial, "x")
    assert main(["audit", "verify"]) == 0
    capsys.readouterr()

    assert main(["device", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[-1].startswith("revoked ") and lines[0].endswith(" keyCompromise")
    assert lines[1].endswith("\tvalid")


def test_cli_revoking_an_old_serial_keeps_the_current_key(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a device left without a valid certificate loses its manifest key."""
    old = serial_of(cli_env / "enroll-s1-e1/device.pem")
    assert main(["device", "enroll", "--site", "s1", "--device", "e1", "--replace",
                 "--out", "replaced"]) == 0  # fmt: skip
    new = serial_of(cli_env / "replaced/device.pem")
    # two valid certificates for e1, as a --replace before revocation existed left them
    index = cli_env / "data/ca/index.json"
    doc = json.loads(index.read_text())
    for entry in doc["issued"]:
        entry.pop("revoked_at", None), entry.pop("reason", None)
    index.write_text(json.dumps(doc))
    key = trusted("s1", "e1")
    assert key is not None

    assert main(["ca", "revoke", "--serial", format(old, "x")]) == 0
    assert trusted("s1", "e1") == key  # e1 still holds a valid certificate
    capsys.readouterr()
    assert main(["ca", "revoke", "--serial", format(old, "x")]) == 1
    assert "revoked already" in capsys.readouterr().err
    assert main(["ca", "revoke", "--serial", format(new, "x")]) == 0
    assert trusted("s1", "e1") is None


def test_cli_enroll_replace_revokes_and_retrusts(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_serial = serial_of(cli_env / "enroll-s1-e1/device.pem")
    old_key = trusted("s1", "e1")
    capsys.readouterr()
    # the box moves to site s2 with a new bundle
    assert main(["device", "enroll", "--site", "s2", "--device", "e1", "--replace"]) == 0
    out = capsys.readouterr().out
    assert f"revoked device e1 serial {old_serial:x} (superseded)" in out
    authority = CertificateAuthority(cli_env / "data/ca")
    assert reasons(load_crl(authority)) == {old_serial: x509.ReasonFlags.superseded}
    assert trusted("s1", "e1") is None  # the old site's key is gone too
    new_key = trusted("s2", "e1")
    assert new_key is not None and new_key != old_key
    actions = [a.action for a in db_rows(Audit)][-3:]
    assert actions == ["ca.revoke", "device.untrust", "device.trust"]


def test_cli_revoke_errors_name_the_problem(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["ca", "revoke", "--name", "nobody"]) == 1
    assert "no certificate with name 'nobody'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ca", "revoke", "--name", "e1", "--reason", "stolen"])  # argparse choices
    assert trusted("s1", "e1") is not None


def test_cli_crl_reissues_and_copies_atomically(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = cli_env / "mosquitto" / "reeferwatch-crl.pem"
    target.parent.mkdir()
    capsys.readouterr()
    assert main(["ca", "crl", "--days", "10", "--copy-to", str(target)]) == 0
    out = capsys.readouterr().out
    authority = CertificateAuthority(cli_env / "data/ca")
    assert target.read_bytes() == authority.crl_file.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    copied = x509.load_pem_x509_crl(target.read_bytes())
    assert_signed_by_ca(copied, authority)
    assert f"CRL number {crl.number(copied)}, 0 revoked" in out and f"copied to {target}" in out
    assert sorted(p.name for p in target.parent.iterdir()) == ["reeferwatch-crl.pem"]
    assert "no certificate newly revoked there" in out
    assert not (authority.directory / RESTART_FLAG).exists()

    serial = serial_of(cli_env / "enroll-s1-e1/device.pem")
    assert main(["ca", "revoke", "--name", "e1"]) == 0
    capsys.readouterr()
    assert main(["ca", "crl", "--copy-to", str(target)]) == 0
    out = capsys.readouterr().out
    flag = authority.directory / RESTART_FLAG
    assert f"newly revoked there: serial {serial:x}" in out and str(flag) in out
    assert flag.exists() and not (authority.directory / UPDATE_FLAG).exists()
    assert main(["ca", "crl", "--copy-to", str(target)]) == 0
    assert "no certificate newly revoked there" in capsys.readouterr().out

    assert main(["ca", "crl", "--copy-to", str(cli_env / "missing/dir/crl.pem")]) == 1
    assert "cannot copy the CRL" in capsys.readouterr().err


def test_problem_spots_a_crl_the_broker_would_choke_on(tmp_path: Path) -> None:
    """Mosquitto refuses every client with an expired CRL or one the CA did not sign."""
    one = CertificateAuthority.init(tmp_path / "one")
    other = CertificateAuthority.init(tmp_path / "other")
    stale = crl.build(one.key, one.cert, [], 5, days=1, now=now() - 2 * DAY)
    assert "expired" in (crl.problem(stale, one.cert) or "")
    foreign = crl.build(other.key, other.cert, [], 5)  # same CA name, another key
    assert "signature does not verify" in (crl.problem(foreign, one.cert) or "")
