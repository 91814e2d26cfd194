"""The wire contract between the registry and a station: every MQTT message.

All messages are JSON objects with ``"v": 1`` and a ``type``. Each is signed
(:mod:`printd.signing`): the registry signs jobs and commands with its keys;
the station signs everything it publishes with its own key.

Inbound (registry -> station): :class:`JobMessage`, :class:`CommandMessage`.

Outbound (station -> registry): :class:`Receipt`, :class:`Result`,
:class:`Event`, :class:`Inventory` and :class:`CommandReply` go through the
station's durable outbox and carry ``seq``, the station's gapless, increasing
sequence number, so the registry can spot gaps and drop duplicates.
:class:`Status` and :class:`Credit` are live state, published directly and
retained; they carry ``seq: null``.

Station code builds an outbound message *body* with :func:`outbox_body` (no
envelope) and queues it; the outbox flusher adds ``station``, ``seq``,
``key_id`` and ``sig`` at publish time (:func:`seal`).

Regenerate the published schema with ``python -m printd.messages --write docs``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from printd.card import CardSpec, ChipData
from printd.signing import Signer

VERSION = 1
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"

JobId = Annotated[str, Field(pattern=_ID, description="The registry's job id, unique forever.")]
Priority = Literal["urgent", "normal"]
CommandName = Literal["cancel", "pause", "resume", "drain", "inventory", "resend"]
COMMAND_NAMES: tuple[CommandName, ...] = (
    "cancel",
    "pause",
    "resume",
    "drain",
    "inventory",
    "resend",
)


class RejectReason(StrEnum):
    """Why a job or command was rejected; carried in receipts and replies."""

    MALFORMED_JSON = "malformed_json"
    SCHEMA = "schema"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    TAMPERED = "tampered"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    OVERSIZED = "oversized"
    CARD_INVALID = "card_invalid"
    QUEUE_FULL = "queue_full"
    WRONG_STATION = "wrong_station"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = Field(default=1, description="Protocol version.")


class _Signed(_Message):
    key_id: str = Field(min_length=1, max_length=100, description="Id of the signing key.")
    sig: str = Field(description="Ed25519 signature of the canonical bytes, base64.")


class _Outbound(_Signed):
    station: str = Field(description="Id of the station that sent this.")
    seq: int | None = Field(
        ge=1,
        description="Station sequence number: gapless and increasing across everything "
        "the outbox sends (receipts, results, events, inventory, replies); null for "
        "live state (status, credit).",
    )


# ---------------------------------------------------------------- inbound


class JobMessage(_Signed):
    """An approved print job (topic ``{root}/{station}/jobs`` or a pool's jobs)."""

    type: Literal["job"] = "job"
    job_id: JobId
    issued_at: AwareDatetime = Field(description="When the registry approved the job.")
    not_after: AwareDatetime = Field(description="Not to be printed after this instant.")
    priority: Priority = "normal"
    card: CardSpec
    chip: ChipData | None = None

    @model_validator(mode="after")
    def _window(self) -> JobMessage:
        if self.not_after <= self.issued_at:
            raise ValueError("not_after must be later than issued_at")
        return self


class CommandMessage(_Signed):
    """An operator command from the registry (topic ``{root}/{station}/cmd/{command}``).

    ``cancel`` needs ``job_id``; ``pause``/``resume`` take an optional ``printer``
    (none: the whole station); ``resend`` needs ``from_seq`` and sends again
    every message from that sequence number on that the station still keeps
    (``mqtt.keep_sent_h``), for a registry that found a gap. Commands are
    signed like jobs, addressed to one station, and valid until ``not_after``.
    """

    type: Literal["command"] = "command"
    command: CommandName
    correlation_id: str = Field(pattern=_ID, description="Echoed in the reply.")
    station: str = Field(description="The station the command is for.")
    issued_at: AwareDatetime
    not_after: AwareDatetime
    job_id: JobId | None = None
    printer: str | None = None
    reason: str | None = Field(default=None, max_length=500)
    from_seq: int | None = Field(default=None, ge=1, description="resend: the first seq wanted.")

    @model_validator(mode="after")
    def _arguments(self) -> CommandMessage:
        if self.command == "cancel" and self.job_id is None:
            raise ValueError("cancel needs job_id")
        if (self.command == "resend") != (self.from_seq is not None):
            raise ValueError("resend needs from_seq, and only resend takes it")
        if self.command != "cancel" and self.job_id is not None:
            raise ValueError(f"{self.command} takes no job_id")
        if self.printer is not None and self.command not in ("pause", "resume"):
            raise ValueError(f"{self.command} takes no printer")
        return self


# ---------------------------------------------------------------- outbound


class Receipt(_Outbound):
    """The station's answer to a job: accepted (committed) or rejected (never printed).

    A duplicate (same ``job_id``, same content) is answered with the first receipt.
    ``job_id`` is null only when it could not be read from the message.
    """

    type: Literal["receipt"] = "receipt"
    job_id: str | None
    status: Literal["accepted", "rejected"]
    reason: RejectReason | None = None
    message: str | None = Field(default=None, description="Human-readable explanation.")

    @model_validator(mode="after")
    def _reason_iff_rejected(self) -> Receipt:
        if (self.status == "rejected") != (self.reason is not None):
            raise ValueError("a rejected receipt has a reason, an accepted one has none")
        return self


class SpoiledBlank(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    serial: str | None = Field(description="Blank serial; null if the printer could not read it.")
    reason: str


class _ResultBase(_Outbound):
    type: Literal["result"] = "result"
    job_id: JobId
    at: AwareDatetime
    spoiled: list[SpoiledBlank] = Field(
        default_factory=list, description="Every blank spoiled while trying this job."
    )


class PrintedResult(_ResultBase):
    outcome: Literal["printed"] = "printed"
    serial: str = Field(description="Serial of the blank that became this card.")
    printer: str


class FailedResult(_ResultBase):
    outcome: Literal["failed"] = "failed"
    reason: str


class ExpiredResult(_ResultBase):
    outcome: Literal["expired"] = "expired"


class CancelledResult(_ResultBase):
    outcome: Literal["cancelled"] = "cancelled"
    correlation_id: str | None = None


class NeedsInspectionResult(_ResultBase):
    """The printer held a card when the station lost track; a technician will say."""

    outcome: Literal["needs_inspection"] = "needs_inspection"
    printer: str
    serial: str | None = None


class InspectionResolvedResult(_ResultBase):
    """A technician's finding for a job that needed inspection."""

    outcome: Literal["inspection_resolved"] = "inspection_resolved"
    resolution: Literal["printed", "spoiled", "not_printed"]
    serial: str | None = None
    by: str


Result = Annotated[
    PrintedResult
    | FailedResult
    | ExpiredResult
    | CancelledResult
    | NeedsInspectionResult
    | InspectionResolvedResult,
    Field(discriminator="outcome"),
]


class Event(_Outbound):
    """Something a technician or the registry may want to know (jam, low stock, ...)."""

    type: Literal["event"] = "event"
    at: AwareDatetime
    kind: str = Field(max_length=64, description="e.g. printer_fault, low_stock, ribbon_low.")
    severity: Literal["info", "warning", "error"] = "info"
    printer: str | None = None
    message: str = Field(max_length=1000)
    data: dict[str, str | int | bool | None] = Field(default_factory=dict)


class PrinterState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: str = Field(description="ready, busy, cover_open, jam, ribbon_out, offline, ...")
    paused: bool = False


class Status(_Outbound):
    """Retained on ``{root}/{station}/status``; the last will says ``offline``."""

    type: Literal["status"] = "status"
    state: Literal["online", "offline", "paused", "draining"]
    at: AwareDatetime
    printers: list[PrinterState] = Field(default_factory=list)
    queued: int | None = Field(default=None, ge=0)


class BatchStock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batch: str
    in_stock: int = Field(ge=0)
    loaded: int = Field(ge=0)


class PrinterStock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    printer: str
    loaded: int = Field(ge=0, description="Blanks in this printer's feeder.")
    ribbon_prints_left: int | None = Field(default=None, ge=0)


class Inventory(_Outbound):
    """Retained on ``{root}/{station}/inventory``: blank stock and ribbons."""

    type: Literal["inventory"] = "inventory"
    at: AwareDatetime
    batches: list[BatchStock]
    printers: list[PrinterStock]


class Credit(_Outbound):
    """Retained on ``{root}/{station}/credit``: how many more jobs the station takes now."""

    type: Literal["credit"] = "credit"
    at: AwareDatetime
    credit: int = Field(ge=0, description="Jobs the registry may send now, beyond those sent.")


class CommandReply(_Outbound):
    """The answer to a command, on ``{root}/{station}/replies``."""

    type: Literal["reply"] = "reply"
    correlation_id: str | None
    command: CommandName | None
    ok: bool
    reason: RejectReason | None = Field(
        default=None, description="Set when the command was refused before it ran."
    )
    message: str | None = None
    data: dict[str, str | int | bool | None] = Field(default_factory=dict)


OUTBOUND_TYPES: dict[str, type[_Outbound]] = {
    "receipt": Receipt,
    "event": Event,
    "status": Status,
    "inventory": Inventory,
    "credit": Credit,
    "reply": CommandReply,
}
_ENVELOPE = ("station", "seq", "key_id", "sig")
_PLACEHOLDER = {"station": "x", "seq": 1, "key_id": "x", "sig": ""}
_result_adapter: TypeAdapter[Any] = TypeAdapter(Result)


def outbox_body(type_: type[_Outbound] | Literal["result"], **fields: Any) -> dict[str, Any]:
    """Validate an outbound message without its envelope; return the JSON body to queue.

    ``outbox_body(Receipt, job_id="J1", status="accepted")``;
    ``outbox_body("result", outcome="printed", job_id=..., ...)``.
    """
    data = {**fields, **_PLACEHOLDER}
    model: BaseModel
    if isinstance(type_, str):
        model = _result_adapter.validate_python(data)
    else:
        model = type_.model_validate(data)
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return {k: v for k, v in dumped.items() if k not in _ENVELOPE}


def seal(body: Mapping[str, Any], *, station: str, seq: int | None, signer: Signer) -> bytes:
    """Add the envelope to a body and sign it: the bytes to publish."""
    return signer.sign_bytes({**body, "station": station, "seq": seq})


def parse_outbound(doc: Mapping[str, Any]) -> BaseModel:
    """Validate a station message by its ``type`` (for the registry side and tests)."""
    kind = doc.get("type")
    if kind == "result":
        parsed: BaseModel = _result_adapter.validate_python(doc)
        return parsed
    cls = OUTBOUND_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown message type {kind!r}")
    return cls.model_validate(doc)


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- published schema

SCHEMAS: dict[str, Any] = {
    "job": JobMessage,
    "command": CommandMessage,
    "receipt": Receipt,
    "result": Result,
    "event": Event,
    "status": Status,
    "inventory": Inventory,
    "credit": Credit,
    "reply": CommandReply,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every message, by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in SCHEMAS.items():
        schema = TypeAdapter(model).json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://printd.example/schema/v1/{name}.json"
        schema.setdefault("title", name)
        out[name] = schema
    return out


def generated_files() -> dict[str, str]:
    """Every generated doc file (relative to ``docs/``) and its exact content."""
    from printd.mqtt.asyncapi import asyncapi_yaml

    files = {
        f"schema/{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }
    files["asyncapi.yaml"] = asyncapi_yaml()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m printd.messages")
    parser.add_argument("--write", type=Path, metavar="DOCS_DIR", help="write schema + asyncapi")
    parser.add_argument("--check", type=Path, metavar="DOCS_DIR", help="exit 1 if out of date")
    args = parser.parse_args(argv)
    files = generated_files()
    if args.write:
        for rel, text in files.items():
            path = args.write / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        print(f"wrote {len(files)} files under {args.write}")
        return 0
    if args.check:
        stale = [
            rel
            for rel, text in files.items()
            if not (args.check / rel).exists()
            or (args.check / rel).read_text(encoding="utf-8") != text
        ]
        for rel in stale:
            print(f"out of date: {args.check / rel}", file=sys.stderr)
        return 1 if stale else 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
