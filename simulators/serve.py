"""Moving bytes between a simulated printer and a link (pty or in-memory).

The same loop serves every family: read what the host sent, let the printer
model answer command by command, sleep each step's time, write the reply.
Link drops are carried out here, because only this layer owns the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from dataclasses import dataclass
from typing import Protocol

from drivers.base import PrinterTimeout, TransportError
from simulators.machine import Machine

POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class Response:
    delay_s: float
    reply: bytes | None


class PrinterModel(Protocol):
    family: str
    machine: Machine

    def receive_data(self, data: bytes) -> None: ...

    def next_response(self) -> Response | None: ...


class Link(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def read(self, timeout_s: float) -> bytes: ...

    async def close(self) -> None: ...


async def serve_link(model: PrinterModel, link: Link) -> None:
    """Answer the host until the link closes or the control API drops it."""
    generation = model.machine.link_generation
    while True:
        if model.machine.link_generation != generation or model.machine.faults.link_drop:
            await link.close()
            return
        try:
            data = await link.read(POLL_S)
        except PrinterTimeout:
            continue
        except TransportError:
            return
        model.receive_data(data)
        while (response := model.next_response()) is not None:
            if response.delay_s:
                await asyncio.sleep(response.delay_s)
            if response.reply is not None:
                try:
                    await link.write(response.reply)
                except TransportError:
                    return


class PtyLink:
    """The printer's end of a pseudo-terminal; the host opens ``path``.

    The simulator keeps the host's end open too, so a driver can close and
    reopen the path (as with a real serial port) without the printer noticing.
    The pty stays watched while the link is open: what arrives is read into a
    buffer as it comes, instead of watching and unwatching the pty for every
    read (two epoll_ctl calls and a future each, several reads a card).
    """

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self._closed = False
        self._watching = False
        self._received = bytearray()
        self._error: str | None = None
        self._arrived: asyncio.Future[None] | None = None

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._error = f"pty read failed: {exc}"
            asyncio.get_running_loop().remove_reader(self.master)
            self._watching = False
        else:
            self._received += data
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def read(self, timeout_s: float) -> bytes:
        if self._closed:
            raise TransportError("pty closed")
        loop = asyncio.get_running_loop()
        if not self._watching and self._error is None:
            loop.add_reader(self.master, self._readable)
            self._watching = True
        if not self._received and self._error is None:
            self._arrived = loop.create_future()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._arrived
            except TimeoutError:
                raise PrinterTimeout("nothing from the host") from None
            finally:
                self._arrived = None
        if self._received:
            data = bytes(self._received)
            self._received.clear()
            return data
        raise TransportError(self._error or "pty closed")

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._closed:
                raise TransportError("pty closed")
            try:
                sent = os.write(self.master, view)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            except OSError as exc:
                raise TransportError(f"pty write failed: {exc}") from exc
            view = view[sent:]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watching:
            asyncio.get_running_loop().remove_reader(self.master)
            self._watching = False
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


async def serve_pty(model: PrinterModel, on_path: list[str]) -> None:
    """Serve over a pty; after a link drop, wait for it to be cleared, then
    open a fresh pty (a new path, as a re-plugged adapter gets). ``on_path``
    always holds the current path as its only item."""
    while True:
        link = PtyLink()
        on_path[:] = [link.path]
        try:
            await serve_link(model, link)
        finally:
            await link.close()
        on_path[:] = []
        # The flag is cleared by the control API's plain code, not an Event.
        while model.machine.faults.link_drop:  # noqa: ASYNC110
            await asyncio.sleep(POLL_S)
