"""The registry's commands, carried out by the station.

Commands arrive signed and verified by the MQTT link; this module only
decides what each one does: ``cancel`` a queued job, ``pause`` / ``resume`` /
``drain`` one printer or the whole station, publish the ``inventory`` now.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from printd import reports
from printd.messages import (
    BatchStock,
    CommandMessage,
    Inventory,
    PrinterStock,
    now_utc,
    outbox_body,
)
from printd.mqtt.link import CommandResult
from printd.pipeline.worker import ACTIVE, DRAINING, PAUSED, PrinterWorker
from printd.store import JobError, JobState, Store

INVENTORY = "inventory"
MODES = {"pause": PAUSED, "resume": ACTIVE, "drain": DRAINING}


def inventory_body(store: Store, conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    """Blanks per batch and per printer, and ribbon prints left (retained on MQTT)."""
    db = conn or store.conn
    rec = store.ledger.reconcile()
    ribbons = {
        str(name): left for name, left in db.execute("SELECT name, ribbon_left FROM printers")
    }
    loaded = store.ledger.loaded_by_printer()
    printers = sorted(set(ribbons) | set(loaded))
    return outbox_body(
        Inventory,
        at=now_utc(),
        batches=[
            BatchStock(batch=b.batch_id, in_stock=b.in_stock, loaded=b.loaded) for b in rec.batches
        ],
        printers=[
            PrinterStock(
                printer=name, loaded=loaded.get(name, 0), ribbon_prints_left=ribbons.get(name)
            )
            for name in printers
        ],
    )


def publish_inventory(store: Store, body: dict[str, Any] | None = None) -> int:
    """Queue the retained inventory: ``body`` when the caller just built it
    (counting a large storeroom takes a while), else counted now."""
    with store.transaction() as conn:
        return store.outbox.enqueue(
            conn,
            INVENTORY,
            inventory_body(store, conn) if body is None else body,
            retain=True,
        )


class StationCommands:
    """Implements the MQTT link's CommandHandler for one station."""

    def __init__(
        self,
        store: Store,
        workers: Mapping[str, PrinterWorker],
        on_change: Callable[[], None],
    ) -> None:
        self._store = store
        self._workers = workers
        self._on_change = on_change

    async def handle(self, command: CommandMessage) -> CommandResult:
        by = f"registry ({command.key_id})"
        if command.command == "cancel":
            return self._cancel(command, by)
        if command.command == "resend":  # the link answers it before it comes here
            return CommandResult(ok=False, message="resend is the registry link's own command")
        if command.command == "inventory":
            seq = publish_inventory(self._store)
            self._on_change()
            return CommandResult(ok=True, message="inventory published", data={"seq": seq})
        mode = MODES[command.command]
        if command.printer is not None:
            worker = self._workers.get(command.printer)
            if worker is None:
                return CommandResult(ok=False, message=f"no printer {command.printer!r}")
            targets = [worker]
        else:
            targets = list(self._workers.values())
        for worker in targets:
            worker.set_mode(mode, by)
        self._on_change()
        names = ", ".join(w.name for w in targets) or "no printers"
        return CommandResult(ok=True, message=f"{command.command}: {names}")

    def _cancel(self, command: CommandMessage, by: str) -> CommandResult:
        job_id = command.job_id
        if job_id is None:  # the message model guarantees it; keep mypy and readers sure
            return CommandResult(ok=False, message="cancel needs a job_id")
        try:
            with self._store.transaction() as conn:
                self._store.jobs.transition(
                    conn,
                    job_id,
                    JobState.CANCELLED,
                    by,
                    expect=JobState.QUEUED,
                    reason=command.reason or "cancelled by the registry",
                )
                reports.result(
                    self._store, conn, job_id, "cancelled", correlation_id=command.correlation_id
                )
        except JobError as exc:
            return CommandResult(ok=False, message=str(exc))
        self._on_change()
        return CommandResult(ok=True, message=f"job {job_id} cancelled")
