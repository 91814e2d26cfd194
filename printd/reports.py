"""What the station tells the registry and the technician.

Written in the same transaction as the change it reports. Results and
events go to the outbox as bodies validated against the wire models
(:mod:`printd.messages`); the MQTT link adds the envelope (station, sequence
number, signature) when it publishes them. Events also go to the local
``station_events`` table that `printd status` shows.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from printd.messages import Event, now_utc, outbox_body
from printd.store import Store
from printd.store.clock import stamp

RESULTS = "results"
EVENTS = "events"

Outcome = Literal["printed", "failed", "expired", "cancelled", "needs_inspection"]


def _spoiled(store: Store, conn: sqlite3.Connection, job_id: str) -> list[dict[str, Any]]:
    return [
        {"serial": b["serial"], "reason": b["reason"]}
        for b in store.ledger.job_blanks(job_id, conn)
        if b["outcome"] == "spoiled"
    ]


def _enqueue_result(store: Store, conn: sqlite3.Connection, job_id: str, **fields: Any) -> int:
    body = outbox_body(
        "result", job_id=job_id, at=now_utc(), spoiled=_spoiled(store, conn, job_id), **fields
    )
    seq = store.outbox.enqueue(conn, RESULTS, body)
    conn.execute("UPDATE jobs SET result_seq = ? WHERE job_id = ?", (seq, job_id))
    return seq


def result(
    store: Store,
    conn: sqlite3.Connection,
    job_id: str,
    outcome: Outcome,
    *,
    blank_serial: str | None = None,
    printer: str | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> int:
    """Queue a job's outcome with every blank spoiled while trying it."""
    fields: dict[str, Any] = {"outcome": outcome}
    if outcome == "printed":
        fields.update(serial=blank_serial, printer=printer)
    elif outcome == "failed":
        fields.update(reason=reason or "failed")
    elif outcome == "needs_inspection":
        fields.update(printer=printer, serial=blank_serial)
    elif outcome == "cancelled" and correlation_id is not None:
        fields.update(correlation_id=correlation_id)
    return _enqueue_result(store, conn, job_id, **fields)


def inspection_resolved(
    store: Store,
    conn: sqlite3.Connection,
    job_id: str,
    resolution: Literal["printed", "spoiled", "not_printed"],
    by: str,
    serial: str | None = None,
) -> int:
    """A technician's finding for a card that needed inspection."""
    return _enqueue_result(
        store,
        conn,
        job_id,
        outcome="inspection_resolved",
        resolution=resolution,
        serial=serial,
        by=by,
    )


def event(
    store: Store,
    conn: sqlite3.Connection,
    name: str,
    message: str,
    *,
    severity: Literal["info", "warning", "error"] = "info",
    printer: str | None = None,
    job_id: str | None = None,
    **data: str | int | bool | None,
) -> int:
    """Record an event for the technician and queue it for the registry."""
    conn.execute(
        "INSERT INTO station_events (at, severity, event, printer, job_id, message) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (stamp(), severity, name, printer, job_id, message),
    )
    if job_id is not None:
        data = {**data, "job_id": job_id}
    body = outbox_body(
        Event,
        at=now_utc(),
        kind=name,
        severity=severity,
        printer=printer,
        message=message[:1000],
        data=data,
    )
    return store.outbox.enqueue(conn, EVENTS, body)


def recent_events(store: Store, limit: int = 10) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        "SELECT at, severity, event, printer, job_id, message FROM station_events "
        "ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [dict(row) for row in rows]
