"""Build and parse the topic names of the wire contract (DESIGN §5).

Topics are ``rw/v1/{site}/{device}/up/...`` (edge → central) and
``rw/v1/{site}/{device}/down/...`` (central → edge). Ids that appear as topic levels
match ``[A-Za-z0-9_-]{1,64}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wire.errors import WireError

ROOT = "rw/v1"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_CHUNK_BYTES = 1024 * 1024

UP_KINDS = ("status", "health", "event", "cmd-result")
DOWN_KINDS = ("ack", "cmd")


def check_id(value: str, field: str) -> str:
    """Return ``value`` if it is a valid topic-level id, else raise ``WireError``."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise WireError(f"{field}: {value!r} is not an id of 1-64 characters [A-Za-z0-9_-]")
    return value


def up(site: str, device: str, kind: str) -> str:
    """Topic of an edge → central message such as ``status`` or ``event``."""
    if kind not in UP_KINDS:
        raise WireError(f"kind: {kind!r} is not one of {UP_KINDS}")
    return f"{ROOT}/{check_id(site, 'site')}/{check_id(device, 'device')}/up/{kind}"


def down(site: str, device: str, kind: str) -> str:
    """Topic of a central → edge message: ``ack`` or ``cmd``."""
    if kind not in DOWN_KINDS:
        raise WireError(f"kind: {kind!r} is not one of {DOWN_KINDS}")
    return f"{ROOT}/{check_id(site, 'site')}/{check_id(device, 'device')}/down/{kind}"


def file_init(site: str, device: str, file_id: str) -> str:
    return _file(site, device, file_id, "init")


def file_fin(site: str, device: str, file_id: str) -> str:
    return _file(site, device, file_id, "fin")


def file_chunk(site: str, device: str, file_id: str, offset: int) -> str:
    if offset < 0:
        raise WireError(f"offset: {offset} is negative")
    return _file(site, device, file_id, str(offset))


def is_file_chunk(topic: str) -> bool:
    """Whether ``topic`` has the shape of a chunk topic (``…/up/file/{id}/{offset}``); a cheap
    test that validates nothing else (``parse`` does)."""
    head, _, leaf = topic.rpartition("/")
    return leaf.isdigit() and head.rpartition("/")[0].endswith("/up/file")


def _file(site: str, device: str, file_id: str, leaf: str) -> str:
    return (
        f"{ROOT}/{check_id(site, 'site')}/{check_id(device, 'device')}"
        f"/up/file/{check_id(file_id, 'file_id')}/{leaf}"
    )


def up_filter(site: str = "+", device: str = "+") -> str:
    """Subscription filter for every ``up`` message (of one device, or all with ``+``)."""
    return f"{ROOT}/{site}/{device}/up/#"


def down_filter(site: str, device: str) -> str:
    """Subscription filter for everything central sends to one device."""
    return f"{ROOT}/{check_id(site, 'site')}/{check_id(device, 'device')}/down/#"


@dataclass(frozen=True)
class Topic:
    """A parsed topic. ``kind`` is e.g. ``event``, ``file-init``, ``file-chunk``, ``ack``."""

    site: str
    device: str
    direction: str
    kind: str
    file_id: str | None = None
    offset: int | None = None


def parse(topic: str) -> Topic:
    """Parse a topic of the contract; raise ``WireError`` naming the offending level."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != ROOT:
        raise WireError(f"topic: {topic!r} does not start with {ROOT}/{{site}}/{{device}}/")
    site = check_id(parts[2], "site")
    device = check_id(parts[3], "device")
    direction, rest = parts[4], parts[5:]
    if direction == "down" and len(rest) == 1 and rest[0] in DOWN_KINDS:
        return Topic(site, device, "down", rest[0])
    if direction != "up":
        raise WireError(f"topic: {topic!r} has direction {direction!r}, not up/down + known kind")
    if len(rest) == 1 and rest[0] in UP_KINDS:
        return Topic(site, device, "up", rest[0])
    if len(rest) == 3 and rest[0] == "file":
        file_id = check_id(rest[1], "file_id")
        leaf = rest[2]
        if leaf in ("init", "fin"):
            return Topic(site, device, "up", f"file-{leaf}", file_id=file_id)
        if leaf.isdigit() and len(leaf) <= 15:
            return Topic(site, device, "up", "file-chunk", file_id=file_id, offset=int(leaf))
        raise WireError(f"topic: file leaf {leaf!r} is neither init, fin nor a byte offset")
    raise WireError(f"topic: {topic!r} is not a known up topic")
