"""``Closeable``: the context-manager half every resource shares — ``with`` calls ``close()``.

Subclasses implement an idempotent ``close()``; ``__enter__`` returns the object itself.
"""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

C = TypeVar("C", bound="Closeable")


class Closeable:
    """Base of every resource with a ``close()``: usable in ``with`` and ``ExitStack``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: C) -> C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
