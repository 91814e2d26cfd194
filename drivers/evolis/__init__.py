"""Evolis card printers: the open escape-command protocol (Programming Guide A5013)."""
