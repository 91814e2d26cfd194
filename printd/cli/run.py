"""`printd run`: the daemon."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from drivers.base import DriverOptions
from printd.cli.common import EXIT_CONFIG, EXIT_STORE, AppContext, fail, pass_app
from printd.config import PrinterSettings, Settings
from printd.logs import configure_logging, get_logger
from printd.pipeline.artwork import make_artwork_source
from printd.pipeline.worker import DriverFactory
from printd.render import CardChecker, TemplateError, TemplateLibrary
from printd.signing import KeyFileError, Signer, SigningError, Verifier
from printd.station import Station
from printd.store import StoreError

SWITCH_INTERVAL_S = 0.001

T = TypeVar("T")


def driver_opener(config: PrinterSettings) -> DriverFactory:
    """How the station opens a printer from its config entry (via the driver registry)."""
    from drivers.registry import open_driver

    options = DriverOptions(timeout_s=config.timeout_s, card_timeout_s=config.card_timeout_s)

    def factory():  # type: ignore[no-untyped-def]
        return open_driver(config.name, config.driver, config.url, options)

    return factory


def load_keys(settings: Settings) -> tuple[Signer, Verifier]:
    """The station's signing key and the registry's public keys, or ConfigError lines."""
    path = settings.signing.station_key_file
    try:
        signer = Signer.from_file(path)
    except KeyFileError as exc:
        fail(f"{exc}; create the station key with: printd keys generate --out {path}", EXIT_CONFIG)
    if not settings.signing.registry_keys:
        fail(
            "signing.registry_keys is empty: every job would be rejected; add the registry's "
            "public key (key id = base64)",
            EXIT_CONFIG,
        )
    try:
        verifier = Verifier.from_b64(settings.signing.registry_keys)
    except (SigningError, KeyFileError, ValueError) as exc:
        fail(f"signing.registry_keys: {exc}", EXIT_CONFIG)
    return signer, verifier


async def run_station(station: Station) -> None:
    loop = asyncio.get_running_loop()
    get_logger("printd").info("event_loop", implementation=type(loop).__module__.split(".")[0])
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, station.request_stop)
    await station.run()


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop's event loop where it is installed, else asyncio's.

    Every reply from every printer is an event-loop turn, some 18 a card.
    On bench/pipeline.py (4 printers, four alternated pairs), uvloop's loop
    gave 0.957-0.965 of the printers' capacity against 0.914-0.955, and
    2.02-2.34 ms of daemon CPU a card against 2.12-2.73 ms.
    """
    try:
        import uvloop
    except ImportError:  # a platform without a uvloop build
        return asyncio.run(main)
    return uvloop.run(main)


@click.command()
@pass_app
def run(app: AppContext) -> None:
    """Run the station daemon until stopped (SIGTERM or Ctrl-C).

    A stop lets the cards inside the printers finish first.
    """
    settings = app.settings
    configure_logging(settings.logging.level, settings.logging.format)
    # The event loop drives every printer's link; the store writer, the MQTT
    # intake thread and the job-check pool's threads also run Python. After
    # each system call the loop waits for the interpreter lock, by default up
    # to 5 ms; 1 ms keeps a printer's round trip from queueing behind them.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        templates = TemplateLibrary.from_settings(settings)
    except TemplateError as exc:
        for line in exc.lines:
            app.err.print(f"printd: {line}", markup=False)
        raise SystemExit(EXIT_CONFIG) from None
    signer, verifier = load_keys(settings) if settings.mqtt.enabled else (None, None)
    get_logger("printd").info("starting", station=settings.station.id)
    station = Station(
        settings,
        artwork=make_artwork_source(templates, settings.templates.dir),
        open_driver=driver_opener,
        signer=signer,
        verifier=verifier,
        card_validator=CardChecker(settings.templates.dir, templates),
    )
    try:
        run_event_loop(run_station(station))
    except StoreError as exc:
        fail(str(exc), EXIT_STORE)
