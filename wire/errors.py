"""The project's one exception tree.

Every error ReeferWatch raises on purpose is a ``ReeferWatchError``; each child also
subclasses the built-in it resembles, so callers may catch either.
"""

from __future__ import annotations


class ReeferWatchError(Exception):
    """Base class of every error raised on purpose by ReeferWatch."""


class WireError(ReeferWatchError, ValueError):
    """A topic or payload does not follow the wire contract; the message names the field."""


class ConfigError(ReeferWatchError, ValueError):
    """A configuration file or setting is invalid; the message names file, key and problem."""


class StoreError(ReeferWatchError, RuntimeError):
    """Local or central storage refused an operation."""


class MediaError(ReeferWatchError, RuntimeError):
    """ffmpeg or ffprobe failed, or a media file is unreadable."""


class NotCoveredError(MediaError, LookupError):
    """No recorded segments cover the requested time window."""


class TransferError(ReeferWatchError, RuntimeError):
    """A file transfer broke the protocol (bad hash, size, offset)."""


class AuthError(ReeferWatchError, PermissionError):
    """Authentication or authorisation failed."""


class ExternalProgramMissing(ReeferWatchError, FileNotFoundError):
    """A required external program (ffmpeg, mosquitto, ...) is not installed."""


class ContainerNumberError(ReeferWatchError, ValueError):
    """A container number is malformed or fails its ISO 6346 check digit."""


class SessionError(ReeferWatchError, RuntimeError):
    """A loading session cannot be started or ended in the current state."""
