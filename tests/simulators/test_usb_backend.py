"""The simulated printer as a USB device, reached through pyusb's own API."""

from __future__ import annotations

import pytest
import usb.core
import usb.util

from drivers.base import (
    CardArtwork,
    DriverOptions,
    Issued,
    PrinterState,
    SideArtwork,
    TransportError,
)
from drivers.evolis.driver import EvolisDriver
from drivers.transports.usb import UsbTransport
from simulators.evolis import EvolisPrinter
from simulators.machine import Machine, expand_serials
from simulators.usb_backend import SimulatedUsbBackend


@pytest.fixture
def backend() -> SimulatedUsbBackend:
    machine = Machine(speed=5000)
    machine.load(expand_serials("US-000001..US-000003"))
    return SimulatedUsbBackend(EvolisPrinter(machine), product_id=0x0042, serial_number="EV123")


def test_pyusb_sees_a_printer_class_device(backend: SimulatedUsbBackend) -> None:
    """pyusb finds the device by ids and reads its serial and printer interface."""
    device = usb.core.find(idVendor=0x0F49, idProduct=0x0042, backend=backend)
    assert device is not None
    assert usb.util.get_string(device, device.iSerialNumber) == "EV123"
    interface = device.get_active_configuration()[(0, 0)]
    assert interface.bInterfaceClass == 0x07
    assert sorted(e.bEndpointAddress for e in interface) == [0x01, 0x81]


async def test_driver_prints_over_usb_bulk_endpoints(backend: SimulatedUsbBackend) -> None:
    """The Evolis driver over UsbTransport claims the interface and issues a card."""
    transport = UsbTransport(0x0F49, 0x0042, "EV123", backend=backend)
    from PIL import Image

    card = CardArtwork(SideArtwork(Image.new("RGB", (1016, 648), "teal")))
    async with EvolisDriver(transport, DriverOptions(timeout_s=2, card_timeout_s=5)) as driver:
        assert backend.claimed == {0}
        assert (await driver.status()).state is PrinterState.READY
        outcome = await driver.print_card(driver.prepare(card), "US-000001")
    assert outcome == Issued("US-000001")
    assert [c.serial for c in backend.model.machine.output] == ["US-000001"]
    assert backend.claimed == set()


async def test_wrong_serial_number_finds_no_printer(backend: SimulatedUsbBackend) -> None:
    """A printer URL naming another serial number does not open this device."""
    transport = UsbTransport(0x0F49, 0x0042, "OTHER", backend=backend)
    with pytest.raises(TransportError, match="no USB printer"):
        await transport.open()


async def test_unplugged_device_makes_the_printer_offline(backend: SimulatedUsbBackend) -> None:
    """Pulling the cable turns the printer offline instead of hanging."""
    transport = UsbTransport(0x0F49, 0x0042, "EV123", backend=backend)
    async with EvolisDriver(transport, DriverOptions(timeout_s=1)) as driver:
        backend.unplugged = True
        assert (await driver.status()).state is PrinterState.OFFLINE
        assert driver.pending_waiters == 0
