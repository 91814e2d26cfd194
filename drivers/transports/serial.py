"""Serial ports and pseudo-terminals through pyserial-asyncio-fast."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial

import serial
import serial_asyncio_fast

from drivers.base import PrinterTimeout, TransportError

READ_CHUNK = 4096
WRITE_TIMEOUT_S = 30.0


class _DrainAwareSerialTransport(serial_asyncio_fast.SerialTransport):
    """pyserial-asyncio-fast's transport, which stops watching the port once its
    write buffer is empty.

    Version 0.16 leaves the port's writer registered after a large write has
    drained (upstream pull request 36, open), so the event loop calls it on
    every turn while the port is writable, and each call fails with
    "Write buffer should not be empty" and a logged traceback (29,418 of
    them in one 2,000-card run of bench/pipeline.py). Private names of the
    library are used here and nowhere else.
    """

    def _write_ready(self) -> None:
        if self._write_buffer:
            super()._write_ready()
        if not self._write_buffer:
            self._remove_writer()


async def _open_serial(
    device: str, baudrate: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """serial_asyncio_fast.open_serial_connection, with the transport above."""
    loop = asyncio.get_running_loop()
    port = await loop.run_in_executor(
        None, partial(serial.serial_for_url, device, baudrate=baudrate, rtscts=False, xonxoff=False)
    )
    reader = asyncio.StreamReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport = _DrainAwareSerialTransport(loop, protocol, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class SerialTransport:
    """A serial device (``/dev/ttyUSB0``) or a pty path, opened with pyserial."""

    def __init__(self, device: str, baudrate: int = 9600, open_timeout_s: float = 5.0) -> None:
        self.device = device
        self.baudrate = baudrate
        self.description = f"serial:{device}@{baudrate}"
        self._open_timeout_s = open_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                _open_serial(self.device, self.baudrate), self._open_timeout_s
            )
        except TimeoutError:
            raise TransportError(f"opening {self.device} timed out") from None
        except (OSError, serial.SerialException) as exc:
            raise TransportError(f"cannot open {self.device}: {exc}") from exc

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(TimeoutError, OSError, serial.SerialException):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def write(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise TransportError(f"{self.device} is not open")
        try:
            self._writer.write(data)
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self._writer.drain()
        except TimeoutError:
            raise PrinterTimeout(f"{self.device} did not take {len(data)} bytes") from None
        except (OSError, serial.SerialException, ConnectionError) as exc:
            raise TransportError(f"writing to {self.device} failed: {exc}") from exc

    async def read(self, timeout_s: float) -> bytes:
        if self._reader is None:
            raise TransportError(f"{self.device} is not open")
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for makes a task for
            # every read (a dozen a card) and can swallow a cancel.
            async with asyncio.timeout(timeout_s):
                data = await self._reader.read(READ_CHUNK)
        except TimeoutError:
            raise PrinterTimeout(f"{self.device}: no answer within {timeout_s:g} s") from None
        except (OSError, serial.SerialException, ConnectionError) as exc:
            raise TransportError(f"reading {self.device} failed: {exc}") from exc
        if not data:
            raise TransportError(f"{self.device} was closed")
        return data

    def discard_input(self) -> None:
        reader = self._reader
        if reader is not None:
            # StreamReader has no public flush; its buffer is the only copy.
            buffer = getattr(reader, "_buffer", None)
            if isinstance(buffer, bytearray):
                buffer.clear()
