"""Everything intake decides about one job message without the store.

Pure CPU work (parsing, the signature, the schema, the card), so it can run in
check processes (:mod:`printd.mqtt.checkpool`) while the daemon's event loop
keeps the broker and the printers going. What needs the store (duplicates,
replays, queue room) is decided afterwards, in :mod:`printd.mqtt.intake`.

Checks, in order; the first that fails gives the rejection reason:

1. ``oversized``: the payload is larger than ``mqtt.max_job_bytes`` (checked
   before parsing anything).
2. ``malformed_json``: not UTF-8 JSON, or not a JSON object.
3. ``unknown_key`` / ``bad_signature`` / ``tampered``: see
   :class:`printd.signing.Verifier`.
4. ``schema``: the signed content is not a valid job (v1).
5. ``expired``: ``not_after`` is past.
6. ``card_invalid``: the card validator found problems.

A :class:`Verdict` carries the content hash only when the signature verified:
the store step uses it to tell a duplicate from a replay, and remembers only
authenticated rejections (5, 6), so an unauthenticated message can never
block a job id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from printd.messages import JobMessage, RejectReason
from printd.signing import SigningError, Verifier, canonical_bytes, load_raw_public

CardValidator = Callable[[JobMessage], list[str]]


def no_card_checks(job: JobMessage) -> list[str]:
    """The default card validator: every card is fine (until the renderer plugs in)."""
    return []


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    message: str
    remember: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the checks found; small and picklable (it crosses processes)."""

    job_id: str | None
    content_hash: str = ""  # SHA-256 of the canonical bytes, once the signature verified
    key_id: str = ""
    priority: str = "normal"
    not_after: datetime | None = None
    rejection: Rejection | None = None


class _Rejected(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def _reject(reason: RejectReason, message: str, *, remember: bool = False) -> _Rejected:
    return _Rejected(Rejection(reason, message, remember))


class JobChecker:
    def __init__(
        self, verifier: Verifier, *, max_job_bytes: int, card_validator: CardValidator
    ) -> None:
        self._verifier = verifier
        self._max_job_bytes = max_job_bytes
        self._card_validator = card_validator

    def check(self, payload: bytes, now: datetime) -> Verdict:
        job_id: str | None = None
        content_hash = key_id = ""
        try:
            doc = self._parse(payload)
            raw_id = doc.get("job_id")
            job_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 100 else None
            content_hash, key_id = self._authenticate(doc)
            job = self._validate(doc, now)
        except _Rejected as rejected:
            return Verdict(job_id, content_hash, key_id, rejection=rejected.rejection)
        return Verdict(job.job_id, content_hash, key_id, job.priority, job.not_after)

    def _parse(self, payload: bytes) -> dict[str, Any]:
        if len(payload) > self._max_job_bytes:
            raise _reject(
                RejectReason.OVERSIZED,
                f"message is {len(payload)} bytes; the limit is {self._max_job_bytes}",
            )
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise _reject(RejectReason.MALFORMED_JSON, f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _reject(RejectReason.MALFORMED_JSON, "not a JSON object")
        return doc

    def _authenticate(self, doc: dict[str, Any]) -> tuple[str, str]:
        try:
            canonical = canonical_bytes(doc)
            key_id = self._verifier.verify(doc, canonical)
        except SigningError as exc:
            raise _reject(RejectReason(exc.reason), str(exc)) from None
        return hashlib.sha256(canonical).hexdigest(), key_id

    def _validate(self, doc: dict[str, Any], now: datetime) -> JobMessage:
        try:
            job = JobMessage.model_validate(doc)
        except ValidationError as exc:
            raise _reject(RejectReason.SCHEMA, schema_message(exc)) from None
        if job.not_after <= now:
            past = f"not_after {job.not_after.isoformat()} is past"
            raise _reject(RejectReason.EXPIRED, past, remember=True)
        problems = self._card_validator(job)
        if problems:
            raise _reject(RejectReason.CARD_INVALID, "; ".join(problems)[:1000], remember=True)
        return job


@dataclass(frozen=True)
class CheckerSpec:
    """How to build a :class:`JobChecker` in another process: plain, picklable data.

    ``card_validator`` must be picklable too: a module-level function or an
    object such as :class:`printd.render.checks.CardChecker`.
    """

    registry_keys: Mapping[str, bytes]  # key id -> raw 32-byte Ed25519 public key
    max_job_bytes: int
    card_validator: CardValidator = no_card_checks

    def build(self) -> JobChecker:
        verifier = Verifier({k: load_raw_public(raw) for k, raw in self.registry_keys.items()})
        return JobChecker(
            verifier, max_job_bytes=self.max_job_bytes, card_validator=self.card_validator
        )


def schema_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
