"""The MQTT contract shared by the edge and central (DESIGN §5).

``topics`` builds and parses topic names, ``models`` holds the versioned payload
models, ``codec`` turns bytes into models and back, and ``errors`` is the project's one
exception tree. Edge and central never import each other; both import this package.
"""

from wire.errors import ReeferWatchError, WireError

WIRE_VERSION = 1

__all__ = ["WIRE_VERSION", "ReeferWatchError", "WireError"]
