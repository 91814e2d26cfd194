"""``printd sim``: software card printers for technicians and integrators."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import TypeVar

import click

from simulators.control import ControlClient, ControlError
from simulators.machine import Fault, Machine, expand_serials


@click.group()
def sim() -> None:
    """Run a simulated card printer, or control a running one."""


def _run(
    family: str,
    blanks: str | None,
    speed: float,
    control: str | None,
    seed: int | None,
    fault_rate: float,
    ribbon: int,
) -> None:
    from simulators.host import run_simulator

    try:
        serials = expand_serials(blanks) if blanks else []
        machine = Machine(
            speed=speed,
            seed=seed,
            fault_rate=fault_rate,
            ribbon_prints=ribbon,
            model=f"Simulated {family}",
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    machine.load(serials)
    address = control or f"unix:{tempfile.mkdtemp(prefix='printd-sim-')}{os.sep}control.sock"

    def ready(pty_path: str, control_address: str) -> None:
        click.echo(f"pty: {pty_path}")
        click.echo(f"control: {control_address}")
        click.echo(f"feeder: {len(machine.feeder)} blanks", err=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_simulator(family, machine, address, ready))


_COMMON = [
    click.option(
        "--pty",
        "use_pty",
        is_flag=True,
        default=True,
        help="Serve on a new pty (the default).",
    ),
    click.option("--blanks", help="Blanks to load, e.g. AB-100001..AB-100100."),
    click.option(
        "--speed",
        type=click.FloatRange(min=0.001),
        default=1.0,
        show_default=True,
        help="Time factor: 1 is real time, 100 is a hundred times faster.",
    ),
    click.option(
        "--control",
        help="unix:PATH or tcp:127.0.0.1:PORT (default: a new unix socket).",
    ),
    click.option("--seed", type=int, help="Seed for random faults."),
    click.option(
        "--fault-rate",
        type=click.FloatRange(0.0, 1.0),
        default=0.0,
        show_default=True,
        help="Chance of a random fault at each card fed.",
    ),
    click.option(
        "--ribbon",
        type=click.IntRange(min=0),
        default=250,
        show_default=True,
        help="Prints left on the ribbon.",
    ),
]


F = TypeVar("F", bound=Callable[..., None])


def _with_common(func: F) -> F:
    for option in reversed(_COMMON):
        func = option(func)
    return func


@sim.command()
@_with_common
def evolis(
    use_pty: bool,
    blanks: str | None,
    speed: float,
    control: str | None,
    seed: int | None,
    fault_rate: float,
    ribbon: int,
) -> None:
    """A simulated Evolis printer on a pty; prints the pty path and the control
    address, then runs until Ctrl-C."""
    _run("evolis", blanks, speed, control, seed, fault_rate, ribbon)


@sim.command()
@_with_common
def magicard(
    use_pty: bool,
    blanks: str | None,
    speed: float,
    control: str | None,
    seed: int | None,
    fault_rate: float,
    ribbon: int,
) -> None:
    """A simulated Magicard printer on a pty (same options as evolis)."""
    _run("magicard", blanks, speed, control, seed, fault_rate, ribbon)


ACTIONS = [str(f) for f in Fault] + ["clear", "state", "load"]


@sim.command()
@click.argument("address")
@click.argument("action", type=click.Choice(ACTIONS))
@click.argument("value", required=False)
@click.option("--after", type=click.IntRange(min=0), help="ribbon-out: prints before it ends.")
@click.option("--count", type=click.IntRange(min=1), help="garbage: how many bytes of noise.")
def control(
    address: str, action: str, value: str | None, after: int | None, count: int | None
) -> None:
    """Act on a running simulator: cause a fault, clear one (or all), load
    blanks (VALUE = AB-100101..AB-100200) or print its state as JSON."""
    try:
        client = ControlClient(address)
        if action == "state":
            click.echo(json.dumps(client.state(), indent=2))
        elif action == "load":
            if not value:
                raise click.BadParameter("load needs a range such as AB-100101..AB-100200")
            click.echo(f"feeder: {client.load(value)} blanks")
        elif action == "clear":
            client.clear(value)
            click.echo(f"cleared {value or 'all faults'}")
        else:
            args = {k: v for k, v in (("after", after), ("count", count)) if v is not None}
            client.inject(action, **args)
            click.echo(f"injected {action}")
    except (ControlError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _attach_registry() -> None:
    from simulators.registry import registry_command

    sim.add_command(registry_command, name="registry")


_attach_registry()
