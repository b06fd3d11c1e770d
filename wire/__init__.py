"""The MQTT contract shared by the edge and central (DESIGN §5).

``topics`` builds and parses topic names, ``models`` holds the versioned payload
models, ``codec`` turns bytes into models and back, ``ranges`` and ``hashing`` are the byte
ranges and SHA-256 both ends compare, ``ids`` makes ULIDs, ``asyncapi`` documents it all.
Shared by both sides as well: ``errors`` (the project's one exception tree) and ``closing``
(the ``with``-statement base of every resource). Edge and central never import each other;
both import this package.
"""

from wire.errors import ReeferWatchError, WireError

WIRE_VERSION = 1

__all__ = ["WIRE_VERSION", "ReeferWatchError", "WireError"]
