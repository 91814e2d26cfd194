"""Every step of a job through a printer, each one a single transaction.

The store is the single source of truth: a job is marked ``printing`` and its
blank reserved before a byte goes to the printer, and each outcome (issued,
spoiled, not fed, unknown) is committed with its ledger event and its report
to the registry in one transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from printd import reports
from printd.store import JobRecord, JobState, LedgerError, Store
from printd.store.clock import utc_now
from printd.store.ledger import SpoilReason

STATION = "station"


@dataclass(frozen=True, slots=True)
class Claim:
    """A job handed to a printer, with the blank reserved for it."""

    job: JobRecord  # as claimed: printing on this printer
    printer: str
    serial: str

    @property
    def job_id(self) -> str:
        return self.job.job_id


def claim_next(store: Store, printer: str, now: datetime | None = None) -> Claim | None:
    """Take the next job for ``printer``: urgent first, then oldest; expired ones are reported.

    Returns None when nothing is queued or the printer has no free blank.
    """
    with store.transaction() as conn:
        return claim_next_in(store, conn, printer, now)


def claim_next_in(
    store: Store, conn: sqlite3.Connection, printer: str, now: datetime | None = None
) -> Claim | None:
    """:func:`claim_next` inside the caller's transaction."""
    now = now or utc_now()
    blank = store.ledger.next_blank_row(printer, conn)
    if blank is None:
        return None
    while (job := store.jobs.next_queued(conn)) is not None:
        if job.not_after <= now:
            _expire(store, conn, job)
            continue
        printing = store.jobs.transition(
            conn,
            job.job_id,
            JobState.PRINTING,
            STATION,
            expect=JobState.QUEUED,
            printer=printer,
            current=job,
        )
        serial = store.ledger.reserve(conn, printer, job.job_id, STATION, next_blank=blank)
        return Claim(printing, printer, serial)
    return None


def _expire(store: Store, conn: sqlite3.Connection, job: JobRecord) -> None:
    store.jobs.transition(conn, job.job_id, JobState.EXPIRED, STATION, reason="not_after passed")
    reports.result(store, conn, job.job_id, "expired", reason="not_after passed")


def expire_due(store: Store, now: datetime | None = None) -> list[str]:
    """Report every queued job whose not_after has passed, even with no printer free."""
    now = now or utc_now()
    expired = []
    with store.transaction() as conn:
        for job in store.jobs.queued_expiring(now, conn):
            _expire(store, conn, job)
            expired.append(job.job_id)
    return expired


def record_issued(store: Store, claim: Claim, seen_serial: str | None) -> str:
    """The card came out printed. Returns the serial issued.

    The printer may name the blank it fed (a chip UID lookup, a simulator);
    when that is another blank of the same feeder, the ledger follows the
    printer and the technician is told the feeder order differs.
    """
    with store.transaction() as conn:
        return record_issued_in(store, conn, claim, seen_serial)


def record_issued_in(
    store: Store, conn: sqlite3.Connection, claim: Claim, seen_serial: str | None
) -> str:
    """:func:`record_issued` inside the caller's transaction."""
    serial = claim.serial
    if seen_serial and seen_serial != claim.serial:
        row = store.ledger.blank(seen_serial)
        if row is not None and row["state"] == "loaded" and row["printer"] == claim.printer:
            store.ledger.release(conn, claim.serial, STATION, "printer fed another blank")
            serial = seen_serial
            reports.event(
                store,
                conn,
                "feeder_order_mismatch",
                f"{claim.printer} fed {seen_serial}, the ledger expected {claim.serial}; "
                "check the feeder order",
                severity="warning",
                printer=claim.printer,
                job_id=claim.job_id,
            )
    store.ledger.issue(conn, serial, claim.job_id, STATION)
    store.jobs.transition(
        conn,
        claim.job_id,
        JobState.PRINTED,
        STATION,
        expect=JobState.PRINTING,
        printer=claim.printer,
        blank_serial=serial,
        count_attempt=True,
        # As claimed; if anything moved the job since, the update says so.
        current=claim.job,
    )
    reports.result(store, conn, claim.job_id, "printed", blank_serial=serial, printer=claim.printer)
    return serial


def record_spoiled(
    store: Store,
    claim: Claim,
    reason: str,
    detail: str,
    max_attempts: int,
    extra_blanks: int = 0,
) -> JobState:
    """The card was spoiled: the blank (and any the printer fed with it) is recorded;
    the job goes back to the queue for another blank, or fails after its last attempt."""
    with store.transaction() as conn:
        return record_spoiled_in(store, conn, claim, reason, detail, max_attempts, extra_blanks)


