"""The wire models, outbound bodies and the published schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from printd.messages import (
    CommandMessage,
    JobMessage,
    Receipt,
    generated_files,
    outbox_body,
    parse_outbound,
    seal,
)
from printd.signing import Signer, Verifier

DOCS = Path(__file__).resolve().parents[2] / "docs"
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _job(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "v": 1,
        "type": "job",
        "job_id": "J-1",
        "issued_at": T0.isoformat(),
        "not_after": (T0 + timedelta(days=1)).isoformat(),
        "priority": "urgent",
        "card": {"kind": "template", "template": "ktp-v1", "fields": {"nik": "3521"}},
        "key_id": "reg",
        "sig": "x",
    }
    doc.update(over)
    return doc


def test_job_parses_and_rejects_bad_fields() -> None:
    """A job parses; unknown fields, bad priority and an inverted window are refused."""
    job = JobMessage.model_validate(_job())
    assert job.priority == "urgent"
    for bad in (
        _job(extra=1),
        _job(priority="now"),
        _job(v=2),
        _job(not_after=T0.isoformat()),
        _job(job_id="has space"),
    ):
        with pytest.raises(ValidationError):
            JobMessage.model_validate(bad)


def test_command_arguments_are_checked() -> None:
    """cancel needs a job id; other commands take none."""
    base = {
        "type": "command",
        "correlation_id": "c1",
        "station": "s1",
        "issued_at": T0.isoformat(),
        "not_after": (T0 + timedelta(minutes=5)).isoformat(),
        "key_id": "reg",
        "sig": "x",
    }
    assert CommandMessage.model_validate({**base, "command": "cancel", "job_id": "J"}).job_id
    with pytest.raises(ValidationError):
        CommandMessage.model_validate({**base, "command": "cancel"})
    with pytest.raises(ValidationError):
        CommandMessage.model_validate({**base, "command": "drain", "job_id": "J"})


def test_outbox_body_seal_and_parse_round_trip() -> None:
    """A body sealed by the station verifies with its key and parses back."""
    body = outbox_body(Receipt, job_id="J-1", status="rejected", reason="expired", message="m")
    assert "seq" not in body
    assert "sig" not in body
    signer = Signer.generate()
    raw = seal(body, station="s1", seq=7, signer=signer)
    doc = json.loads(raw)
    assert Verifier({signer.key_id: signer.public_key}).verify(doc) == signer.key_id
    parsed = parse_outbound(doc)
    assert isinstance(parsed, Receipt)
    assert parsed.seq == 7
    with pytest.raises(ValidationError):
        outbox_body(Receipt, job_id="J-1", status="rejected")


def test_result_bodies_by_outcome() -> None:
    """Results are a union by outcome: printed needs a serial, failed a reason."""
    body = outbox_body("result", job_id="J", outcome="printed", serial="B1", printer="p", at=T0)
    assert body["outcome"] == "printed"
    with pytest.raises(ValidationError):
        outbox_body("result", job_id="J", outcome="printed", at=T0, printer="p")


def test_published_schema_matches_models() -> None:
    """docs/schema/*.json and docs/asyncapi.yaml are what the models generate today."""
    for rel, text in generated_files().items():
        path = DOCS / rel
        assert path.exists(), f"missing {rel}: run python -m printd.messages --write docs"
        assert path.read_text(encoding="utf-8") == text, f"{rel} is stale: regenerate"
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert doc["asyncapi"] == "3.0.0"
    for message in doc["components"]["messages"].values():
        ref = message["payload"]["schema"]["$ref"]
        assert (DOCS / ref).exists()
