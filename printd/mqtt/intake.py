"""Job intake: check each job message, then commit jobs and receipts together.

No I/O but the store: the link hands over a batch of raw MQTT messages, this
module decides each one and writes every outcome (the job and its receipt in
the outbox) in ONE transaction. Only after that transaction commits does the
link send the PUBACKs. Several jobs per transaction is what makes a backlog of
thousands go in at thousands per second (one fsync per batch, not per job).

Checks, in order; the first that fails gives the rejection reason:

1. ``oversized``: the payload is larger than ``mqtt.max_job_bytes`` (checked
   before parsing anything).
2. ``malformed_json``: not UTF-8 JSON, or not a JSON object.
3. ``unknown_key`` / ``bad_signature`` / ``tampered``: see
   :class:`printd.signing.Verifier`. ``tampered`` is a well-formed signature by
   a known key that does not match the content (content or signature altered).
4. Duplicate or replay, by ``job_id`` (remembered forever): the same job_id
   with the same content (SHA-256 of the canonical bytes) is a *duplicate*
   (MQTT redelivery, a registry re-send) and is answered with the first
   receipt again, changing nothing. The same job_id with *different* signed
   content is ``replayed``: an id is never reused, whatever the content.
5. ``schema``: the signed content is not a valid job (v1).
6. ``expired``: ``not_after`` is past.
7. ``card_invalid``: the injected card validator found problems.
8. ``queue_full``: the station holds ``station.max_queue`` active jobs already
   (the registry ignored the credit); not remembered: send again later.

Rejections of messages whose signature did not verify (1-3) or that are not
jobs (5) are answered but *not remembered*: an unauthenticated message must
not be able to block a job id. Authenticated rejections (6, 7) are remembered
under the job id, so a re-send gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from printd.messages import JobMessage, Receipt, RejectReason, outbox_body
from printd.signing import SigningError, Verifier, canonical_bytes
from printd.store import DuplicateJob, Store

CardValidator = Callable[[JobMessage], list[str]]
RECEIPTS = "receipts"


def no_card_checks(job: JobMessage) -> list[str]:
    """The default card validator: every card is fine (until the renderer plugs in)."""
    return []


class Rejected(Exception):
    def __init__(self, reason: RejectReason, message: str, *, remember: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.remember = remember


@dataclass
class IntakeOutcome:
    """What one batch did (after its transaction committed)."""

    accepted: list[str] = field(default_factory=list)
    rejected: list[tuple[str | None, RejectReason]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    receipts: int = 0


@dataclass(frozen=True)
class _Checked:
    doc: dict[str, Any]
    content_hash: str
    key_id: str


class Intake:
    """Decides job messages and commits them with their receipts, a batch at a time."""

    def __init__(
        self,
        store: Store,
        verifier: Verifier,
        *,
        max_job_bytes: int,
        max_queue: int,
        card_validator: CardValidator = no_card_checks,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._verifier = verifier
        self._max_job_bytes = max_job_bytes
        self._max_queue = max_queue
        self._card_validator = card_validator
        self._clock = clock

    def process(self, payloads: Iterable[bytes]) -> IntakeOutcome:
        """Decide every payload and commit all outcomes in one transaction."""
        outcome = IntakeOutcome()
        active = self._store.jobs.active_count()
        now = self._clock()
        with self._store.transaction() as conn:
            for payload in payloads:
                self._one(conn, payload, now, active + len(outcome.accepted), outcome)
        return outcome

    def _one(
        self,
        conn: sqlite3.Connection,
        payload: bytes,
        now: datetime,
        active: int,
        outcome: IntakeOutcome,
    ) -> None:
        job_id: str | None = None
        signed_hash = ""
        try:
            doc = self._parse(payload)
            raw_id = doc.get("job_id")
            job_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 100 else None
            checked = self._authenticate(doc)
            signed_hash = checked.content_hash
            if job_id is not None:
                known = self._store.jobs.get(job_id, conn)
                if known is not None:
                    if known.content_hash != checked.content_hash:
                        raise Rejected(
                            RejectReason.REPLAYED,
                            f"job id {job_id} was already used for different content",
                        )
                    receipt = known.receipt or _receipt_for_state(job_id, known.state.value)
                    self._store.outbox.enqueue(conn, RECEIPTS, receipt)
                    outcome.duplicates.append(job_id)
                    outcome.receipts += 1
                    return
            job = self._validate(checked, now, active)
        except Rejected as rejection:
            self._reject(conn, job_id, signed_hash, rejection, outcome)
            return
        body = outbox_body(Receipt, job_id=job.job_id, status="accepted")
        try:
            self._store.jobs.accept(
                conn,
                job_id=job.job_id,
                priority=job.priority,
                not_after=job.not_after,
                payload=payload,
                content_hash=checked.content_hash,
                key_id=checked.key_id,
            )
        except DuplicateJob:  # pragma: no cover - the lookup above saw it first
            return
        self._store.jobs.set_receipt(conn, job.job_id, body)
        self._store.outbox.enqueue(conn, RECEIPTS, body)
        outcome.accepted.append(job.job_id)
        outcome.receipts += 1

    def _parse(self, payload: bytes) -> dict[str, Any]:
        if len(payload) > self._max_job_bytes:
            raise Rejected(
                RejectReason.OVERSIZED,
                f"message is {len(payload)} bytes; the limit is {self._max_job_bytes}",
            )
        try:
            doc = json.loads(payload)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Rejected(RejectReason.MALFORMED_JSON, f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise Rejected(RejectReason.MALFORMED_JSON, "not a JSON object")
        return doc

    def _authenticate(self, doc: dict[str, Any]) -> _Checked:
        try:
            canonical = canonical_bytes(doc)
            key_id = self._verifier.verify(doc, canonical)
        except SigningError as exc:
            raise Rejected(RejectReason(exc.reason), str(exc)) from None
        return _Checked(doc=doc, content_hash=hashlib.sha256(canonical).hexdigest(), key_id=key_id)

    def _validate(self, checked: _Checked, now: datetime, active: int) -> JobMessage:
        try:
            job = JobMessage.model_validate(checked.doc)
        except ValidationError as exc:
            raise Rejected(RejectReason.SCHEMA, _schema_message(exc)) from None
        if job.not_after <= now:
            raise Rejected(
                RejectReason.EXPIRED,
                f"not_after {job.not_after.isoformat()} is past",
                remember=True,
            )
        problems = self._card_validator(job)
        if problems:
            raise Rejected(RejectReason.CARD_INVALID, "; ".join(problems)[:1000], remember=True)
        if active >= self._max_queue:
            raise Rejected(
                RejectReason.QUEUE_FULL,
                f"the station holds {active} jobs (max_queue {self._max_queue}); send later",
            )
        return job

    def _reject(
        self,
        conn: sqlite3.Connection,
        job_id: str | None,
        signed_hash: str,
        rejection: Rejected,
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
            self._store.jobs.reject(
                conn,
                job_id=job_id,
                content_hash=signed_hash,
                reason=rejection.reason.value,
                message=rejection.message,
            )
            self._store.jobs.set_receipt(conn, job_id, body)
        self._store.outbox.enqueue(conn, RECEIPTS, body)
        outcome.rejected.append((job_id, rejection.reason))
        outcome.receipts += 1


def _receipt_for_state(job_id: str, state: str) -> dict[str, Any]:
    """A receipt for a known job stored without one (taken by another path)."""
    if state == "rejected":
        return outbox_body(
            Receipt, job_id=job_id, status="rejected", reason="schema", message="rejected"
        )
    return outbox_body(Receipt, job_id=job_id, status="accepted")


def _schema_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