def record_spoiled_in(
    store: Store,
    conn: sqlite3.Connection,
    claim: Claim,
    reason: str,
    detail: str,
    max_attempts: int,
    extra_blanks: int = 0,
) -> JobState:
    """:func:`record_spoiled` inside the caller's transaction."""
    try:
        reason = SpoilReason(reason).value
    except ValueError:
        detail = f"{reason}: {detail}".strip(": ")
        reason = SpoilReason.OTHER.value
    detail = detail or reason
    store.ledger.spoil(claim.serial, reason, STATION, detail=detail, job_id=claim.job_id, conn=conn)
    for _ in range(extra_blanks):
        extra = store.ledger.next_blank(claim.printer, conn)
        if extra is None:
            break
        store.ledger.spoil(
            extra,
            SpoilReason.MISFEED,
            STATION,
            detail="fed with another card",
            job_id=claim.job_id,
            conn=conn,
        )
    job = store.jobs.transition(
        conn,
        claim.job_id,
        JobState.PRINTING,
        STATION,
        expect=JobState.PRINTING,
        count_attempt=True,
        note=f"spoiled {claim.serial}: {reason}",
    )
    if job.attempts >= max_attempts:
        store.jobs.transition(
            conn,
            claim.job_id,
            JobState.FAILED,
            STATION,
            reason=reason,
            detail=f"{job.attempts} blank(s) spoiled",
        )
        reports.result(
            store,
            conn,
            claim.job_id,
            "failed",
            printer=claim.printer,
            reason=f"{reason}: {job.attempts} blank(s) spoiled",
        )
        return JobState.FAILED
    store.jobs.transition(
        conn,
        claim.job_id,
        JobState.QUEUED,
        STATION,
        note=f"retry on a new blank after {reason}",
    )
    return JobState.QUEUED


def record_not_fed(store: Store, claim: Claim, why: str) -> None:
    """Nothing left the feeder: the blank is free again and the job back in the queue."""
    with store.transaction() as conn:
        record_not_fed_in(store, conn, claim, why)


def record_not_fed_in(store: Store, conn: sqlite3.Connection, claim: Claim, why: str) -> None:
    """:func:`record_not_fed` inside the caller's transaction."""
    store.ledger.release(conn, claim.serial, STATION, why)
    store.jobs.transition(
        conn,
        claim.job_id,
        JobState.QUEUED,
        STATION,
        expect=JobState.PRINTING,
        note=f"not fed: {why}",
    )


def record_unknown(store: Store, claim: Claim, why: str) -> None:
    """The card's fate is unknown: never printed again automatically."""
    with store.transaction() as conn:
        record_unknown_in(store, conn, claim, why)


def record_unknown_in(store: Store, conn: sqlite3.Connection, claim: Claim, why: str) -> None:
    """:func:`record_unknown` inside the caller's transaction."""
    _to_inspection(store, conn, claim.job_id, claim.printer, why)


def _to_inspection(
    store: Store, conn: sqlite3.Connection, job_id: str, printer: str | None, why: str
) -> None:
    store.jobs.transition(
        conn,
        job_id,
        JobState.NEEDS_INSPECTION,
        STATION,
        expect=JobState.PRINTING,
        reason="needs_inspection",
        detail=why,
    )
    reports.result(
        store,
        conn,
        job_id,
        "needs_inspection",
        printer=printer,
        blank_serial=reserved_blank(store, job_id, conn),
    )
    reports.event(
        store,
        conn,
        "needs_inspection",
        f"job {job_id} on {printer}: {why}; look in the output tray and reject bin, then "
        f"`printd jobs resolve {job_id}`",
        severity="warning",
        printer=printer,
        job_id=job_id,
    )


def recover_after_crash(store: Store) -> list[str]:
    """At start-up: every card that was inside a printer when the process died
    goes to needs_inspection, never printed again automatically."""
    with store.transaction() as conn:
        stranded = store.jobs.in_state(JobState.PRINTING)
        for job in stranded:
            _to_inspection(
                store,
                conn,
                job.job_id,
                job.printer,
                "the station stopped while this card was in the printer",
            )
    return [job.job_id for job in stranded]


def reserved_blank(store: Store, job_id: str, conn: sqlite3.Connection | None = None) -> str | None:
    row = (
        (conn or store.conn)
        .execute("SELECT serial FROM blanks WHERE job_id = ? AND state = 'loaded'", (job_id,))
        .fetchone()
    )
    return None if row is None else str(row[0])


