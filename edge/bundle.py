"""The enrollment bundle on a boot partition: read it and check it before anything is installed.

A bundle is the directory ``reeferwatch-central device enroll`` writes (``ca.pem``,
``device.pem``, ``device.key``, ``signing.key`` and an ``edge.toml`` snippet with ``[site] id,
device`` and ``[mqtt]``), plus what the site adds: a ``site.toml`` with the rest of the
configuration (``[site] location_code``, ``[[cameras]]``, ``[gpio]`` …) and any camera
``NAME.password`` files. A complete ``edge.toml`` without ``site.toml`` works too.

``read_bundle(folder, etc_dir)`` returns a ``Bundle`` or raises ``ProvisionError`` naming the
file and the problem: a missing or oversized file, a certificate that is not from the bundle's
CA or does not match ``device.key``, a CN that is not the configured device id, a signing key
that is not Ed25519, or a configuration that ``edge.config`` refuses (a key in both TOML files
with different values is refused too). The configuration is rewritten so that the bundle's files
are found where they will be installed (``etc_dir``), whatever ``--tls-dir`` said at enrollment.
Certificate dates are not checked: a Pi without a real-time clock boots with a stale clock.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from edge.config import EdgeConfig, parse_config
from wire.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CA, CERT, KEY, SIGNING, CONFIG, SITE = (
    "ca.pem",
    "device.pem",
    "device.key",
    "signing.key",
    "edge.toml",
    "site.toml",
)
REQUIRED = (CA, CERT, KEY, SIGNING, CONFIG)
PASSWORD_SUFFIX = ".password"
MAX_FILE_BYTES = 256 * 1024


class ProvisionError(ConfigError):
    """An enrollment bundle cannot be installed; the message names the file and the problem."""


@dataclass(frozen=True)
class Bundle:
    """What will be installed: file name → bytes (the configuration already merged)."""

    folder: Path
    files: dict[str, bytes]
    config: EdgeConfig
    cert_sha256: str

    @property
    def secrets(self) -> list[str]:
        """Names of the files that must not stay on the boot partition."""
        return [n for n in self.files if n in (KEY, SIGNING) or n.endswith(PASSWORD_SUFFIX)]


def present(folder: Path) -> bool:
    """Is there anything of a bundle in ``folder``?"""
    return any((folder / name).exists() for name in (*REQUIRED, SITE))


def read_bundle(folder: Path, etc_dir: Path) -> Bundle:
    """Read and check the bundle in ``folder`` for installation into ``etc_dir``."""
    files = {name: _read(folder / name) for name in REQUIRED}
    if (folder / SITE).exists():
        files[SITE] = _read(folder / SITE)
    for path in sorted(folder.glob(f"*{PASSWORD_SUFFIX}")):
        files[path.name] = _read(path)
    ca, cert = _certificate(folder / CA, files[CA]), _certificate(folder / CERT, files[CERT])
    _issued_by(cert, ca, folder)
    _key_matches(cert, files[KEY], folder)
    _signing_key(files[SIGNING], folder)
    data = _merged(files, folder)
    _point_at(data, etc_dir)
    text = _dump_toml(data)
    if tomllib.loads(text) != data:  # what is installed must say exactly what was merged
        raise ProvisionError(f"{folder}: the merged configuration does not survive rewriting")
    merged = f"{folder}/{CONFIG} + {SITE}" if SITE in files else f"{folder}/{CONFIG}"
    try:
        config = parse_config(data, merged, etc_dir)
    except ConfigError as exc:
        raise ProvisionError(str(exc)) from exc
    _check_references(config, files, folder, etc_dir)
    cn = _common_name(cert)
    if cn != config.site.device:
        raise ProvisionError(
            f"{folder / CERT}: issued to {cn!r} but [site] device is {config.site.device!r} "
            "(the broker takes the certificate's CN as the device id)"
        )
    installed = {n: v for n, v in files.items() if n != SITE}
    installed[CONFIG] = text.encode()
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return Bundle(folder, installed, config, digest)


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProvisionError(f"{path}: {size} bytes, more than a bundle file can be")
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ProvisionError(
            f"{path}: missing (a bundle has {', '.join(REQUIRED)} from `device enroll`)"
        ) from exc
    except OSError as exc:
        raise ProvisionError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise ProvisionError(f"{path}: empty")
    return data


def _certificate(path: Path, data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ProvisionError(f"{path}: not a PEM certificate") from exc


def _issued_by(cert: x509.Certificate, ca: x509.Certificate, folder: Path) -> None:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise ProvisionError(
            f"{folder / CERT}: not issued by the CA in {folder / CA} ({exc or 'bad signature'})"
        ) from exc


def _key_matches(cert: x509.Certificate, data: bytes, folder: Path) -> None:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvisionError(f"{folder / KEY}: not an unencrypted PEM private key") from exc
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = key.public_key().public_bytes(serialization.Encoding.DER, raw)
    theirs = cert.public_key().public_bytes(serialization.Encoding.DER, raw)
    if mine != theirs:
        raise ProvisionError(f"{folder / KEY}: does not belong to the certificate {folder / CERT}")


def _signing_key(data: bytes, folder: Path) -> None:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvisionError(f"{folder / SIGNING}: not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ProvisionError(f"{folder / SIGNING}: the manifest signing key must be Ed25519")


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _toml(name: str, data: bytes, folder: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProvisionError(f"{folder / name}: not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionError(f"{folder / name}: not valid TOML ({exc})") from exc


def _merged(files: dict[str, bytes], folder: Path) -> dict[str, Any]:
    data = _toml(CONFIG, files[CONFIG], folder)
    if SITE in files:
        _merge(data, _toml(SITE, files[SITE], folder), "", folder)
    return data


def _merge(into: dict[str, Any], extra: dict[str, Any], where: str, folder: Path) -> None:
    for key, value in extra.items():
        dotted = f"{where}{key}"
        if key not in into:
            into[key] = value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value, f"{dotted}.", folder)
        elif into[key] != value:
            raise ProvisionError(
                f"{folder / SITE}: {dotted} = {value!r} contradicts {folder / CONFIG} "
                f"({into[key]!r}); set it in one file only"
            )


def _point_at(data: dict[str, Any], etc_dir: Path) -> None:
    """The bundle's files are read from where they are installed."""
    site = data.setdefault("site", {})
    mqtt = data.setdefault("mqtt", {})
    if not isinstance(site, dict) or not isinstance(mqtt, dict):
        raise ProvisionError(f"{CONFIG}: [site] and [mqtt] must be tables")
    site["signing_key_file"] = str(etc_dir / SIGNING)
    mqtt["ca_file"] = str(etc_dir / CA)
    mqtt["cert_file"] = str(etc_dir / CERT)
    mqtt["key_file"] = str(etc_dir / KEY)


