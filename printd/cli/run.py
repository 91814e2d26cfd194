"""`printd run`: the daemon."""

from __future__ import annotations

import asyncio
import signal

import click

from drivers.base import DriverOptions
from printd.cli.common import EXIT_CONFIG, EXIT_STORE, AppContext, fail, pass_app
from printd.config import PrinterSettings
from printd.logs import configure_logging, get_logger
from printd.pipeline.artwork import make_artwork_source
from printd.pipeline.worker import DriverFactory
from printd.render import TemplateError, TemplateLibrary
from printd.station import Station
from printd.store import StoreError


def driver_opener(config: PrinterSettings) -> DriverFactory:
    """How the station opens a printer from its config entry (via the driver registry)."""
    from drivers.registry import open_driver

    options = DriverOptions(timeout_s=config.timeout_s, card_timeout_s=config.card_timeout_s)

    def factory():  # type: ignore[no-untyped-def]
        return open_driver(config.name, config.driver, config.url, options)

    return factory


async def run_station(station: Station) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, station.request_stop)
    await station.run()


@click.command()
@pass_app
def run(app: AppContext) -> None:
    """Run the station daemon until stopped (SIGTERM or Ctrl-C).

    A stop lets the cards inside the printers finish first.
    """
    settings = app.settings
    configure_logging(settings.logging.level, settings.logging.format)
    get_logger("printd").info("starting", station=settings.station.id)
    try:
        templates = TemplateLibrary.from_settings(settings)
    except TemplateError as exc:
        for line in exc.lines:
            app.err.print(f"printd: {line}", markup=False)
        raise SystemExit(EXIT_CONFIG) from None
    station = Station(settings, artwork=make_artwork_source(templates), open_driver=driver_opener)
    try:
        asyncio.run(run_station(station))
    except StoreError as exc:
        fail(str(exc), EXIT_STORE)
