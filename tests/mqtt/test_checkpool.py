"""Intake's check processes: the same verdicts as checking in-process, niced, crash-proof."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from harness import factory, make_keys

from printd.messages import JobMessage, RejectReason
from printd.mqtt.checkpool import WORKER_NICE, CheckPool
from printd.mqtt.checks import CheckerSpec, Verdict
from printd.render import CardChecker

CRASH_JOB = "CRASH-1"


def _crash_on_marked_job(job: JobMessage) -> list[str]:
    """Dies like a worker killed mid-check (out of memory, a crash in an image library)."""
    if job.job_id == CRASH_JOB:
        os._exit(3)
    return []


def _report_niceness(job: JobMessage) -> list[str]:
    return [f"niceness {os.nice(0)}"]


def _payloads() -> tuple[list[bytes], CheckerSpec]:
    keys = make_keys()
    jobs = factory(keys, seed=3)
    now = datetime.now(UTC)
    payloads = [payload for _, payload in jobs.many(6)]
    payloads.append(keys.registry.sign_bytes(jobs.job_doc(now=now - timedelta(days=30))))
    payloads.append(b"[1, 2]")
    payloads.append(b"x" * 300_000)
    doc = jobs.job_doc()
    doc["card"]["template"] = "no-such-template"
    payloads.append(keys.registry.sign_bytes(doc))
    spec = CheckerSpec(
        {keys.registry.key_id: keys.registry.public_key.public_bytes_raw()},
        max_job_bytes=200_000,
        card_validator=CardChecker(None),
    )
    return payloads, spec


def _reasons(verdicts: list[Verdict]) -> list[str | None]:
    return [v.rejection.reason.value if v.rejection else None for v in verdicts]


@pytest.mark.parametrize("workers", [0, 2])
async def test_verdicts_are_the_same_in_processes_and_in_process(workers: int) -> None:
    payloads, spec = _payloads()
    pool = CheckPool(spec, workers)
    try:
        verdicts = await pool.check(payloads, datetime.now(UTC))
    finally:
        pool.close()
    expected = spec.build()
    now = datetime.now(UTC)
    assert verdicts == [expected.check(p, now) for p in payloads]
    assert _reasons(verdicts) == [None] * 6 + [
        RejectReason.EXPIRED.value,
        RejectReason.MALFORMED_JSON.value,
        RejectReason.OVERSIZED.value,
        RejectReason.CARD_INVALID.value,
    ]
    assert all(len(v.content_hash) == 64 for v in verdicts[:6])


async def test_check_processes_run_at_a_lower_cpu_priority() -> None:
    payloads, spec = _payloads()
    spec = CheckerSpec(spec.registry_keys, spec.max_job_bytes, _report_niceness)
    pool = CheckPool(spec, 2)
    try:
        verdicts = await pool.check(payloads[:4], datetime.now(UTC))
    finally:
        pool.close()
    expected = f"niceness {min(19, os.nice(0) + WORKER_NICE)}"
    assert [v.rejection.message if v.rejection else None for v in verdicts] == [expected] * 4


async def test_a_message_that_kills_its_check_process_is_rejected_alone() -> None:
    keys = make_keys()
    jobs = factory(keys, seed=5)
    good = [payload for _, payload in jobs.many(5)]
    _, crash = jobs.make(job_id=CRASH_JOB)
    spec = CheckerSpec(
        {keys.registry.key_id: keys.registry.public_key.public_bytes_raw()},
        max_job_bytes=200_000,
        card_validator=_crash_on_marked_job,
    )
    pool = CheckPool(spec, 1)
    try:
        verdicts = await pool.check([*good[:2], crash, *good[2:]], datetime.now(UTC))
        assert pool.rebuilt == 2  # once for the batch, once for the message alone
        # The rebuilt pool goes on checking.
        after = await pool.check(good[:1], datetime.now(UTC))
    finally:
        pool.close()
    assert _reasons(verdicts) == [None, None, RejectReason.CARD_INVALID.value, None, None, None]
    crashed = verdicts[2].rejection
    assert crashed is not None
    assert "check process" in crashed.message
    assert _reasons(after) == [None]
