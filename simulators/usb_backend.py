"""A pyusb backend that presents a simulated printer as a USB device.

``usb.core.find(backend=SimulatedUsbBackend(...))`` then finds one device with
the printer's vendor/product ids and serial number, one configuration, one
printer-class interface with a bulk OUT and a bulk IN endpoint, and string
descriptors. Bulk writes feed the printer model; bulk reads return its
replies. pyusb's own code (descriptor parsing, endpoint lookup, claiming)
runs unchanged, so :class:`drivers.transports.usb.UsbTransport` is tested
through the real library path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from simulators.serve import PrinterModel

EP_OUT = 0x01
EP_IN = 0x81
PRINTER_CLASS = 0x07
STRING_DESCRIPTOR = 0x03
GET_DESCRIPTOR = 0x06
TIMEOUT_ERRNO = 110


@dataclass
class _Descriptor:
    """A bag of descriptor fields, as the libusb backends return them."""

    fields: dict[str, Any]
    extra_descriptors: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


class SimulatedUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    def __init__(
        self,
        model: PrinterModel,
        vendor_id: int = 0x0F49,
        product_id: int = 0x0001,
        serial_number: str = "SIM0001",
        product: str = "Simulated card printer",
    ) -> None:
        self.model = model
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.strings = {1: "printd", 2: product, 3: serial_number}
        self._replies = bytearray()
        self._ready = threading.Condition()
        self._model_lock = threading.Lock()
        self.claimed: set[int] = set()
        self.unplugged = False

    # ------------------------------------------------------- descriptors

    def enumerate_devices(self) -> Any:
        if not self.unplugged:
            yield "sim-printer"

    def get_device_descriptor(self, dev: Any) -> _Descriptor:
        return _Descriptor(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0200,
                "bDeviceClass": 0,
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 64,
                "idVendor": self.vendor_id,
                "idProduct": self.product_id,
                "bcdDevice": 0x0100,
                "iManufacturer": 1,
                "iProduct": 2,
                "iSerialNumber": 3,
                "bNumConfigurations": 1,
                "address": 7,
                "bus": 1,
                "port_number": 1,
                "port_numbers": (1,),
                "speed": 3,
            }
        )

    def get_configuration_descriptor(self, dev: Any, config: int) -> _Descriptor:
        return _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": 32,
                "bNumInterfaces": 1,
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0xC0,
                "bMaxPower": 1,
            }
        )

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> _Descriptor:
        if intf != 0 or alt != 0:
            raise IndexError("no such interface")
        return _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 0,
                "bAlternateSetting": 0,
                "bNumEndpoints": 2,
                "bInterfaceClass": PRINTER_CLASS,
                "bInterfaceSubClass": 1,
                "bInterfaceProtocol": 2,  # bidirectional
                "iInterface": 0,
            }
        )

    def get_endpoint_descriptor(
        self, dev: Any, ep: int, intf: int, alt: int, config: int
    ) -> _Descriptor:
        if ep > 1:
            raise IndexError("no such endpoint")
        return _Descriptor(
            {
                "bLength": 7,
                "bDescriptorType": 5,
                "bEndpointAddress": (EP_OUT, EP_IN)[ep],
                "bmAttributes": 0x02,  # bulk
                "wMaxPacketSize": 512,
                "bInterval": 0,
                "bRefresh": 0,
                "bSynchAddress": 0,
            }
        )

    # ----------------------------------------------------------- handles

    def open_device(self, dev: Any) -> str:
        if self.unplugged:
            raise usb.core.USBError("No such device", errno=19)
        return "handle"

    def close_device(self, dev_handle: Any) -> None:
        return None

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        return None

    def get_configuration(self, dev_handle: Any) -> int:
        return 1

    def set_interface_altsetting(self, dev_handle: Any, intf: int, altsetting: int) -> None:
        return None

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        self.claimed.add(intf)

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        self.claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        return False

    def ctrl_transfer(
        self,
        dev_handle: Any,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: Any,
        timeout: int,
    ) -> int:
        if bRequest != GET_DESCRIPTOR or wValue >> 8 != STRING_DESCRIPTOR:
            raise usb.core.USBError("Pipe error", errno=32)
        index = wValue & 0xFF
        if index == 0:
            payload = bytes([4, STRING_DESCRIPTOR, 0x09, 0x04])  # en-US
        else:
            text = self.strings.get(index)
            if text is None:
                raise usb.core.USBError("Pipe error", errno=32)
            encoded = text.encode("utf-16-le")
            payload = bytes([2 + len(encoded), STRING_DESCRIPTOR]) + encoded
        size = min(len(payload), len(data))
        for i in range(size):
            data[i] = payload[i]
        return size

    # -------------------------------------------------------------- bulk

    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        if self.unplugged:
            raise usb.core.USBError("No such device", errno=19)
        payload = bytes(data)
        with self._model_lock:
            self.model.receive_data(payload)
            while (response := self.model.next_response()) is not None:
                if response.delay_s:
                    time.sleep(response.delay_s)
                if response.reply is not None:
                    with self._ready:
                        self._replies += response.reply
                        self._ready.notify_all()
        return len(payload)

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        deadline = time.monotonic() + (timeout or 1000) / 1000
        with self._ready:
            while not self._replies:
                if self.unplugged:
                    raise usb.core.USBError("No such device", errno=19)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise usb.core.USBTimeoutError("Operation timed out", errno=TIMEOUT_ERRNO)
                self._ready.wait(left)
            size = min(len(buff), len(self._replies))
            for i in range(size):
                buff[i] = self._replies[i]
            del self._replies[:size]
            return size
