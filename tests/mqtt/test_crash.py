"""kill -9 inside intake: nothing is lost, nothing is taken twice.

Two moments: after the job is committed as received but before its PUBACK
(the broker redelivers it), and after the PUBACK but before its checks settle
(no redelivery: the committed copy is all there is).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from brokers import MosquittoBroker
from harness import Keys, eventually, factory, make_keys, registry_for, station_settings

from printd.store import JobState, Store
from simulators.registry import RegistrySimulator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _start(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "station_proc.py"), str(config), *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    process.wait(10)
    if process.stderr:
        process.stderr.close()


def _config(broker: MosquittoBroker, tmp_path: Path, keys: Keys) -> Path:
    settings = station_settings(broker, tmp_path / "st", keys)
    keys.station.write(tmp_path / "station.key")
    config = tmp_path / "station.json"
    config.write_text(
        json.dumps(
            {
                "settings": settings.model_dump(mode="json"),
                "station_key": str(tmp_path / "station.key"),
            }
        )
    )
    return config


async def _killed_at_first_job(
    registry: RegistrySimulator, config: Path, flag: str, payload: bytes
) -> None:
    first = _start(config, flag)
    try:
        # The station subscribes on its first connection; then the job goes out.
        assert await eventually(lambda: "st-1" in registry.status, 20)
        await registry.publish_raw("printd/v1/st-1/jobs", payload)
        assert await eventually(lambda: first.poll() is not None, 20)
        assert first.returncode == -9
    finally:
        if first.poll() is None:
            first.kill()
        _stop(first)


async def test_kill_between_commit_and_puback(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Killed -9 after committing a job as received but before its PUBACK: after the
    restart the committed copy is checked, the broker's redelivery is a duplicate, the
    job is queued once, and the redelivery is answered with the first receipt."""
    keys = make_keys()
    config = _config(broker, tmp_path, keys)
    job_id, payload = factory(keys).make()
    async with registry_for(broker, keys) as registry:
        await _killed_at_first_job(registry, config, "--die-before-ack", payload)
        with Store.open(tmp_path / "st") as store:
            assert store.inbox.count() == 1  # committed as received, not yet checked
            assert store.jobs.get(job_id) is None
            assert store.outbox.depth() == 0
        assert job_id not in registry.receipts

        second = _start(config)
        try:
            assert await eventually(lambda: len(registry.receipts.get(job_id, [])) >= 2, 30)
            assert await eventually(lambda: registry.status.get("st-1") == "online", 10)
        finally:
            _stop(second)
        receipts = registry.receipts[job_id]
        assert [r["status"] for r in receipts] == ["accepted", "accepted"]
        assert receipts[0]["seq"] < receipts[1]["seq"]
        with Store.open(tmp_path / "st") as store:
            record = store.jobs.get(job_id)
            assert record is not None
            assert record.state == JobState.QUEUED
            assert len(store.jobs.history(job_id)) == 1
            assert store.inbox.count() == 0
            assert store.outbox.depth() == 0


async def test_kill_after_puback_before_checks_settle(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Killed -9 after the PUBACK, while the job's checks settle: the broker has let the
    job go, so the inbox copy is all there is; the restart checks it and answers once."""
    keys = make_keys()
    config = _config(broker, tmp_path, keys)
    job_id, payload = factory(keys).make()
    async with registry_for(broker, keys) as registry:
        await _killed_at_first_job(registry, config, "--die-before-settle", payload)
        with Store.open(tmp_path / "st") as store:
            assert store.inbox.count() == 1
            assert store.jobs.get(job_id) is None
        assert job_id not in registry.receipts

        second = _start(config)
        try:
            assert await eventually(lambda: len(registry.receipts.get(job_id, [])) >= 1, 30)
            # Long enough for a redelivery to be taken and answered, had there been one.
            await asyncio.sleep(2.0)
        finally:
            _stop(second)
        assert [r["status"] for r in registry.receipts[job_id]] == ["accepted"]
        with Store.open(tmp_path / "st") as store:
            record = store.jobs.get(job_id)
            assert record is not None
            assert record.state == JobState.QUEUED
            assert store.inbox.count() == 0
            assert store.outbox.depth() == 0
