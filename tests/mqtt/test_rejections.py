"""Every rejection reason gets a receipt, changes nothing it must not, and the link keeps going."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from brokers import MosquittoBroker
from harness import (
    eventually,
    factory,
    make_keys,
    registry_for,
    running_station,
    station_settings,
)

from printd.messages import JobMessage
from printd.signing import Signer
from printd.store import JobState

TOPIC = "printd/v1/st-1/jobs"


def _only_bad_template(job: JobMessage) -> list[str]:
    if job.card.kind == "template" and job.card.template == "no-such-template":
        return ["unknown template 'no-such-template'"]
    return []


async def test_each_rejection_reason_is_receipted(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Malformed, oversized, schema, unknown key, bad signature, tampered, expired, replayed,
    card-invalid messages are each rejected with their reason; a good job still goes in."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys, max_job_bytes=100_000)
    jobs = factory(keys)
    now = datetime.now(UTC)

    def signed(doc: dict[str, Any], signer: Signer | None = None) -> bytes:
        return (signer or keys.registry).sign_bytes(doc)

    cases: dict[str, tuple[str | None, bytes]] = {}
    cases["malformed_json"] = (None, b"{this is not json")
    cases["oversized"] = (None, b"x" * 150_000)
    doc = jobs.job_doc(job_id="SCHEMA-1")
    cases["schema"] = ("SCHEMA-1", signed({**doc, "priority": "whenever"}))
    doc = jobs.job_doc(job_id="UNKNOWN-KEY-1")
    cases["unknown_key"] = ("UNKNOWN-KEY-1", signed(doc, Signer.generate("stranger")))
    doc = keys.registry.sign(jobs.job_doc(job_id="BAD-SIG-1"))
    cases["bad_signature"] = ("BAD-SIG-1", json.dumps({**doc, "sig": "AAAA"}).encode())
    doc = keys.registry.sign(jobs.job_doc(job_id="TAMPERED-1"))
    doc["card"]["fields"]["name"] = "SOMEONE ELSE"
    cases["tampered"] = ("TAMPERED-1", json.dumps(doc).encode())
    doc = jobs.job_doc(job_id="EXPIRED-1", now=now - timedelta(days=30))
    cases["expired"] = ("EXPIRED-1", signed(doc))
    doc = jobs.job_doc(job_id="CARD-1")
    doc["card"]["template"] = "no-such-template"
    cases["card_invalid"] = ("CARD-1", signed(doc))
    # Valid JSON with no canonical form: a lone surrogate, an integer beyond 64 bits.
    surrogate = b'{"type": "job", "job_id": "SURROGATE-1", "name": "\\ud800"}'
    doc = keys.registry.sign(jobs.job_doc(job_id="BIG-INT-1"))
    big_int = json.dumps({**doc, "copies": 2**70}).encode()
    original = jobs.job_doc(job_id="REPLAY-1")
    replay = {**original, "priority": "urgent" if original["priority"] == "normal" else "normal"}
    good_id, good = jobs.make(job_id="GOOD-1")

    async with (
        running_station(settings, keys, card_validator=_only_bad_template) as station,
        registry_for(broker, keys) as registry,
    ):
        await registry.publish_raw(TOPIC, signed(original))
        assert await eventually(lambda: "REPLAY-1" in registry.receipts)
        for _, payload in cases.values():
            await registry.publish_raw(TOPIC, payload)
        await registry.publish_raw(TOPIC, surrogate)
        await registry.publish_raw(TOPIC, big_int)
        await registry.publish_raw(TOPIC, signed(replay))
        await registry.publish_raw(TOPIC, good)
        assert await eventually(lambda: good_id in registry.receipts)

        def reasons(job_id: str | None) -> list[str]:
            return [str(r.get("reason")) for r in registry.receipts.get(str(job_id), [])]

        for reason, (job_id, _) in cases.items():
            assert reason in reasons(job_id), (reason, reasons(job_id))
        assert sorted(reasons(None)) == ["malformed_json", "malformed_json", "oversized"]
        assert reasons("BIG-INT-1") == ["bad_signature"]
        assert reasons("REPLAY-1") == ["None", "replayed"]
        assert registry.receipts[good_id][0]["status"] == "accepted"
        # Unauthenticated rejections are not remembered; authenticated ones are.
        for job_id in ("SCHEMA-1", "UNKNOWN-KEY-1", "BAD-SIG-1", "TAMPERED-1"):
            assert station.store.jobs.get(job_id) is None
        for job_id in ("EXPIRED-1", "CARD-1"):
            record = station.store.jobs.get(job_id)
            assert record is not None
            assert record.state == JobState.REJECTED
        replayed = station.store.jobs.get("REPLAY-1")
        assert replayed is not None
        assert replayed.priority == original["priority"]
        assert station.accepted == ["REPLAY-1", good_id]
        assert registry.report([]).bad_signatures == 0


async def test_full_queue_rejects_until_room(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Beyond station.max_queue a job is refused with queue_full and not remembered."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    settings = settings.model_copy(
        update={"station": settings.station.model_copy(update={"max_queue": 2})}
    )
    (a, pa), (b, pb), (c, pc) = factory(keys).many(3)
    async with running_station(settings, keys) as station, registry_for(broker, keys) as registry:
        for payload in (pa, pb, pc):
            await registry.publish_raw(TOPIC, payload)
        assert await eventually(lambda: c in registry.receipts)
        assert registry.receipts[c][0]["reason"] == "queue_full"
        assert station.store.jobs.get(c) is None
        assert sorted(station.accepted) == sorted([a, b])


async def test_duplicates_get_the_first_receipt(broker: MosquittoBroker, tmp_path: Path) -> None:
    """A job sent again is answered with its first receipt (accepted or rejected), stored once."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys)
    job_id, payload = jobs.make()
    old = jobs.job_doc(job_id="OLD-1", now=datetime.now(UTC) - timedelta(days=30))
    old_payload = keys.registry.sign_bytes(old)
    async with running_station(settings, keys) as station, registry_for(broker, keys) as registry:
        for _ in range(3):
            await registry.publish_raw(TOPIC, payload)
            await registry.publish_raw(TOPIC, old_payload)
        assert await eventually(
            lambda: len(registry.receipts[job_id]) == 3 and len(registry.receipts["OLD-1"]) == 3
        )
        firsts = {
            json.dumps({k: v for k, v in r.items() if k not in ("seq", "sig")})
            for r in registry.receipts[job_id]
        }
        assert len(firsts) == 1
        assert registry.receipts[job_id][0]["status"] == "accepted"
        assert {r["reason"] for r in registry.receipts["OLD-1"]} == {"expired"}
        assert station.accepted == [job_id]
        assert len({r["seq"] for r in registry.receipts[job_id]}) == 3
