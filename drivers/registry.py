"""Finding drivers and opening a printer from its config entry.

Drivers are classes registered in the ``printd.drivers`` entry-point group,
built-in ones included, so a third-party package ships a driver by declaring::

    [project.entry-points."printd.drivers"]
    acme = "acme_printd.driver:AcmeDriver"

A driver class is called as ``DriverClass(transport, options)`` and must
satisfy :class:`drivers.base.Driver`.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast

from drivers.base import Driver, DriverError, DriverOptions
from drivers.transports.base import Transport
from drivers.url import SerialUrl, SimUrl, UsbUrl, parse_printer_url

GROUP = "printd.drivers"


class UnknownDriver(DriverError):
    """No installed driver has that name."""


@cache
def available_drivers() -> dict[str, Any]:
    """Name -> entry point of every installed driver (loaded lazily)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def driver_class(driver: str) -> type[Any]:
    entry = available_drivers().get(driver)
    if entry is None:
        known = ", ".join(sorted(available_drivers())) or "none"
        raise UnknownDriver(f"no printer driver named {driver!r} (installed: {known})")
    try:
        return cast(type[Any], entry.load())
    except ImportError as exc:
        raise UnknownDriver(
            f"printer driver {driver!r} is registered but not loadable: {exc}"
        ) from exc


def open_transport(url: str, driver: str) -> tuple[Transport | None, Any]:
    """The transport for a URL; for ``sim://`` also the in-process simulator."""
    parsed = parse_printer_url(url)
    if isinstance(parsed, SerialUrl):
        from drivers.transports.serial import SerialTransport

        return SerialTransport(parsed.device, parsed.baudrate), None
    if isinstance(parsed, UsbUrl):
        from drivers.transports.usb import UsbTransport

        return UsbTransport(parsed.vendor_id, parsed.product_id, parsed.serial_number), None
    if isinstance(parsed, SimUrl):
        from simulators import local

        return None, local.get_or_create(parsed.name, driver, parsed.options)
    raise AssertionError(f"unhandled URL kind {parsed!r}")  # pragma: no cover


class OpenDriver:
    """``async with open_driver(...) as driver:`` opens the link, identifies
    the printer, and closes everything on the way out."""

    def __init__(self, name: str, driver: str, url: str, options: DriverOptions) -> None:
        self.name = name
        self.driver_name = driver
        self.url = url
        self.options = options
        self._cls = driver_class(driver)
        # Parse now so a bad URL fails at configuration time, not at first use.
        parse_printer_url(url)
        self._driver: Driver | None = None

    async def __aenter__(self) -> Driver:
        transport, simulator = open_transport(self.url, self.driver_name)
        options = self.options
        if simulator is not None:
            from simulators.local import MachineChipEncoder

            transport = await simulator.connect()
            if options.chip_encoder is None:
                options = DriverOptions(
                    timeout_s=options.timeout_s,
                    card_timeout_s=options.card_timeout_s,
                    chip_encoder=MachineChipEncoder(simulator.machine),
                    chip_station=options.chip_station,
                    ribbon_low=options.ribbon_low,
                    extra=dict(options.extra),
                )
        driver = self._cls(transport, options)
        if not isinstance(driver, Driver):
            raise DriverError(f"{self.driver_name} does not implement the driver interface")
        self._driver = await driver.__aenter__()
        return self._driver

    async def __aexit__(self, *exc_info: Any) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            await driver.__aexit__(*exc_info)


def open_driver(name: str, driver: str, url: str, options: DriverOptions) -> OpenDriver:
    """The one call the station makes per configured printer.

    ``name`` is the printer's name in the config (for logs), ``driver`` an
    entry-point name (``evolis``, ``magicard``, or a third party's), ``url``
    the printer address (see :mod:`drivers.url`). Raises
    :class:`UnknownDriver` or :class:`drivers.url.PrinterUrlError` at once for
    a bad entry; link errors surface when the context is entered.
    """
    return OpenDriver(name, driver, url, options)
