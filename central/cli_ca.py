"""``reeferwatch-central ca …`` and ``device …``: the broker's CA, revocation and the CRL,
device enrollment, and the manifest keys central trusts (``device trust`` / ``chain``)."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from central import audit, crl
from central.ca import CENTRAL_CN, LEAF_DAYS, CaError, CertificateAuthority
from central.ca_files import fingerprint
from central.db.engine import Database
from central.settings import Settings
from wire import topics
from wire.manifest import key_fingerprint


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def dir_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--dir", type=Path, default=None, help="CA dir ({data_dir}/ca)")
        return parser

    ca = sub.add_parser("ca", help="the broker's certificate authority")
    ca_sub = ca.add_subparsers(dest="ca_command", required=True)
    init = ca_sub.add_parser("init", help="create the CA key and certificate")
    dir_option(init)
    server = ca_sub.add_parser("server-cert", help="issue the broker's server certificate")
    dir_option(server)
    server.add_argument("--host", action="append", default=[], help="DNS name (repeatable)")
    server.add_argument("--ip", action="append", default=[], help="IP address (repeatable)")
    server.add_argument("--out", type=Path, default=None, help="default {ca dir}/server")
    server.add_argument("--days", type=int, default=LEAF_DAYS)
    client = ca_sub.add_parser("client-cert", help="issue central ingest's client certificate")
    dir_option(client)
    client.add_argument("--name", default=CENTRAL_CN)
    client.add_argument("--out", type=Path, default=None, help="default {ca dir}/NAME")
    client.add_argument("--days", type=int, default=LEAF_DAYS)
    revoke = ca_sub.add_parser("revoke", help="revoke certificates and re-issue the CRL")
    dir_option(revoke)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="every unrevoked certificate with this CN (device id)")
    which.add_argument("--serial", help="one certificate, by serial (hex, as in index.json)")
    revoke.add_argument("--reason", choices=sorted(crl.REASONS), default="unspecified")
    crl_cmd = ca_sub.add_parser("crl", help="re-issue the CRL (before its next update)")
    dir_option(crl_cmd)
    crl_cmd.add_argument("--days", type=int, default=crl.CRL_DAYS, help="until next update")
    crl_cmd.add_argument(
        "--copy-to", type=Path, default=None, help="also write it here, atomically (the broker)"
    )

    device = sub.add_parser("device", help="edge devices")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    enroll = device_sub.add_parser("enroll", help="key, certificate and edge.toml snippet")
    dir_option(enroll)
    enroll.add_argument("--site", required=True)
    enroll.add_argument("--device", required=True)
    enroll.add_argument("--out", type=Path, default=None, help="default ./enroll-SITE-DEVICE")
    enroll.add_argument("--broker-host", default=None, help="default REEFERWATCH_MQTT_HOST")
    enroll.add_argument("--broker-port", type=int, default=8883)
    enroll.add_argument(
        "--tls-dir",
        default="/etc/reeferwatch",
        help="where the box keeps the bundle's files (paths in the snippet)",
    )
    enroll.add_argument("--days", type=int, default=LEAF_DAYS)
    enroll.add_argument("--replace", action="store_true", help="re-issue an enrolled device")
    dir_option(device_sub.add_parser("list", help="enrolled devices"))
    trust = device_sub.add_parser(
        "trust", help="trust a device's manifest key (from `reeferwatch-edge identity`)"
    )
    chain = device_sub.add_parser(
        "chain", help="a device's manifest chain: links, holes, breaks (exit 3 on a break)"
    )
    for parser in (trust, chain):
        parser.add_argument("--site", required=True)
        parser.add_argument("--device", required=True)
    trust.add_argument("--public-key", required=True, help="base64 Ed25519 public key")


@contextlib.contextmanager
def _db_session(settings: Settings) -> Iterator[Session]:
    """A session on the migrated database, committed when the block ends without error."""
    with Database(settings.database_url) as db:
        db.migrate()
        with db.session() as session:
            yield session
            session.commit()


def _revoked_in_db(session: Session, revoked: list[dict[str, Any]], by: str) -> None:
    """One audit line per revoked certificate."""
    for entry in revoked:
        target = f"{entry['site']}/{entry['name']}" if entry["kind"] == "device" else entry["name"]
        detail = {key: entry[key] for key in ("kind", "serial", "sha256", "reason")}
        audit.append(session, by, "ca.revoke", target, detail)
        print(
            f"revoked {entry['kind']} {entry['name']} serial {entry['serial']} ({entry['reason']})"
        )


def _untrust(session: Session, device: str, by: str) -> None:
    from central.ingest.manifests import untrust

    for key in untrust(session, device):
        audit.append(session, by, "device.untrust", f"{key.site}/{device}",
                     {"public_key": key.public_key})  # fmt: skip
        print(f"untrusted manifest key {key_fingerprint(key.public_key)} of {key.site}/{device}")


def _revoke(settings: Settings, authority: CertificateAuthority, args: argparse.Namespace) -> None:
    """``ca revoke``: the CA index and CRL first (what the broker enforces), then central stops
    trusting the manifest key of every device left without a valid certificate."""
    with _db_session(settings) as session:  # connected first: no half-done revocation
        revoked = authority.revoke(args.name, args.serial, args.reason)
        _revoked_in_db(session, revoked, "cli")
        devices = {entry["name"] for entry in revoked if entry["kind"] == "device"}
        for device in sorted(devices):
            if not authority.has_valid(device):
                _untrust(session, device, "cli")
    print(
        f"CRL {authority.crl_file} re-issued. With reeferwatch-crl.path enabled, "
        "reeferwatch-crl.service installs it within seconds and restarts Mosquitto, which cuts "
        "the sessions open now; otherwise run systemctl start reeferwatch-crl.service "
        "(docs/deployment.md)"
    )


def _issue_crl(authority: CertificateAuthority, days: int, copy_to: Path | None) -> None:
    """``ca crl``; with ``--copy-to`` the CRL is installed for the broker and, when it revokes
    a serial the file there did not, the broker-restart flag is written (``ca.install_crl``)."""
    installed = None if copy_to is None else authority.install_crl(copy_to, days)
    issued = authority.issue_crl(days) if installed is None else installed.crl
    problem = crl.problem(issued, authority.cert)  # install_crl checked before copying
    if problem is not None:
        raise CaError(f"the CRL just issued is unusable: {problem}")
    print(
        f"CRL number {crl.number(issued)}, {len(issued)} revoked, next update "
        f"{issued.next_update_utc:%Y-%m-%d %H:%M} UTC: {authority.crl_file}"
    )
    if installed is None:
        return
    print(f"copied to {installed.target}")
    if installed.restart_flag is None:
        print("no certificate newly revoked there: a reload of the broker is enough")
        return
    serials = ", ".join(format(serial, "x") for serial in installed.newly_revoked)
    print(
        f"newly revoked there: serial {serials}. Restart the broker to cut the sessions open "
        f"now (a reload keeps them); flag written: {installed.restart_flag} "
        "(reeferwatch-crl.service restarts Mosquitto, then removes it)"
    )


def _ca(settings: Settings, args: argparse.Namespace) -> None:
    directory: Path = args.dir or settings.data_dir / "ca"
    if args.command == "ca" and args.ca_command == "init":
        authority = CertificateAuthority.init(directory)
        print(
            f"CA created in {directory}: key {directory / 'ca.key'} (0600), "
            f"certificate {authority.cert_file}, sha256 {fingerprint(authority.cert)}, "
            f"empty CRL {authority.crl_file}"
        )
        return
    authority = CertificateAuthority(directory)
    if args.command == "ca" and args.ca_command == "revoke":
        _revoke(settings, authority, args)
        return
    if args.command == "ca" and args.ca_command == "crl":
        _issue_crl(authority, args.days, args.copy_to)
        return
    if args.command == "ca" and args.ca_command == "server-cert":
        issued = authority.issue_server(
            args.out or directory / "server", args.host, args.ip, args.days
        )
    elif args.command == "ca":
        issued = authority.issue_client(args.name, args.out or directory / args.name, args.days)
    elif args.device_command == "list":
        for entry in authority.devices():
            state = "valid"
            if "revoked_at" in entry:
                state = f"revoked {entry['revoked_at']} {entry['reason']}"
            fields = (entry["site"], entry["name"], entry["not_after"], entry["sha256"], state)
            print("\t".join(fields))
        return
    else:
        out = args.out or Path(f"enroll-{args.site}-{args.device}")
        issued = authority.enroll_device(
            args.site,
            args.device,
            out,
            args.broker_host or settings.mqtt_host,
            args.broker_port,
            args.tls_dir,
            args.days,
            args.replace,
        )
    print(
        f"issued {issued.cert_file} (key {issued.key_file}, CA {issued.ca_file}), "
        f"sha256 {issued.fingerprint}, valid until {issued.cert.not_valid_after_utc:%Y-%m-%d}"
    )
    if issued.signing_public_key is not None:
        _trust(settings, args.site, args.device, issued.signing_public_key, "enroll",
               issued.superseded)  # fmt: skip
    if issued.superseded:
        print(
            "the replaced certificate is revoked: with reeferwatch-crl.path enabled the broker "
            "refuses it and drops its session within seconds: install the new bundle on the "
            "box now (docs/deployment.md)"
        )


def _trust(
    settings: Settings,
    site: str,
    device: str,
    public_key: str,
    by: str,
    superseded: Sequence[dict[str, Any]] = (),
) -> None:
    """Trust ``public_key``; after ``enroll --replace`` (``superseded`` certificates) the
    device's earlier keys, at any site, are untrusted first: the new bundle replaces all."""
    from central.ingest.manifests import trust

    with _db_session(settings) as session:
        if superseded:
            _revoked_in_db(session, list(superseded), by)
            _untrust(session, device, by)
        trust(session, site, device, public_key, by)
        audit.append(session, by, "device.trust", f"{site}/{device}",
                     {"public_key": public_key.strip()})  # fmt: skip
    print(f"trusted manifest key {key_fingerprint(public_key.strip())} for {site}/{device}")


def _device_keys(settings: Settings, args: argparse.Namespace) -> int:
    """``device trust`` (an edge's ``identity`` public key) and ``device chain``."""
    for value, what in ((args.site, "site"), (args.device, "device")):
        topics.check_id(value, what)
    if args.device_command == "trust":
        _trust(settings, args.site, args.device, args.public_key, "cli")
        return 0
    from central.ingest.manifests import chain_report

    with Database(settings.database_url) as db, db.session() as session:
        report = chain_report(session, args.site, args.device)
    print(json.dumps(report))
    return 3 if report["breaks"] else 0


def handles(args: argparse.Namespace) -> bool:
    return bool(args.command in ("ca", "device"))


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "device" and args.device_command in ("trust", "chain"):
        return _device_keys(settings, args)
    _ca(settings, args)
    return 0
