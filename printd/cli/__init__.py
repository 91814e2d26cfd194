"""The `printd` command line: one group, one module per noun."""

from __future__ import annotations

from pathlib import Path

import click

from printd import __version__
from printd.cli.common import AppContext


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="printd")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="PRINTD_CONFIG",
    help="Configuration file (default /etc/printd/printd.toml; env PRINTD_CONFIG).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """printd runs a card-printing station: it takes signed print jobs from the
    registry over MQTT, prints them on the station's card printers, accounts
    for every blank card, and reports each outcome back.

    \b
    Everyday commands:
      printd status                    what the station is doing now
      printd blanks receive/load/...   the blank ledger
      printd jobs list/show/...        print jobs
      printd blanks reconcile          does every blank add up?
      printd doctor                    is the station healthy? (what to do if not)
    """
    ctx.obj = AppContext(config_path)


def _register() -> None:
    # Imported here, after the group exists, so each noun's module stays independent.
    from printd.cli.blanks import blanks
    from printd.cli.config_cmd import config
    from printd.cli.demo import demo
    from printd.cli.doctor import doctor
    from printd.cli.jobs import jobs
    from printd.cli.keys import keys
    from printd.cli.printers import printers
    from printd.cli.render import render
    from printd.cli.run import run
    from printd.cli.sim import sim
    from printd.cli.status import status

    commands = (run, status, doctor, config, blanks, jobs, printers, render, keys, sim, demo)
    for command in commands:
        cli.add_command(command)


_register()


def main() -> None:
    cli()
