"""The serial transport over a real pty: reads, a large write that drains and leaves
the loop quiet, and a printer link that hears replies straight from the port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
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


@dataclass
class PtyPrinterLink:
    """A printer link over a real pty; ``master`` is the printer's end."""

    master: int
    conn: HostConnection
    link: ReplyLink[Reply]


@pytest.fixture
async def pty_link() -> AsyncIterator[PtyPrinterLink]:
    master, slave = os.openpty()
    conn = HostConnection()
    link = ReplyLink[Reply](SerialTransport(os.ttyname(slave), baudrate=115200), conn, "test")
    await link.open()
    try:
        yield PtyPrinterLink(master, conn, link)
    finally:
        await link.close()
        for fd in (master, slave):
            with contextlib.suppress(OSError):  # a test may have closed the master
                os.close(fd)


async def test_printer_link_hears_replies_and_fails_at_once_when_the_port_goes(
    pty_link: PtyPrinterLink,
) -> None:
    """Over a real pty the link takes replies straight from the port; a port
    that goes away fails the waiting request now, not at its timeout."""
    master, conn, link = pty_link.master, pty_link.conn, pty_link.link
    loop = asyncio.get_running_loop()
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


async def test_a_stream_still_answered_outlives_its_timeout_and_a_silent_one_does_not(
    pty_link: PtyPrinterLink,
) -> None:
    """Three commands in one write, with 0.3 s for each reply: answered one
    every 0.2 s, the exchange takes longer than 0.3 s and succeeds; answered
    once and then silent, it fails naming how far the printer got."""
    master, conn, link = pty_link.master, pty_link.conn, pty_link.link
    loop = asyncio.get_running_loop()
    stream = [Command("Rse", ("o",)), Command("Rse", ("f",)), Command("Rtp")]
    started = loop.time()
    asked = asyncio.ensure_future(
        link.exchange(lambda: conn.send_all(stream), 3, 0.3, "no reply to Rse")
    )
    await asyncio.to_thread(os.read, master, 100)
    for text in (b"4.80\r", b"4.75\r", b"Primacy\r"):
        await asyncio.sleep(0.2)
        os.write(master, text)
    replies = await asyncio.wait_for(asked, 2.0)
    assert replies == [Reply("4.80"), Reply("4.75"), Reply("Primacy")]
    assert loop.time() - started > 0.5

    asked = asyncio.ensure_future(
        link.exchange(lambda: conn.send_all(stream), 3, 0.3, "no reply to Rse")
    )
    await asyncio.to_thread(os.read, master, 100)
    os.write(master, b"4.80\r")
    with pytest.raises(PrinterTimeout, match=r"no reply to Rse within 0.3 s \(1 of 3 answered\)"):
        await asyncio.wait_for(asked, 2.0)
    assert link.pending_waiters == 0
