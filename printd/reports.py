"""What the station tells the registry, written to the outbox in the same
transaction as the change it reports.

Bodies here are plain dicts; the MQTT link wraps each in the signed envelope
(version, station, sequence number, signature) when it publishes it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from printd.store import Store
from printd.store.clock import stamp

RESULTS = "results"
EVENTS = "events"


def result(
    store: Store,
    conn: sqlite3.Connection,
    job_id: str,
    outcome: str,
    *,
    blank_serial: str | None = None,
    printer: str | None = None,
    spoiled: list[dict[str, str]] | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> int:
    """Queue a job's outcome: printed, failed, expired, cancelled, needs_inspection."""
    body: dict[str, Any] = {"kind": "result", "job_id": job_id, "outcome": outcome, "at": stamp()}
    if blank_serial is not None:
        body["blank_serial"] = blank_serial
    if printer is not None:
        body["printer"] = printer
    if spoiled:
        body["spoiled"] = spoiled
    if reason is not None:
        body["reason"] = reason
    if detail is not None:
        body["detail"] = detail
    return store.outbox.enqueue(conn, RESULTS, body)


def event(
    store: Store, conn: sqlite3.Connection, name: str, severity: str = "info", **fields: Any
) -> int:
    """Queue an event for the registry and monitoring (printer fault, low stock, ...)."""
    body = {"kind": "event", "event": name, "severity": severity, "at": stamp(), **fields}
    return store.outbox.enqueue(conn, EVENTS, body)