def _check_references(
    config: EdgeConfig, files: dict[str, bytes], folder: Path, etc_dir: Path
) -> None:
    """Camera password files must come with the bundle (or already be on the box)."""
    for cam in config.cameras:
        path = getattr(cam, "password_file", None)
        if path is None:
            continue
        if Path(path).name in files and Path(path).parent != etc_dir:
            raise ProvisionError(
                f"{folder}: camera {cam.id!r} reads {path}, but the bundle's "
                f"{Path(path).name} is installed as {etc_dir / Path(path).name}; name it "
                f"password_file = {Path(path).name!r}"
            )
        if Path(path).name not in files and not Path(path).exists():
            raise ProvisionError(
                f"{folder}: camera {cam.id!r} reads {path}, which is neither in the bundle "
                f"(as {Path(path).name}) nor on the box"
            )


def _dump_toml(data: dict[str, Any]) -> str:
    """TOML for what ``tomllib`` parsed: scalars, arrays, tables and arrays of tables."""
    lines = ["# Written by `reeferwatch-edge provision` from the enrollment bundle (docs/edge.md)."]
    _table(data, [], lines)
    return "\n".join(lines) + "\n"


def _table(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    plain = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
    if path and (plain or not table):
        lines += ["", f"[{'.'.join(_key(p) for p in path)}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for key, value in table.items():
        if _is_table(value):
            _table(value, [*path, key], lines)
        elif _is_table_array(value):
            for item in value:  # its own sub-tables are written inline
                lines += ["", f"[[{'.'.join(_key(p) for p in [*path, key])}]]"]
                lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else _value(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):  # a JSON string is a TOML basic string, but for DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise ProvisionError(f"cannot write {value!r} ({type(value).__name__}) back to TOML")