def inspections_on(store: Store, printer: str) -> list[str]:
    rows = store.conn.execute(
        "SELECT job_id FROM jobs WHERE state = 'needs_inspection' AND printer = ?", (printer,)
    )
    return [str(r[0]) for r in rows]


def resolve(
    store: Store,
    job_id: str,
    by: str,
    *,
    printed: str | None = None,
    spoiled: str | None = None,
    reason: str = SpoilReason.OTHER.value,
    detail: str = "",
    not_fed: bool = False,
    max_attempts: int = 3,
) -> JobState:
    """The technician says what came out of the printer for a card needing inspection.

    ``printed``: the card with this serial came out good; the job is done.
    ``spoiled``: this blank came out spoiled; the job prints again on a new blank.
    ``not_fed``: no card left the feeder; the job prints again.
    """
    if sum((printed is not None, spoiled is not None, not_fed)) != 1:
        raise LedgerError("say exactly one of --printed SERIAL, --spoiled SERIAL, --not-fed")
    with store.transaction() as conn:
        job = store.jobs.require(job_id, conn)
        if job.state is not JobState.NEEDS_INSPECTION:
            raise LedgerError(f"job {job_id} is {job.state.value}, not needs_inspection")
        reserved = reserved_blank(store, job_id, conn)
        note = "resolved by technician"
        if printed is not None:
            if reserved and reserved != printed:
                store.ledger.release(conn, reserved, by, f"technician found {printed} printed")
            store.ledger.issue(conn, printed, job_id, by)
            store.jobs.transition(
                conn,
                job_id,
                JobState.PRINTED,
                by,
                blank_serial=printed,
                count_attempt=True,
                note=note,
            )
            reports.inspection_resolved(store, conn, job_id, "printed", by, printed)
            return JobState.PRINTED
        if spoiled is not None:
            if reserved and reserved != spoiled:
                store.ledger.release(conn, reserved, by, f"technician found {spoiled} spoiled")
            store.ledger.spoil(
                spoiled,
                reason,
                by,
                detail=detail or "found after inspection",
                job_id=job_id,
                conn=conn,
            )
            job = store.jobs.transition(
                conn,
                job_id,
                JobState.NEEDS_INSPECTION,
                by,
                count_attempt=True,
                note=f"spoiled {spoiled}",
            )
            reports.inspection_resolved(store, conn, job_id, "spoiled", by, spoiled)
            if job.attempts >= max_attempts:
                store.jobs.transition(conn, job_id, JobState.FAILED, by, reason=reason)
                reports.result(
                    store,
                    conn,
                    job_id,
                    "failed",
                    reason=f"{reason}: {job.attempts} blank(s) spoiled",
                )
                return JobState.FAILED
        else:
            if reserved:
                store.ledger.release(conn, reserved, by, "technician: card was not fed")
            reports.inspection_resolved(store, conn, job_id, "not_printed", by)
        store.jobs.transition(conn, job_id, JobState.QUEUED, by, note=note)
        return JobState.QUEUED


def retry(store: Store, job_id: str, by: str) -> None:
    """A failed job goes back to the queue for a fresh set of attempts."""
    with store.transaction() as conn:
        store.jobs.transition(
            conn,
            job_id,
            JobState.QUEUED,
            by,
            expect=JobState.FAILED,
            note="retry requested by technician",
        )
        conn.execute("UPDATE jobs SET attempts = 0 WHERE job_id = ?", (job_id,))
        reports.event(
            store,
            conn,
            "job_requeued",
            f"failed job {job_id} queued again by {by}; its next result replaces the failure",
            job_id=job_id,
        )


def record_unprintable(store: Store, claim: Claim, why: str) -> None:
    """The job's card cannot be turned into printer panels: it fails, the blank stays unused."""
    with store.transaction() as conn:
        record_unprintable_in(store, conn, claim, why)


def record_unprintable_in(store: Store, conn: sqlite3.Connection, claim: Claim, why: str) -> None:
    """:func:`record_unprintable` inside the caller's transaction."""
    store.ledger.release(conn, claim.serial, STATION, "card could not be prepared")
    store.jobs.transition(
        conn, claim.job_id, JobState.FAILED, STATION, reason="unprintable", detail=why
    )
    reports.result(store, conn, claim.job_id, "failed", reason=f"unprintable: {why}")
