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
    """
    ctx.obj = AppContext(config_path)


def _register() -> None:
    from printd.cli.blanks import blanks
    from printd.cli.config_cmd import config
    from printd.cli.jobs import jobs
    from printd.cli.printers import printers
    from printd.cli.status import status

    for command in (status, config, blanks, jobs, printers):
        cli.add_command(command)


_register()


from printd.cli.sim import sim  # noqa: E402

cli.add_command(sim)


from printd.cli.render import render  # noqa: E402 - commands register after the group

cli.add_command(render)


def main() -> None:
    cli()
