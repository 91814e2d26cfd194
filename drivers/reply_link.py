"""Requests and their replies over a byte transport: what every driver needs.

Received bytes go to the family's I/O-free codec, which completes the waiting
exchange: straight from the transport where it can hand them over
(:class:`ListeningTransport`), else from a reader task. An exchange is one
write that carries one or more commands and waits for that many replies, in
order: a family whose printer buffers a job stream (Evolis) sends a side's
panel downloads in one go instead of waiting for each reply. One exchange is
in flight at a time.

The waiter is registered before the request is written, and removed on
success, timeout and cancellation alike; after a timeout or an error the codec
is reset, so a late reply cannot answer the next request. A link error fails
the waiting exchange at once and every later one until the link is opened
again (:meth:`ReplyLink.ensure`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from drivers.base import PrinterTimeout, TransportError
from drivers.transports.base import ListeningTransport, Transport

READ_POLL_S = 1.0

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Codec(Protocol[R_co]):
    """The part of a family's host-side codec the link drives."""

    def reset(self) -> None: ...

    def receive_data(self, data: bytes) -> None: ...

    def next_reply(self) -> R_co | None: ...


class _Exchange(Generic[R]):
    """The replies one write is waiting for, and the timer that gives up on them.

    One timer an exchange, looked at only when it fires: a printer still
    working through a stream (a reply came since the last look) gets another
    ``timeout_s``, so it is given up on after ``timeout_s`` to twice that
    without a reply, and no timer is cancelled and set again for every reply.
    """

    __slots__ = ("expected", "future", "replies", "seen", "timeout_s", "timer", "what")

    def __init__(
        self, future: asyncio.Future[list[R]], expected: int, timeout_s: float, what: str
    ) -> None:
        self.future = future
        self.expected = expected
        self.timeout_s = timeout_s
        self.what = what
        self.replies: list[R] = []
        self.seen = 0
        self.timer: asyncio.TimerHandle | None = None

    def arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = loop.call_later(self.timeout_s, self._expire, loop)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.future.done():
            return
        if len(self.replies) > self.seen:
            self.seen = len(self.replies)
            self.arm(loop)
            return
        progress = (
            f" ({len(self.replies)} of {self.expected} answered)" if self.expected > 1 else ""
        )
        self.future.set_exception(
            PrinterTimeout(f"{self.what} within {self.timeout_s:g} s{progress}")
        )


class ReplyLink(Generic[R]):
    def __init__(self, transport: Transport, codec: Codec[R], name: str) -> None:
        self.transport = transport
        self._codec = codec
        self._name = name
        self._lock = asyncio.Lock()
        self._exchange: _Exchange[R] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listening = False
        self._opened = 0
        self._error: str | None = None

    @property
    def pending_waiters(self) -> int:
        return 0 if self._exchange is None else 1

    async def open(self) -> None:
        await self.transport.open()
        self._error = None
        self._codec.reset()
        if isinstance(self.transport, ListeningTransport):
            self._listening = True
            self._opened += 1
            opened = self._opened

            def lost(why: str) -> None:
                if opened == self._opened:  # not a port closed before a reopen
                    self._lost(why)

            self.transport.listen(self._received, lost)
            return
        self._reader = asyncio.create_task(
            self._read_loop(), name=f"{self._name}-reader:{self.transport.description}"
        )

    async def close(self) -> None:
        self._listening = False
        self._opened += 1
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self.transport.close()

    async def ensure(self) -> None:
        """Open the link again if it failed (a printer unplugged and back)."""
        if self._is_open():
            return
        await self.close()
        await self.open()

    async def request(self, encode: Callable[[], bytes], timeout_s: float, what: str) -> R:
        """Write ``encode()`` (called under the lock) and wait for the reply.

        ``what`` names the request in the timeout message: "no reply to X".
        """
        (reply,) = await self.exchange(encode, 1, timeout_s, what)
        return reply

    async def exchange(
        self, encode: Callable[[], bytes], count: int, timeout_s: float, what: str
    ) -> list[R]:
        """Write ``encode()``, which carries ``count`` commands, and wait for
        their ``count`` replies. ``timeout_s`` bounds the silence between
        replies, not the whole exchange: a printer still answering is alive.
        """
        async with self._lock:
            self._check_open()
            loop = asyncio.get_running_loop()
            # Not _Exchange[R](...): a subscripted class is called through
            # typing's alias, several times slower, on every exchange.
            exchange: _Exchange[R] = _Exchange(loop.create_future(), count, timeout_s, what)
            self._exchange = exchange
            try:
                await self.transport.write(encode())
                exchange.arm(loop)
                return await exchange.future
            except BaseException:
                self._codec.reset()
                raise
            finally:
                exchange.disarm()
                self._exchange = None

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

    def _is_open(self) -> bool:
        if self._listening:
            return self._error is None
        return self._reader is not None and not self._reader.done()

    def _check_open(self) -> None:
        if not self._is_open():
            raise TransportError(self._error or "link is not open")

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self.transport.read(READ_POLL_S)
            except PrinterTimeout:
                continue
            except TransportError as exc:
                self._lost(str(exc))
                return
            self._received(data)

    def _lost(self, why: str) -> None:
        if not self._listening and self._reader is None:
            return  # closed on purpose
        self._error = why
        exchange = self._exchange
        if exchange is not None and not exchange.future.done():
            exchange.future.set_exception(TransportError(why))

    def _received(self, data: bytes) -> None:
        self._codec.receive_data(data)
        while (reply := self._codec.next_reply()) is not None:
            exchange = self._exchange
            if exchange is None or exchange.future.done():
                continue
            exchange.replies.append(reply)
            if len(exchange.replies) == exchange.expected:
                exchange.future.set_result(exchange.replies)
