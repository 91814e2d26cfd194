"""Printer addresses and finding drivers by entry point."""

from __future__ import annotations

import pytest
from PIL import Image

from drivers.base import CardArtwork, DriverOptions, Issued, PrinterState, SideArtwork
from drivers.evolis.driver import EvolisDriver
from drivers.registry import UnknownDriver, available_drivers, driver_class, open_driver
from drivers.url import PrinterUrlError, SerialUrl, SimUrl, UsbUrl, parse_printer_url
from simulators import local


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("serial:///dev/ttyUSB0?baudrate=115200", SerialUrl("/dev/ttyUSB0", 115200)),
        ("serial:///dev/ttyS1", SerialUrl("/dev/ttyS1", 9600)),
        ("/dev/pts/7", SerialUrl("/dev/pts/7")),
        ("usb://0f49:1234?serial=XY123", UsbUrl(0x0F49, 0x1234, "XY123")),
        ("usb://0f49", UsbUrl(0x0F49)),
        ("sim://desk1?blanks=AB-1..AB-5", SimUrl("desk1", {"blanks": "AB-1..AB-5"})),
    ],
)
def test_printer_urls_parse(text: str, parsed: object) -> None:
    """Each address form a technician may write parses to its typed value."""
    assert parse_printer_url(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "serial://dev/ttyUSB0",
        "serial:///dev/ttyUSB0?baudrate=fast",
        "serial:///dev/ttyUSB0?parity=E",
        "usb://zz49:1234",
        "usb://0f49:1234?serial=a&serial=b",
        "sim://",
        "tcp://10.0.0.5:9100",
    ],
)
def test_bad_printer_urls_are_refused(text: str) -> None:
    """Malformed or unknown addresses raise a PrinterUrlError."""
    with pytest.raises(PrinterUrlError):
        parse_printer_url(text)


def test_builtin_drivers_are_found_by_entry_point() -> None:
    """The evolis driver is registered in the printd.drivers group."""
    assert "evolis" in available_drivers()
    assert driver_class("evolis") is EvolisDriver
    with pytest.raises(UnknownDriver, match="no printer driver named 'acme'"):
        driver_class("acme")


async def test_open_driver_on_an_in_process_simulator() -> None:
    """open_driver with sim://NAME prints on a simulator reachable by name."""
    url = "sim://reg-test?blanks=CD-000001..CD-000003&speed=5000"
    try:
        async with open_driver("desk-2", "evolis", url, DriverOptions(timeout_s=1)) as driver:
            assert (await driver.status()).state is PrinterState.READY
            card = CardArtwork(
                SideArtwork(Image.new("RGB", (1016, 648), "navy")), chip_data=b"\x01"
            )
            outcome = await driver.print_card(driver.prepare(card), "CD-000001")
        assert isinstance(outcome, Issued)
        machine = local.get("reg-test").machine
        assert [c.serial for c in machine.output] == ["CD-000001"]
        assert machine.output[0].chip_data == b"\x01"
    finally:
        await local.forget_all()


def test_open_driver_refuses_a_bad_entry_at_once() -> None:
    """A bad URL or driver name fails when the context is built, not later."""
    with pytest.raises(PrinterUrlError):
        open_driver("x", "evolis", "ftp://nowhere", DriverOptions())
    with pytest.raises(UnknownDriver):
        open_driver("x", "nope", "/dev/ttyUSB0", DriverOptions())
