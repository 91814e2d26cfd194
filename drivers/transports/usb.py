"""USB printers through pyusb: the printer-class interface's bulk endpoints.

pyusb calls block, so each one runs in a worker thread with a USB timeout a
little shorter than the asyncio one. ``backend`` lets a test (or the
simulator) present a software device through pyusb's own API.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import usb.core
import usb.util

from drivers.base import PrinterTimeout, TransportError

PRINTER_CLASS = 0x07
READ_SIZE = 4096
WRITE_TIMEOUT_S = 30.0


class UsbTransport:
    def __init__(
        self,
        vendor_id: int,
        product_id: int | None = None,
        serial_number: str | None = None,
        backend: Any = None,
    ) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.serial_number = serial_number
        self.description = f"usb:{vendor_id:04x}:{product_id or 0:04x}" + (
            f"?serial={serial_number}" if serial_number else ""
        )
        self._backend = backend
        self._device: Any = None
        self._interface = 0
        self._ep_in: Any = None
        self._ep_out: Any = None
        self._detached = False

    def _matches(self, device: Any) -> bool:
        if self.product_id is not None and device.idProduct != self.product_id:
            return False
        if self.serial_number is None:
            return True
        try:
            return bool(usb.util.get_string(device, device.iSerialNumber) == self.serial_number)
        except (usb.core.USBError, ValueError):
            return False

    def _open_blocking(self) -> None:
        device = usb.core.find(
            idVendor=self.vendor_id, custom_match=self._matches, backend=self._backend
        )
        if device is None:
            raise TransportError(f"no USB printer matches {self.description}")
        config = device.get_active_configuration()
        interface = usb.util.find_descriptor(config, bInterfaceClass=PRINTER_CLASS)
        if interface is None:
            raise TransportError(f"{self.description} has no printer-class interface")
        number = interface.bInterfaceNumber
        with contextlib.suppress(NotImplementedError, usb.core.USBError):
            if device.is_kernel_driver_active(number):
                device.detach_kernel_driver(number)
                self._detached = True
        usb.util.claim_interface(device, number)

        def direction(want: int) -> Any:
            return usb.util.find_descriptor(
                interface,
                custom_match=lambda e: (
                    usb.util.endpoint_direction(e.bEndpointAddress) == want
                    and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
                ),
            )

        self._ep_in = direction(usb.util.ENDPOINT_IN)
        self._ep_out = direction(usb.util.ENDPOINT_OUT)
        if self._ep_in is None or self._ep_out is None:
            usb.util.release_interface(device, number)
            raise TransportError(f"{self.description} lacks bulk endpoints")
        self._device, self._interface = device, number

    async def open(self) -> None:
        try:
            await asyncio.wait_for(asyncio.to_thread(self._open_blocking), 10.0)
        except TimeoutError:
            raise TransportError(f"opening {self.description} timed out") from None
        except usb.core.USBError as exc:
            raise TransportError(f"cannot open {self.description}: {exc}") from exc

    async def close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return

        def release() -> None:
            with contextlib.suppress(usb.core.USBError):
                usb.util.release_interface(device, self._interface)
                if self._detached:
                    device.attach_kernel_driver(self._interface)
            usb.util.dispose_resources(device)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(release), 5.0)

    async def write(self, data: bytes) -> None:
        if self._device is None:
            raise TransportError(f"{self.description} is not open")
        ep = self._ep_out
        try:
            # Reads and writes use different endpoints and may overlap.
            await asyncio.wait_for(
                asyncio.to_thread(ep.write, data, int(WRITE_TIMEOUT_S * 1000)),
                WRITE_TIMEOUT_S + 1,
            )
        except (TimeoutError, usb.core.USBTimeoutError):
            raise PrinterTimeout(f"{self.description} did not take {len(data)} bytes") from None
        except usb.core.USBError as exc:
            raise TransportError(f"writing to {self.description} failed: {exc}") from exc

    async def read(self, timeout_s: float) -> bytes:
        if self._device is None:
            raise TransportError(f"{self.description} is not open")
        ep = self._ep_in
        ms = max(1, int(timeout_s * 1000))
        try:
            data = await asyncio.wait_for(
                asyncio.to_thread(ep.read, READ_SIZE, ms), timeout_s + 1.0
            )
        except (TimeoutError, usb.core.USBTimeoutError):
            raise PrinterTimeout(f"{self.description}: no answer within {timeout_s:g} s") from None
        except usb.core.USBError as exc:
            raise TransportError(f"reading {self.description} failed: {exc}") from exc
        if not data:
            raise PrinterTimeout(f"{self.description}: empty read")
        return bytes(data)

    def discard_input(self) -> None:
        # Bytes not yet read stay in the device; the reply parser drops them.
        return None
