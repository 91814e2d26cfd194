"""One request in flight at a time over a byte transport: what every driver needs.

A single reader task feeds received bytes to the family's I/O-free codec and
completes the waiting request. The waiter is registered before the request is
written, and removed on success, timeout and cancellation alike; after a
timeout or an error the codec is reset, so a late reply cannot answer the
next request. A link error fails the waiting request at once and every later
one until the link is opened again (:meth:`ReplyLink.ensure`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from drivers.base import PrinterTimeout, TransportError
from drivers.transports.base import Transport

READ_POLL_S = 1.0

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Codec(Protocol[R_co]):
    """The part of a family's host-side codec the link drives."""

    def reset(self) -> None: ...

    def receive_data(self, data: bytes) -> None: ...

    def next_reply(self) -> R_co | None: ...


class ReplyLink(Generic[R]):
    def __init__(self, transport: Transport, codec: Codec[R], name: str) -> None:
        self.transport = transport
        self._codec = codec
        self._name = name
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future[R] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._error: str | None = None

    @property
    def pending_waiters(self) -> int:
        return 0 if self._waiter is None else 1

    async def open(self) -> None:
        await self.transport.open()
        self._error = None
        self._codec.reset()
        self._reader = asyncio.create_task(
            self._read_loop(), name=f"{self._name}-reader:{self.transport.description}"
        )

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self.transport.close()

    async def ensure(self) -> None:
        """Open the link again if it failed (a printer unplugged and back)."""
        if self._reader is not None and not self._reader.done():
            return
        await self.close()
        await self.open()

    async def request(self, encode: Callable[[], bytes], timeout_s: float, what: str) -> R:
        """Write ``encode()`` (called under the lock) and wait for the reply.

        ``what`` names the request in the timeout message: "no reply to X".
        """
        async with self._lock:
            self._check_open()
            waiter: asyncio.Future[R] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await self.transport.write(encode())
                async with asyncio.timeout(timeout_s):
                    return await waiter
            except TimeoutError:
                self._codec.reset()
                raise PrinterTimeout(f"{what} within {timeout_s:g} s") from None
            except BaseException:
                self._codec.reset()
                raise
            finally:
                self._waiter = None

    async def send(self, encode: Callable[[], bytes], timeout_s: float, what: str) -> None:
        """Write ``encode()`` (called under the lock); no reply is awaited."""
        async with self._lock:
            self._check_open()
            data = encode()
            try:
                async with asyncio.timeout(timeout_s):
                    await self.transport.write(data)
            except TimeoutError:
                raise PrinterTimeout(f"{what} within {timeout_s:g} s") from None

    def _check_open(self) -> None:
        if self._reader is None or self._reader.done():
            raise TransportError(self._error or "link is not open")

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self.transport.read(READ_POLL_S)
            except PrinterTimeout:
                continue
            except TransportError as exc:
                self._error = str(exc)
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_exception(TransportError(str(exc)))
                return
            self._codec.receive_data(data)
            while (reply := self._codec.next_reply()) is not None:
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(reply)
