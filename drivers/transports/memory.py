"""An in-memory link between two ends, for codec and driver tests.

``memory_pair`` gives two connected transports. ``Delivery`` decides how bytes
arrive: whole writes, one byte at a time, or in small pieces with delays, so a
test can prove that framing does not depend on how the bytes were cut.
"""

from __future__ import annotations

import asyncio
import enum

from drivers.base import PrinterTimeout, TransportError

SMALL_WRITE = 1024


class Delivery(enum.StrEnum):
    WHOLE = "whole"
    BYTEWISE = "bytewise"
    DELAYED = "delayed"


class MemoryTransport:
    def __init__(self, name: str, delivery: Delivery) -> None:
        self.description = f"memory:{name}"
        self.delivery = delivery
        self.peer: MemoryTransport | None = None
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._open = False
        self._feeder: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self.peer is not None:
            self.peer._chunks.put_nowait(None)
        self._chunks.put_nowait(None)

    def drop(self) -> None:
        """Cut the link as an unplugged cable would: both ends see it closed."""
        self._chunks.put_nowait(None)
        if self.peer is not None:
            self.peer._chunks.put_nowait(None)

    async def write(self, data: bytes) -> None:
        if not self._open or self.peer is None:
            raise TransportError(f"{self.description} is closed")
        peer = self.peer
        if self.delivery is Delivery.WHOLE:
            peer._chunks.put_nowait(bytes(data))
            return
        # Commands and replies are cut finely; panel data (hundreds of kB) in
        # odd-sized pieces, so a test still crosses every boundary kind
        # without a million queue items.
        small = len(data) <= SMALL_WRITE
        size = {Delivery.BYTEWISE: 1 if small else 997}.get(self.delivery, 3 if small else 4093)
        for start in range(0, len(data), size):
            if self.delivery is Delivery.DELAYED:
                await asyncio.sleep(0.001)
            peer._chunks.put_nowait(bytes(data[start : start + size]))

    async def read(self, timeout_s: float) -> bytes:
        if not self._open:
            raise TransportError(f"{self.description} is closed")
        try:
            async with asyncio.timeout(timeout_s):
                chunk = await self._chunks.get()
        except TimeoutError:
            raise PrinterTimeout(f"{self.description}: nothing within {timeout_s:g} s") from None
        if chunk is None:
            self._open = False
            raise TransportError(f"{self.description}: link dropped")
        return chunk

    def discard_input(self) -> None:
        while not self._chunks.empty():
            chunk = self._chunks.get_nowait()
            if chunk is None:
                self._chunks.put_nowait(None)
                return


def memory_pair(delivery: Delivery = Delivery.WHOLE) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected ends: (host side, printer side)."""
    host = MemoryTransport("host", delivery)
    printer = MemoryTransport("printer", delivery)
    host.peer, printer.peer = printer, host
    return host, printer
