"""The one interface every byte link offers a driver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """A byte pipe to one printer.

    ``read`` returns at least one byte, raises
    :class:`drivers.base.PrinterTimeout` when nothing came within ``timeout_s``
    seconds, and :class:`drivers.base.TransportError` when the link is gone.
    """

    description: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def read(self, timeout_s: float) -> bytes: ...

    def discard_input(self) -> None:
        """Drop bytes already received but not yet read (before a retry)."""
        ...


@runtime_checkable
class ListeningTransport(Transport, Protocol):
    """A transport that can hand received bytes straight to a listener.

    A printer link then spends no read call, future and timer per chunk;
    ``read`` is not used once a listener is set.
    """

    def listen(self, on_data: Callable[[bytes], None], on_lost: Callable[[str], None]) -> None:
        """Give ``on_data`` every byte received from now on (and any not yet
        read); call ``on_lost`` once, with why, when the link is gone."""
        ...
