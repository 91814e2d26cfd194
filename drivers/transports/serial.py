"""Serial ports and pseudo-terminals through pyserial-asyncio-fast."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from functools import partial

import serial
import serial_asyncio_fast

from drivers.base import PrinterTimeout, TransportError

WRITE_TIMEOUT_S = 30.0
# Bytes taken from the port at a time (the library's default is 1,024).
READ_SIZE = 16384


class _DrainAwareSerialTransport(serial_asyncio_fast.SerialTransport):
    """pyserial-asyncio-fast's transport, which stops watching the port once its
    write buffer is empty, and reads and writes the port's descriptor itself.

    Version 0.16 leaves the port's writer registered after a large write has
    drained (upstream pull request 36, open), so the event loop calls it on
    every turn while the port is writable, and each call fails with
    "Write buffer should not be empty" and a logged traceback (29,418 of
    them in one 2,000-card run of bench/pipeline.py).

    The library reads and writes through pyserial, which builds a timeout
    object and calls select() before every read and write, although the
    event loop has just said the port is ready: on a card's ten replies and
    four writes that was a tenth of the driver's CPU. Here the descriptor
    is read and written directly, as asyncio's own pipe transports do.
    Private names of the library are used here and nowhere else.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, port: serial.Serial
    ) -> None:
        super().__init__(loop, protocol, port)
        self._fd = port.fileno()
        self._max_read_size = READ_SIZE

    def _read_ready(self) -> None:
        try:
            data = os.read(self._fd, self._max_read_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._close(exc=serial.SerialException(f"read failed: {exc}"))
            return
        if not data:
            # What pyserial reports for a port that is ready but empty.
            self._close(exc=serial.SerialException("the port returned no data (disconnected?)"))
            return
        self._protocol.data_received(data)

    def _write_data(self, data: bytes | bytearray | memoryview) -> None:
        try:
            written = os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError as exc:
            self._fatal_error(exc, "Fatal write error on serial transport")
            return
        if written == len(data):
            if self._closing:
                self._close()
            return
        # A view, not a slice: a card's panels are hundreds of kilobytes,
        # taken by the port a few kilobytes at a time.
        self._write_buffer.append(memoryview(data)[written:])
        self._maybe_pause_protocol()
        self._ensure_writer()

    def _write_ready(self) -> None:
        if self._write_buffer:
            super()._write_ready()
        if not self._write_buffer:
            self._remove_writer()


class _PortProtocol(asyncio.Protocol):
    """What the port delivers: handed to a listener as it arrives, or kept
    for :meth:`SerialTransport.read`; and the write flow control."""

    def __init__(self, device: str) -> None:
        self._device = device
        self.buffer = bytearray()
        self.lost: str | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._on_data: Callable[[bytes], None] | None = None
        self._on_lost: Callable[[str], None] | None = None
        self._readable: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    def listen(self, on_data: Callable[[bytes], None], on_lost: Callable[[str], None]) -> None:
        self._on_data, self._on_lost = on_data, on_lost
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            on_data(data)
        if self.lost is not None:
            on_lost(self.lost)

    def data_received(self, data: bytes) -> None:
        if self._on_data is not None:
            self._on_data(data)
            return
        self.buffer += data
        self._wake(self._readable)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = f"{self._device} failed: {exc}" if exc else f"{self._device} was closed"
        self._wake(self._readable)
        self._wake(self._drained)
        if not self.closed.done():
            self.closed.set_result(None)
        if self._on_lost is not None:
            self._on_lost(self.lost)

    def pause_writing(self) -> None:
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake(self._drained)

    async def readable(self) -> None:
        self._readable = asyncio.get_running_loop().create_future()
        try:
            await self._readable
        finally:
            self._readable = None

    async def drained(self) -> None:
        if self._drained is not None:
            await self._drained

    @staticmethod
    def _wake(future: asyncio.Future[None] | None) -> None:
        if future is not None and not future.done():
            future.set_result(None)


async def _open_serial(
    device: str, baudrate: int
) -> tuple[_DrainAwareSerialTransport, _PortProtocol]:
    loop = asyncio.get_running_loop()
    port = await loop.run_in_executor(
        None, partial(serial.serial_for_url, device, baudrate=baudrate, rtscts=False, xonxoff=False)
    )
    protocol = _PortProtocol(device)
    return _DrainAwareSerialTransport(loop, protocol, port), protocol


class SerialTransport:
    """A serial device (``/dev/ttyUSB0``) or a pty path, opened with pyserial.

    Besides ``read``, it can hand what arrives straight to a listener
    (:meth:`listen`): the printer link's replies then cost no read call,
    future and timer each, a large share of a card's work on the event loop.
    """

    def __init__(self, device: str, baudrate: int = 9600, open_timeout_s: float = 5.0) -> None:
        self.device = device
        self.baudrate = baudrate
        self.description = f"serial:{device}@{baudrate}"
        self._open_timeout_s = open_timeout_s
        self._transport: _DrainAwareSerialTransport | None = None
        self._protocol: _PortProtocol | None = None

    async def open(self) -> None:
        try:
            self._transport, self._protocol = await asyncio.wait_for(
                _open_serial(self.device, self.baudrate), self._open_timeout_s
            )
        except TimeoutError:
            raise TransportError(f"opening {self.device} timed out") from None
        except (OSError, serial.SerialException) as exc:
            raise TransportError(f"cannot open {self.device}: {exc}") from exc

    async def close(self) -> None:
        transport, protocol = self._transport, self._protocol
        self._transport = self._protocol = None
        if transport is not None and protocol is not None:
            transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.closed), 2.0)

    def listen(self, on_data: Callable[[bytes], None], on_lost: Callable[[str], None]) -> None:
        """Hand every byte received from now on to ``on_data`` (and any not yet
        read); ``on_lost`` is called once, when the port is gone."""
        if self._protocol is None:
            raise TransportError(f"{self.device} is not open")
        self._protocol.listen(on_data, on_lost)

    async def write(self, data: bytes) -> None:
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None or transport.is_closing():
            raise TransportError(f"{self.device} is not open")
        try:
            transport.write(data)
        except (OSError, serial.SerialException) as exc:
            raise TransportError(f"writing to {self.device} failed: {exc}") from exc
        if not transport.get_write_buffer_size():
            return  # the port took it all at once: nothing to wait for
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await protocol.drained()
        except TimeoutError:
            raise PrinterTimeout(f"{self.device} did not take {len(data)} bytes") from None
        if protocol.lost is not None:
            raise TransportError(f"writing to {self.device} failed: {protocol.lost}")

    async def read(self, timeout_s: float) -> bytes:
        protocol = self._protocol
        if protocol is None:
            raise TransportError(f"{self.device} is not open")
        if not protocol.buffer and protocol.lost is None:
            try:
                async with asyncio.timeout(timeout_s):
                    await protocol.readable()
            except TimeoutError:
                raise PrinterTimeout(f"{self.device}: no answer within {timeout_s:g} s") from None
        if protocol.buffer:
            data = bytes(protocol.buffer)
            protocol.buffer.clear()
            return data
        raise TransportError(protocol.lost or f"{self.device} was closed")

    def discard_input(self) -> None:
        if self._protocol is not None:
            self._protocol.buffer.clear()
