"""Camera credentials: read them, put them where ffmpeg finds them, keep them out of sight.

ffmpeg takes RTSP credentials only inside the URL, and a URL on its command line would be
readable by anyone in ``/proc/*/cmdline``. So the URL goes into an ``ffconcat`` file (mode
0600, in a 0700 runtime directory) that the segmenter reads with ``-f concat``; the command
line names only the file. ffmpeg's own messages may echo the URL, so everything it prints
passes through ``redact`` before it reaches a log.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import SecretStr

from wire.errors import ConfigError

CONCAT_PROTOCOLS = "file,rtsp,rtsps,rtp,srtp,tcp,tls,udp"


def read_password(password: SecretStr | None, password_file: Path | None) -> str | None:
    """The password given inline or as the first line of ``password_file``."""
    if password is not None:
        return password.get_secret_value()
    if password_file is None:
        return None
    try:
        lines = password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{password_file}: cannot read the password file ({exc})") from exc
    if not lines or not lines[0]:
        raise ConfigError(f"{password_file}: the password file is empty")
    return lines[0]


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with percent-encoded ``username:password@`` inserted (if a username is set)."""
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = quote(username, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


def strip_credentials(url: str) -> str:
    """``url`` without any ``user:password@`` part: safe to log and to show."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def secret_forms(*secrets: str | None) -> tuple[str, ...]:
    """Each secret as given and percent-encoded (the way it appears inside a URL)."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update({secret, quote(secret, safe="")})
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) and return it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (created 0600, never wider)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def ffconcat_input(path: Path, url: str, options: dict[str, str]) -> list[str]:
    """Write ``url`` (may hold credentials) into a private ffconcat file; return ffmpeg args."""
    if "'" in url or "\n" in url:
        raise ConfigError("stream URL must not contain quotes or newlines")
    lines = ["ffconcat version 1.0", f"file '{url}'"]
    lines += [f"option {key} {value}" for key, value in options.items()]
    write_private(path, "\n".join(lines) + "\n")
    return [
        "-f", "concat",
        "-safe", "0",
        "-protocol_whitelist", CONCAT_PROTOCOLS,
        "-i", str(path),
    ]  # fmt: skip
