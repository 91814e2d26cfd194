"""kill -9 between commit and PUBACK: the broker redelivers; the job is committed once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from brokers import MosquittoBroker
from harness import eventually, factory, make_keys, registry_for, station_settings

from printd.store import JobState, Store

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _start(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "station_proc.py"), str(config), *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_kill_between_commit_and_puback(broker: MosquittoBroker, tmp_path: Path) -> None:
    """A station killed -9 after committing a job but before its PUBACK gets the job again
    from the broker after restart, keeps it committed once, and answers with the first receipt."""
    keys = make_keys()
    state_dir = tmp_path / "st"
    settings = station_settings(broker, state_dir, keys)
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
    job_id, payload = factory(keys).make()
    async with registry_for(broker, keys) as registry:
        first = _start(config, "--die-before-ack")
        try:
            # The station subscribes on its first connection; then the job goes out.
            deadline = time.monotonic() + 20
            while "st-1" not in registry.status and time.monotonic() < deadline:
                await eventually(lambda: "st-1" in registry.status, 0.5)
            await registry.publish_raw("printd/v1/st-1/jobs", payload)
            assert await eventually(lambda: first.poll() is not None, 20)
            assert first.returncode == -9
        finally:
            if first.poll() is None:
                first.kill()
            first.wait()
            if first.stderr:
                first.stderr.close()
        with Store.open(state_dir) as store:
            record = store.jobs.get(job_id)
            assert record is not None
            assert record.state == JobState.QUEUED
            assert store.outbox.depth() == 1
        assert job_id not in registry.receipts

        second = _start(config)
        try:
            assert await eventually(lambda: len(registry.receipts.get(job_id, [])) >= 2, 30)
            assert await eventually(lambda: registry.status.get("st-1") == "online", 10)
        finally:
            second.terminate()
            second.wait(10)
            if second.stderr:
                second.stderr.close()
        receipts = registry.receipts[job_id]
        assert [r["status"] for r in receipts] == ["accepted", "accepted"]
        assert receipts[0]["seq"] < receipts[1]["seq"]
        with Store.open(state_dir) as store:
            assert len(store.jobs.history(job_id)) == 1
            assert store.outbox.depth() == 0
