"""What the station tells the registry and the technician.

Written in the same transaction as the change it reports: results and events
go to the outbox (the MQTT link wraps each body in the signed envelope with the
station's sequence number when it publishes it), events also to the local
``station_events`` table that `printd status` shows.
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
    reason: str | None = None,
    detail: str | None = None,
) -> int:
    """Queue a job's outcome: printed, failed, expired, cancelled, needs_inspection, ...

    Every blank issued to or spoiled for the job is listed, with the reasons.
    """
    body: dict[str, Any] = {"job_id": job_id, "outcome": outcome, "at": stamp()}
    if blank_serial is not None:
        body["blank_serial"] = blank_serial
    if printer is not None:
        body["printer"] = printer
    blanks = store.ledger.job_blanks(job_id, conn)
    spoiled = [
        {"serial": b["serial"], "reason": b["reason"], "detail": b["detail"]}
        for b in blanks
        if b["outcome"] == "spoiled"
    ]
    if spoiled:
        body["spoiled"] = spoiled
    if reason is not None:
        body["reason"] = reason
    if detail is not None:
        body["detail"] = detail
    seq = store.outbox.enqueue(conn, RESULTS, body)
    conn.execute("UPDATE jobs SET result_seq = ? WHERE job_id = ?", (seq, job_id))
    return seq


def event(
    store: Store,
    conn: sqlite3.Connection,
    name: str,
    message: str,
    *,
    severity: str = "info",
    printer: str | None = None,
    job_id: str | None = None,
    **fields: Any,
) -> int:
    """Record an event for the technician and queue it for the registry."""
    at = stamp()
    conn.execute(
        "INSERT INTO station_events (at, severity, event, printer, job_id, message) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (at, severity, name, printer, job_id, message),
    )
    body: dict[str, Any] = {"event": name, "severity": severity, "at": at, "message": message}
    if printer is not None:
        body["printer"] = printer
    if job_id is not None:
        body["job_id"] = job_id
    body.update(fields)
    return store.outbox.enqueue(conn, EVENTS, body)


def recent_events(store: Store, limit: int = 10) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        "SELECT at, severity, event, printer, job_id, message FROM station_events "
        "ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [dict(row) for row in rows]
