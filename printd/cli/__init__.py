"""The `printd` command line: one group, one module per noun."""

from __future__ import annotations

import click

from printd import __version__
from printd.cli.keys import keys


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="printd")
def cli() -> None:
    """printd runs a card-printing station: it takes signed print jobs from the
    registry over MQTT, prints them on the station's card printers, accounts
    for every blank card, and reports each outcome back."""


cli.add_command(keys)


def main() -> None:
    cli()
