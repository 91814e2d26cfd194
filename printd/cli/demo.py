"""`printd demo`: a whole station on this machine, with a story."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import click

from printd.cli.common import EXIT_PROBLEM, AppContext, pass_app


@click.command()
@click.option(
    "--jobs",
    default=40,
    show_default=True,
    type=click.IntRange(2, 45),
    help="How many signed jobs the registry sends.",
)
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo station's files here (default: a new temporary directory).",
)
@click.option(
    "--broker",
    type=click.Choice(["auto", "mosquitto", "amqtt"]),
    default="auto",
    show_default=True,
    help="Which local broker to start (auto: Mosquitto when installed).",
)
@pass_app
def demo(app: AppContext, jobs: int, workdir: Path | None, broker: str) -> None:
    """Run a whole print station on this machine and watch it work.

    A local MQTT broker (Mosquitto if installed, else the embedded amqtt), two
    simulated Evolis printers on pseudo-terminals driven by the real driver,
    `printd run`, and a registry simulator sending signed e-KTP jobs. Midway a
    card jams and the broker goes away for a few seconds. It ends with the
    results and the blank reconciliation. Touches nothing outside its directory.
    """
    from printd.demo.scenario import run_demo

    workdir = workdir or Path(tempfile.mkdtemp(prefix="printd-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ok = asyncio.run(run_demo(workdir, jobs, app.console, broker))
    if not ok:
        raise SystemExit(EXIT_PROBLEM)
