"""The serial transport over a real pty: a large write drains and leaves the loop quiet."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

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
