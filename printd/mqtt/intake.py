"""Job intake in two steps: commit what the broker delivered, then check it.

1. **Absorb** (:meth:`Intake.absorb`): a batch of job messages, exactly as
   delivered, is committed to the inbox in one transaction (one fsync). Only
   after that commit does the link send their PUBACKs. A backlog leaves the
   broker at the speed of the disk.
2. **Check and settle** (:meth:`Intake.check_pending`): the oldest inbox rows
   are checked in the check processes (:mod:`printd.mqtt.checks`: size, JSON,
   signature, schema, expiry, card), then settled in one transaction that
   turns each row into a queued job or a remembered rejection, queues its
   receipt in the outbox, and deletes the row. The registry's receipt always
   follows the commit of what it says.

Settling decides what needs the store:

- Duplicate or replay, by ``job_id`` (remembered forever): the same job_id
  with the same content (SHA-256 of the canonical bytes) is a *duplicate*
  (MQTT redelivery, a registry re-send) and is answered with the first receipt
  again, changing nothing. The same job_id with *different* signed content is
  ``replayed``: an id is never reused, whatever the content.
- ``queue_full``: the station holds ``station.max_queue`` active jobs already
  (the registry ignored the credit); not remembered: send again later.

Rejections of messages whose signature did not verify, or that are not jobs,
are answered but *not remembered*: an unauthenticated message must not be able
to block a job id. Authenticated rejections (expired, card_invalid) are
remembered under the job id, so a re-send gets the same answer.

All intake writes go through one thread with its own connection, so the
fsyncs never stall the event loop that drives the broker and the printers.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from printd.messages import Receipt, RejectReason, outbox_body
from printd.mqtt.checkpool import CheckPool
from printd.mqtt.checks import Rejection, Verdict
from printd.store import DuplicateJob, Store

RECEIPTS = "receipts"
T = TypeVar("T")


@dataclass
class IntakeOutcome:
    """What one settled batch did (after its transaction committed)."""

    accepted: list[str] = field(default_factory=list)
    rejected: list[tuple[str | None, RejectReason]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    receipts: int = 0


class Intake:
    """Owns the intake thread, its connection to the store, and the check pool."""

    def __init__(
        self,
        store: Store,
        checks: CheckPool,
        *,
        max_queue: int,
        batch: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._checks = checks
        self._max_queue = max_queue
        self._batch = batch
        self._clock = clock
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="printd-intake")
        self._db: Store | None = None

    async def in_thread(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn`` with the intake thread's own store (the link's other writes too)."""

        def run() -> T:
            if self._db is None:
                self._db = self._store.sibling()
            return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    async def start(self) -> None:
        """Start the check processes (slow: off the event loop)."""
        await asyncio.get_running_loop().run_in_executor(None, self._checks.start)

    async def absorb(self, payloads: Sequence[bytes]) -> None:
        """Commit job messages as received; after this returns they may be acknowledged."""

        def add(db: Store) -> None:
            with db.transaction() as conn:
                db.inbox.add(conn, payloads)

        await self.in_thread(add)

    async def check_pending(self) -> IntakeOutcome | None:
        """Check and settle the oldest batch in the inbox; None if it is empty."""
        rows = await self.in_thread(lambda db: db.inbox.oldest(self._batch))
        if not rows:
            return None
        verdicts = await self._checks.check([payload for _, payload in rows], self._clock())

        def settle(db: Store) -> IntakeOutcome:
            with db.transaction() as conn:
                outcome = settle_verdicts(
                    db, conn, zip((p for _, p in rows), verdicts, strict=True), self._max_queue
                )
                db.inbox.remove(conn, (row_id for row_id, _ in rows))
            return outcome

        return await self.in_thread(settle)

    def close(self) -> None:
        """Stop the intake thread and close its connection (before the store closes)."""

        def close_db() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        self._thread.submit(close_db).result()
        self._thread.shutdown(wait=True)
        self._checks.close()


def settle_verdicts(
    store: Store,
    conn: sqlite3.Connection,
    checked: Iterable[tuple[bytes, Verdict]],
    max_queue: int,
) -> IntakeOutcome:
    """Write each checked message's outcome and receipt; the caller commits."""
    outcome = IntakeOutcome()
    active = store.jobs.active_count(up_to=max_queue)
    for payload, verdict in checked:
        room = max_queue - active - len(outcome.accepted)
        _settle_one(store, conn, payload, verdict, room, outcome)
    return outcome


def _settle_one(
    store: Store,
    conn: sqlite3.Connection,
    payload: bytes,
    verdict: Verdict,
    room: int,
    outcome: IntakeOutcome,
) -> None:
    job_id = verdict.job_id
    if verdict.content_hash and job_id is not None:
        known = store.jobs.get(job_id, conn)
        if known is not None:
            if known.content_hash != verdict.content_hash:
                rejection = Rejection(
                    RejectReason.REPLAYED, f"job id {job_id} was already used for different content"
                )
                _reject(store, conn, job_id, "", rejection, outcome)
                return
            receipt = known.receipt or _receipt_for_state(job_id, known.state.value)
            store.outbox.enqueue(conn, RECEIPTS, receipt)
            outcome.duplicates.append(job_id)
            outcome.receipts += 1
            return
    if verdict.rejection is not None:
        _reject(store, conn, job_id, verdict.content_hash, verdict.rejection, outcome)
        return
    if job_id is None or verdict.not_after is None:  # pragma: no cover - checks set both
        raise ValueError("a verdict without a rejection names its job")
    if room <= 0:
        rejection = Rejection(
            RejectReason.QUEUE_FULL, "the station's queue is full (station.max_queue); send later"
        )
        _reject(store, conn, job_id, "", rejection, outcome)
        return
    body = outbox_body(Receipt, job_id=job_id, status="accepted")
    try:
        store.jobs.accept(
            conn,
            job_id=job_id,
            priority=verdict.priority,
            not_after=verdict.not_after,
            payload=payload,
            content_hash=verdict.content_hash,
            key_id=verdict.key_id,
            receipt=body,
        )
    except DuplicateJob:  # pragma: no cover - the lookup above saw it first
        return
    store.outbox.enqueue(conn, RECEIPTS, body)
    outcome.accepted.append(job_id)
    outcome.receipts += 1


def _reject(
    store: Store,
    conn: sqlite3.Connection,
    job_id: str | None,
    signed_hash: str,
    rejection: Rejection,
    outcome: IntakeOutcome,
) -> None:
    body = outbox_body(
        Receipt,
        job_id=job_id,
        status="rejected",
        reason=rejection.reason,
        message=rejection.message,
    )
    if rejection.remember and job_id is not None and signed_hash:
        store.jobs.reject(
            conn,
            job_id=job_id,
            content_hash=signed_hash,
            reason=rejection.reason.value,
            message=rejection.message,
        )
        store.jobs.set_receipt(conn, job_id, body)
    store.outbox.enqueue(conn, RECEIPTS, body)
    outcome.rejected.append((job_id, rejection.reason))
    outcome.receipts += 1


def _receipt_for_state(job_id: str, state: str) -> dict[str, Any]:
    """A receipt for a known job stored without one (taken by another path)."""
    if state == "rejected":
        return outbox_body(
            Receipt, job_id=job_id, status="rejected", reason="schema", message="rejected"
        )
    return outbox_body(Receipt, job_id=job_id, status="accepted")
