"""The station link against a real Mosquitto: intake, receipts, outbox, commands."""

from __future__ import annotations

from pathlib import Path

from brokers import MosquittoBroker
from harness import factory, make_keys, registry_for, running_station, station_settings

from printd.store import JobState


async def test_jobs_are_committed_and_receipted(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Signed jobs are committed once each and the registry gets one accepted receipt per job."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys).many(20)
    async with running_station(settings, keys) as station, registry_for(broker, keys) as registry:
        registry.submit(jobs, station="st-1")
        assert await registry.wait_answered([j for j, _ in jobs], 30)
        report = registry.report([j for j, _ in jobs])
        assert report.ok, report.problems
        assert report.accepted == {j for j, _ in jobs}
        assert sorted(station.accepted) == sorted(j for j, _ in jobs)
        for job_id, payload in jobs:
            record = station.store.jobs.get(job_id)
            assert record is not None
            assert record.state == JobState.QUEUED
            assert station.store.jobs.payload(job_id) == payload
