"""Print jobs and their state machine.

``queued -> printing -> printed | failed | queued | needs_inspection``;
``queued -> cancelled | expired``; ``needs_inspection -> printed | queued |
failed``; ``failed -> queued`` (a technician's retry). ``rejected`` jobs are
remembered only so a re-send gets its first receipt again. A job id is never
forgotten, so a job is never taken twice.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from printd.store.clock import parse_stamp, stamp


class JobState(enum.StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NEEDS_INSPECTION = "needs_inspection"
    REJECTED = "rejected"


TERMINAL = frozenset(
    {JobState.PRINTED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED, JobState.REJECTED}
)

ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.RECEIVED: frozenset({JobState.QUEUED, JobState.REJECTED}),
    JobState.QUEUED: frozenset(
        {JobState.PRINTING, JobState.CANCELLED, JobState.EXPIRED, JobState.FAILED}
    ),
    JobState.PRINTING: frozenset(
        {JobState.PRINTED, JobState.FAILED, JobState.QUEUED, JobState.NEEDS_INSPECTION}
    ),
    JobState.NEEDS_INSPECTION: frozenset(
        {JobState.PRINTED, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.PRINTED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.EXPIRED: frozenset(),
    JobState.REJECTED: frozenset(),
}

PRIORITIES = {"urgent": 0, "normal": 1}
PRIORITY_NAMES = {number: name for name, number in PRIORITIES.items()}


class JobError(Exception):
    """A job operation that is not allowed; nothing was changed."""


class DuplicateJob(JobError):
    """The job id is already known (it is never taken twice)."""


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    state: JobState
    priority: str
    not_after: datetime
    received_at: datetime
    updated_at: datetime
    content_hash: str
    key_id: str
    receipt: dict[str, Any] | None
    printer: str | None
    attempts: int
    blank_serial: str | None
    reason: str | None
    detail: str | None
    has_payload: bool

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        return cls(
            job_id=row["job_id"],
            state=JobState(row["state"]),
            priority=PRIORITY_NAMES.get(row["priority"], "normal"),
            not_after=parse_stamp(row["not_after"]),
            received_at=parse_stamp(row["received_at"]),
            updated_at=parse_stamp(row["updated_at"]),
            content_hash=row["content_hash"],
            key_id=row["key_id"],
            receipt=json.loads(row["receipt"]) if row["receipt"] else None,
            printer=row["printer"],
            attempts=row["attempts"],
            blank_serial=row["blank_serial"],
            reason=row["reason"],
            detail=row["detail"],
            has_payload=bool(row["has_payload"]),
        )


_SELECT = (
    "SELECT job_id, state, priority, not_after, received_at, updated_at, content_hash, key_id, "
    "receipt, printer, attempts, blank_serial, reason, detail, "
    "EXISTS (SELECT 1 FROM job_payloads p WHERE p.id = jobs.id) AS has_payload "
    "FROM jobs"
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One blank tried for a job, from the job's history."""

    at: str
    printer: str | None
    blank_serial: str | None
    to_state: str
    note: str | None


def payload_of(conn: sqlite3.Connection, job_id: str) -> bytes | None:
    """A job's message as received, or None once purged (or for an unknown job).

    Also run by the card-encoding workers, each on a read-only connection of
    its own (see :mod:`printd.pipeline.encoding`).
    """
    row = conn.execute(
        "SELECT p.payload FROM jobs JOIN job_payloads p ON p.id = jobs.id WHERE job_id = ?",
        (job_id,),
    ).fetchone()
    return None if row is None else bytes(row[0])


