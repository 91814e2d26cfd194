"""Byte links to a printer: serial, USB bulk, and in-memory pairs for tests."""

from drivers.transports.base import Transport

__all__ = ["Transport"]
