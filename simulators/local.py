"""Simulators living inside the daemon's own process, named by ``sim://NAME``.

The first connection to a name creates the printer (family from the driver,
blanks and speed from the URL's query: ``sim://desk1?blanks=AB-1..AB-50&speed=50``);
later connections reach the same machine, so its feeder and bins persist
across driver reopenings. Tests reach the machine with :func:`get`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from drivers.base import ChipError
from drivers.transports.memory import Delivery, MemoryTransport, memory_pair
from simulators.machine import Machine, MachineError, Position, expand_serials
from simulators.serve import PrinterModel, serve_link


@dataclass(slots=True)
class LocalSimulator:
    name: str
    model: PrinterModel
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def machine(self) -> Machine:
        return self.model.machine

    async def connect(self, delivery: Delivery = Delivery.WHOLE) -> MemoryTransport:
        """A fresh host end wired to this printer."""
        host, printer = memory_pair(delivery)
        await printer.open()
        task = asyncio.create_task(serve_link(self.model, printer), name=f"sim:{self.name}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return host

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class MachineChipEncoder:
    """A chip encoder that writes straight into a simulated machine's card."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    async def encode(self, station: str, data: bytes) -> str:
        want = Position.CONTACT if station == "contact" else Position.CONTACTLESS
        if self.machine.position is not want:
            raise ChipError(f"no card parked at the {station} station")
        try:
            return self.machine.write_chip(data)
        except MachineError as exc:
            raise ChipError(str(exc)) from exc


_simulators: dict[str, LocalSimulator] = {}


def make_model(family: str, machine: Machine) -> PrinterModel:
    if family == "evolis":
        from simulators.evolis import EvolisPrinter

        return EvolisPrinter(machine)
    if family == "magicard":
        from simulators.magicard import MagicardPrinter

        return MagicardPrinter(machine)
    raise ValueError(f"no simulator for printer family {family!r}")


def machine_from_options(options: dict[str, str]) -> Machine:
    known = {"blanks", "speed", "seed", "fault_rate", "ribbon", "reject_capacity"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown simulator options: {sorted(unknown)}")
    machine = Machine(
        speed=float(options.get("speed", "1")),
        seed=int(options["seed"]) if "seed" in options else None,
        fault_rate=float(options.get("fault_rate", "0")),
        ribbon_prints=int(options.get("ribbon", "250")),
        reject_capacity=int(options.get("reject_capacity", "15")),
    )
    if "blanks" in options:
        machine.load(expand_serials(options["blanks"]))
    return machine


def get_or_create(name: str, family: str, options: dict[str, str]) -> LocalSimulator:
    existing = _simulators.get(name)
    if existing is not None:
        if existing.model.family != family:
            raise ValueError(f"sim://{name} is a {existing.model.family} printer, not {family}")
        return existing
    simulator = LocalSimulator(name, make_model(family, machine_from_options(options)))
    _simulators[name] = simulator
    return simulator


def get(name: str) -> LocalSimulator:
    try:
        return _simulators[name]
    except KeyError:
        raise KeyError(f"no in-process simulator named {name!r}") from None


async def forget_all() -> None:
    """Stop and drop every in-process simulator (between tests)."""
    for simulator in list(_simulators.values()):
        await simulator.stop()
    _simulators.clear()
