"""The serial transport over a real pty: reads, a large write that drains and leaves
the loop quiet, and a printer link that hears replies straight from the port."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from drivers.base import PrinterTimeout, TransportError
from drivers.evolis.protocol import Command, HostConnection, Reply
from drivers.reply_link import ReplyLink
from drivers.transports.serial import SerialTransport

BLOCK = 1_000_000  # far beyond a pty's buffer: most of it is written from the loop's writer


async def test_large_write_drains_without_loop_errors() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    master, slave = os.openpty()
    received = bytearray()

    def read_all() -> None:
        while len(received) < BLOCK:
            received.extend(os.read(master, 65536))

    reader = threading.Thread(target=read_all, daemon=True)
    transport = SerialTransport(os.ttyname(slave), baudrate=115200)
    await transport.open()
    try:
        reader.start()
        data = bytes(range(256)) * (BLOCK // 256) + bytes(BLOCK % 256)
        await transport.write(data)
        await asyncio.to_thread(reader.join, 30)
        await asyncio.sleep(0.2)  # loop turns in which a writer left behind would fire
        assert bytes(received) == data
        assert errors == []
    finally:
        await transport.close()
        loop.set_exception_handler(None)
        os.close(master)
        os.close(slave)


async def test_read_returns_what_arrived_and_times_out_on_silence() -> None:
    master, slave = os.openpty()
    transport = SerialTransport(os.ttyname(slave), baudrate=115200)
    await transport.open()
    try:
        with pytest.raises(PrinterTimeout):
            await transport.read(0.05)
        os.write(master, b"OK\r")
        assert await transport.read(1.0) == b"OK\r"
        os.close(master)
        with pytest.raises(TransportError):
            await transport.read(1.0)
    finally:
        await transport.close()
        os.close(slave)


async def test_printer_link_hears_replies_and_fails_at_once_when_the_port_goes() -> None:
    """Over a real pty the link takes replies straight from the port; a port
    that goes away fails the waiting request now, not at its timeout."""
    master, slave = os.openpty()
    transport = SerialTransport(os.ttyname(slave), baudrate=115200)
    conn = HostConnection()
    link = ReplyLink[Reply](transport, conn, "test")
    await link.open()
    loop = asyncio.get_running_loop()
    try:
        asked = asyncio.ensure_future(
            link.request(lambda: conn.send(Command("Rtp")), 5.0, "no reply to Rtp")
        )
        assert await asyncio.to_thread(os.read, master, 100) == b"\x1bRtp\r"
        os.write(master, b"Prim")
        os.write(master, b"acy\r")
        assert await asyncio.wait_for(asked, 2.0) == Reply("Primacy")

        started = loop.time()
        asked = asyncio.ensure_future(
            link.request(lambda: conn.send(Command("Rsn")), 5.0, "no reply to Rsn")
        )
        assert await asyncio.to_thread(os.read, master, 100) == b"\x1bRsn\r"
        os.close(master)
        with pytest.raises(TransportError):
            await asked
        assert loop.time() - started < 2.0
        assert link.pending_waiters == 0
    finally:
        await link.close()
        os.close(slave)