class Jobs:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, job_id: str, conn: sqlite3.Connection | None = None) -> JobRecord | None:
        row = (conn or self._conn).execute(f"{_SELECT} WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else JobRecord.from_row(row)

    def require(self, job_id: str, conn: sqlite3.Connection | None = None) -> JobRecord:
        job = self.get(job_id, conn)
        if job is None:
            raise JobError(f"no job {job_id}")
        return job

    def payload(self, job_id: str) -> bytes | None:
        return payload_of(self._conn, job_id)

    def accept(
        self,
        conn: sqlite3.Connection,
        *,
        job_id: str,
        priority: str,
        not_after: datetime,
        payload: bytes,
        content_hash: str,
        key_id: str,
        by: str = "registry",
        receipt: dict[str, Any] | None = None,
    ) -> None:
        """Queue a job; ``receipt``, when given, is stored with it in the same write."""
        if priority not in PRIORITIES:
            raise JobError(f"unknown priority {priority!r}")
        now = stamp()
        try:
            cursor = conn.execute(
                "INSERT INTO jobs (job_id, state, priority, not_after, received_at, updated_at, "
                "content_hash, key_id, receipt) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    PRIORITIES[priority],
                    stamp(not_after),
                    now,
                    now,
                    content_hash,
                    key_id,
                    None if receipt is None else _receipt_text(receipt),
                ),
            )
        except sqlite3.IntegrityError:
            raise DuplicateJob(f"job {job_id} is already known") from None
        conn.execute(
            "INSERT INTO job_payloads (id, payload) VALUES (?, ?)", (cursor.lastrowid, payload)
        )
        self._history(conn, job_id, None, JobState.QUEUED, by, now=now)

    def reject(
        self, conn: sqlite3.Connection, *, job_id: str, content_hash: str, reason: str, message: str
    ) -> None:
        now = stamp()
        try:
            conn.execute(
                "INSERT INTO jobs (job_id, state, priority, not_after, received_at, updated_at, "
                "content_hash, reason, detail) VALUES (?, 'rejected', 1, ?, ?, ?, ?, ?, ?)",
                (job_id, now, now, now, content_hash, reason, message),
            )
        except sqlite3.IntegrityError:
            raise DuplicateJob(f"job {job_id} is already known") from None
        self._history(conn, job_id, None, JobState.REJECTED, "registry", note=reason, now=now)

    def set_receipt(self, conn: sqlite3.Connection, job_id: str, receipt: dict[str, Any]) -> None:
        conn.execute(
            "UPDATE jobs SET receipt = ? WHERE job_id = ?", (_receipt_text(receipt), job_id)
        )

    def transition(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        to: JobState,
        by: str,
        *,
        expect: JobState | frozenset[JobState] | None = None,
        printer: str | None = None,
        blank_serial: str | None = None,
        reason: str | None = None,
        detail: str | None = None,
        count_attempt: bool = False,
        note: str | None = None,
        current: JobRecord | None = None,
    ) -> JobRecord:
        """Move a job to ``to``, recorded in its history; the job as it is now.

        ``current``: the job as the caller last saw it, which saves reading it
        again. The update then applies only while the job is still in that
        state: if it moved on meanwhile, :class:`JobError` says so and nothing
        is written.
        """
        job = current if current is not None else self.require(job_id, conn)
        if expect is not None:
            wanted = expect if isinstance(expect, frozenset) else frozenset({expect})
            if job.state not in wanted:
                names = " or ".join(sorted(state.value for state in wanted))
                raise JobError(f"job {job_id} is {job.state.value}, not {names}")
        if to is not job.state and to not in ALLOWED[job.state]:
            raise JobError(f"job {job_id} cannot go from {job.state.value} to {to.value}")
        now = stamp()
        finished = now if to in TERMINAL else None
        updated = conn.execute(
            "UPDATE jobs SET state = ?, updated_at = ?, printer = coalesce(?, printer), "
            "blank_serial = coalesce(?, blank_serial), reason = coalesce(?, reason), "
            "detail = coalesce(?, detail), attempts = attempts + ?, finished_at = ? "
            "WHERE job_id = ? AND state = ?",
            (
                to.value,
                now,
                printer,
                blank_serial,
                reason,
                detail,
                int(count_attempt),
                finished,
                job_id,
                job.state.value,
            ),
        )
        if updated.rowcount != 1:
            now_is = self.require(job_id, conn).state.value
            raise JobError(f"job {job_id} is {now_is} now, no longer {job.state.value}")
        self._history(
            conn,
            job_id,
            job.state,
            to,
            by,
            printer=printer,
            blank_serial=blank_serial,
            note=note or reason,
            now=now,
        )
        # What the UPDATE above wrote, without reading the row back.
        return replace(
            job,
            state=to,
            updated_at=parse_stamp(now),
            printer=job.printer if printer is None else printer,
            blank_serial=job.blank_serial if blank_serial is None else blank_serial,
            reason=job.reason if reason is None else reason,
            detail=job.detail if detail is None else detail,
            attempts=job.attempts + int(count_attempt),
        )

    def _history(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        from_state: JobState | None,
        to: JobState,
        by: str,
        *,
        printer: str | None = None,
        blank_serial: str | None = None,
        note: str | None = None,
        now: str,
    ) -> None:
        conn.execute(
            "INSERT INTO job_history (job_id, at, from_state, to_state, by, printer, blank_serial, "
            "note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                now,
                from_state.value if from_state else None,
                to.value,
                by,
                printer,
                blank_serial,
                note,
            ),
        )

    def history(self, job_id: str) -> list[Attempt]:
        rows = self._conn.execute(
            "SELECT at, printer, blank_serial, to_state, note FROM job_history WHERE job_id = ? "
            "ORDER BY id",
            (job_id,),
        )
        return [Attempt(*row) for row in rows]

    def next_queued(
        self, conn: sqlite3.Connection | None = None, *, skip: tuple[str, ...] = ()
    ) -> JobRecord | None:
        """Urgent before normal, then oldest first."""
        marks = ",".join("?" * len(skip))
        extra = f" AND job_id NOT IN ({marks})" if skip else ""
        row = (
            (conn or self._conn)
            .execute(f"{_SELECT} WHERE state = 'queued'{extra} ORDER BY priority, id LIMIT 1", skip)
            .fetchone()
        )
        return None if row is None else JobRecord.from_row(row)

    def listing(
        self, states: tuple[JobState, ...] = (), limit: int = 50, offset: int = 0
    ) -> list[JobRecord]:
        where = ""
        args: list[Any] = []
        if states:
            where = f" WHERE state IN ({','.join('?' * len(states))})"
            args.extend(s.value for s in states)
        rows = self._conn.execute(
            f"{_SELECT}{where} ORDER BY priority, id LIMIT ? OFFSET ?", (*args, limit, offset)
        )
        return [JobRecord.from_row(r) for r in rows]

    def queued_ids(self, limit: int) -> list[str]:
        """The ids of the next ``limit`` queued jobs, in queue order (an index walk)."""
        rows = self._conn.execute(
            "SELECT job_id FROM jobs WHERE state = 'queued' ORDER BY priority, id LIMIT ?",
            (limit,),
        )
        return [row[0] for row in rows]

    def in_state(self, state: JobState) -> list[JobRecord]:
        rows = self._conn.execute(f"{_SELECT} WHERE state = ? ORDER BY id", (state.value,))
        return [JobRecord.from_row(r) for r in rows]

    def queued_expiring(
        self, now: datetime, conn: sqlite3.Connection | None = None
    ) -> list[JobRecord]:
        """Queued jobs whose not_after has passed (found in SQL: the queue may be huge)."""
        rows = (conn or self._conn).execute(
            f"{_SELECT} WHERE state = 'queued' AND not_after <= ? ORDER BY id", (stamp(now),)
        )
        return [JobRecord.from_row(r) for r in rows]

    def count_by_state(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT state, count(*) FROM jobs GROUP BY state")
        return {str(r[0]): int(r[1]) for r in rows}

    def queued_by_priority(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT priority, count(*) FROM jobs WHERE state = 'queued' GROUP BY priority"
        )
        return {PRIORITY_NAMES.get(r[0], "normal"): int(r[1]) for r in rows}

    def active_count(self, up_to: int | None = None) -> int:
        """Jobs queued or printing; with ``up_to``, counting stops there."""
        return self._count("state IN ('queued', 'printing')", up_to)

    def queued_count(self, up_to: int | None = None) -> int:
        """Jobs queued; with ``up_to``, counting stops there."""
        return self._count("state = 'queued'", up_to)

    def _count(self, where: str, up_to: int | None) -> int:
        # A count walks every matching index entry: with a backlog of 100,000
        # jobs that is milliseconds. Callers that only compare the count with a
        # bound ask for no more than the bound.
        if up_to is None:
            row = self._conn.execute(f"SELECT count(*) FROM jobs WHERE {where}").fetchone()
        else:
            row = self._conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM jobs WHERE {where} LIMIT ?)",
                (max(0, up_to),),
            ).fetchone()
        return int(row[0])

    def purge_payloads(self, conn: sqlite3.Connection, older_than: datetime) -> int:
        """Drop photos and names of finished, reported jobs past the retention window."""
        purged = [
            row[0]
            for row in conn.execute(
                "SELECT jobs.id FROM jobs JOIN job_payloads p ON p.id = jobs.id "
                "WHERE state IN ('printed', 'failed', 'cancelled', 'expired', 'rejected') "
                "AND finished_at IS NOT NULL AND finished_at < ? "
                "AND (result_seq IS NULL OR result_seq < "
                "(SELECT coalesce(min(seq), 9223372036854775807) FROM outbox "
                "WHERE sent_at IS NULL))",
                (stamp(older_than),),
            )
        ]
        now = stamp()
        conn.executemany("DELETE FROM job_payloads WHERE id = ?", ((i,) for i in purged))
        conn.executemany("UPDATE jobs SET purged_at = ? WHERE id = ?", ((now, i) for i in purged))
        return len(purged)


def _receipt_text(receipt: dict[str, Any]) -> str:
    return json.dumps(receipt, separators=(",", ":"), sort_keys=True)
