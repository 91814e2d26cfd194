"""A simulated printer as its own process: pty for the driver, control socket
for the technician (or the test), until stopped.

It shares nothing with the daemon but the pty and the socket, so it survives
the daemon being killed, as a real printer would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from simulators.control import ControlHandler, ControlServer
from simulators.local import make_model
from simulators.machine import Machine
from simulators.serve import serve_pty

READY_POLL_S = 0.01


async def run_simulator(
    family: str,
    machine: Machine,
    control_address: str,
    on_ready: Callable[[str, str], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or the task is cancelled).

    ``on_ready(pty_path, control_address)`` is called once both are up.
    """
    model = make_model(family, machine)
    link: list[str] = []
    server = ControlServer(ControlHandler(machine, link), control_address)
    address = await server.start()
    pty_task = asyncio.create_task(serve_pty(model, link), name=f"sim-{family}-pty")
    try:
        # serve_pty fills `link` from plain code; polling is simplest here.
        while not link:  # noqa: ASYNC110
            await asyncio.sleep(READY_POLL_S)
        on_ready(link[0], address)
        if stop is None:
            await pty_task
        else:
            await stop.wait()
    finally:
        pty_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pty_task
        await server.close()
