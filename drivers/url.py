"""Printer addresses as technicians write them in the config file.

- ``serial:///dev/ttyUSB0?baudrate=9600`` a serial port (baud rate optional)
- ``usb://0f49:1234?serial=XY12345`` a USB printer by vendor:product id and
  serial number (product id and serial optional)
- ``sim://NAME`` a simulator running inside this process
- ``/dev/pts/7`` or ``/dev/ttyS0``: a bare device path, taken as serial
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

DEFAULT_BAUDRATE = 9600


class PrinterUrlError(ValueError):
    """A printer address that cannot be understood."""


@dataclass(frozen=True, slots=True)
class SerialUrl:
    device: str
    baudrate: int = DEFAULT_BAUDRATE


@dataclass(frozen=True, slots=True)
class UsbUrl:
    vendor_id: int
    product_id: int | None = None
    serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class SimUrl:
    name: str
    options: dict[str, str] = field(default_factory=dict)


PrinterUrl = SerialUrl | UsbUrl | SimUrl


def _single(query: dict[str, list[str]], key: str) -> str | None:
    values = query.pop(key, None)
    if values is None:
        return None
    if len(values) != 1:
        raise PrinterUrlError(f"{key} given more than once")
    return values[0]


def _hex_id(text: str, what: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise PrinterUrlError(f"{what} must be 4 hex digits, got {text!r}") from None
    if not 0 <= value <= 0xFFFF:
        raise PrinterUrlError(f"{what} out of range: {text!r}")
    return value


def parse_printer_url(text: str) -> PrinterUrl:
    text = text.strip()
    if not text:
        raise PrinterUrlError("empty printer address")
    if text.startswith("/"):
        return SerialUrl(text)
    parts = urlsplit(text)
    query = parse_qs(parts.query, keep_blank_values=True)
    if parts.scheme == "serial":
        device = parts.path or ""
        if parts.netloc:
            raise PrinterUrlError("write serial URLs as serial:///dev/NAME (three slashes)")
        if not device.startswith("/"):
            raise PrinterUrlError(f"serial URL needs a device path: {text!r}")
        baud_text = _single(query, "baudrate")
        if query:
            raise PrinterUrlError(f"unknown serial options: {sorted(query)}")
        try:
            baudrate = int(baud_text) if baud_text is not None else DEFAULT_BAUDRATE
        except ValueError:
            raise PrinterUrlError(f"baudrate must be a number: {baud_text!r}") from None
        if baudrate <= 0:
            raise PrinterUrlError("baudrate must be positive")
        return SerialUrl(device, baudrate)
    if parts.scheme == "usb":
        ids = parts.netloc.split(":")
        if not ids[0] or len(ids) > 2:
            raise PrinterUrlError(f"usb URL needs vendor[:product] ids: {text!r}")
        vendor = _hex_id(ids[0], "vendor id")
        product = _hex_id(ids[1], "product id") if len(ids) == 2 and ids[1] else None
        serial = _single(query, "serial")
        if query:
            raise PrinterUrlError(f"unknown usb options: {sorted(query)}")
        return UsbUrl(vendor, product, serial or None)
    if parts.scheme == "sim":
        if not parts.netloc:
            raise PrinterUrlError("sim URL needs a name: sim://NAME")
        options = {key: values[-1] for key, values in query.items()}
        return SimUrl(parts.netloc, options)
    raise PrinterUrlError(f"unknown printer address kind {parts.scheme!r} in {text!r}")
