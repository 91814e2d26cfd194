"""Outages: broker down mid-run, connection cut, station restarted; nothing lost or doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path

from brokers import MosquittoBroker, TcpProxy
from harness import (
    eventually,
    factory,
    make_keys,
    registry_for,
    running_station,
    serial_for,
    station_settings,
)

from printd.messages import now_utc, outbox_body
from printd.store import Store
from simulators.registry import RegistrySimulator


def _check_exactly_once(
    registry: RegistrySimulator, job_ids: list[str], store: Store, *, results: bool = True
) -> None:
    report = registry.report(job_ids)
    assert report.ok, report.problems
    assert report.accepted == set(job_ids)
    for job_id in job_ids:
        assert len(store.jobs.history(job_id)) == 1, job_id
        if results:
            assert [r["serial"] for r in registry.results[job_id]] == [serial_for(job_id)]
    assert store.outbox.depth() == 0


async def test_broker_restarted_mid_run(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Broker stopped twice mid-run of 300 jobs: each job accepted once, every receipt and
    result delivered once after seq de-duplication, no seq gap, outbox empty."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys).many(300)
    ids = [j for j, _ in jobs]
    async with (
        running_station(settings, keys, auto_result=True) as station,
        registry_for(broker, keys, resend_after_s=3.0) as registry,
    ):
        registry.submit(jobs, station="st-1")
        for threshold in (60, 180):
            assert await eventually(lambda t=threshold: len(station.accepted) >= t, 60)
            broker.stop()
            await asyncio.sleep(0.5)
            broker.start()
        assert await registry.wait_answered(ids, 90)
        done = await eventually(
            lambda: all(registry.results.get(j) for j in ids) and station.store.outbox.depth() == 0,
            60,
        )
        assert done, (station.store.outbox.depth(), registry.gaps())
        assert station.link.connections >= 3
        _check_exactly_once(registry, ids, station.store)


async def test_broker_crash_mid_run(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Broker SIGKILLed mid-run: jobs still each accepted exactly once and all answered
    (the registry's re-sends cover what the broker lost), and the outbox drains.

    Results published while the broker had lost the registry's session (Mosquitto
    saves sessions only every autosave_interval) are not asserted: see protocol.md."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys).many(200)
    ids = [j for j, _ in jobs]
    async with (
        running_station(settings, keys, auto_result=True) as station,
        registry_for(broker, keys, resend_after_s=3.0) as registry,
    ):
        registry.submit(jobs, station="st-1")
        assert await eventually(lambda: len(station.accepted) >= 80, 60)
        broker.kill()
        await asyncio.sleep(0.5)
        broker.start()
        assert await registry.wait_answered(ids, 90)
        assert await eventually(lambda: station.store.outbox.depth() == 0, 60)
        report = registry.report(ids)
        assert report.accepted == set(ids)
        assert not report.unanswered
        assert sorted(station.accepted) == sorted(ids)
        for job_id in ids:
            assert len(station.store.jobs.history(job_id)) == 1
        assert report.bad_signatures == 0


async def test_station_connection_cut(broker: MosquittoBroker, tmp_path: Path) -> None:
    """The station's TCP connection is cut three times mid-run; nothing lost or doubled."""
    keys = make_keys()
    jobs = factory(keys).many(200)
    ids = [j for j, _ in jobs]
    async with TcpProxy(broker.host, broker.port) as proxy:
        settings = station_settings(broker, tmp_path / "st", keys, port=proxy.port)
        async with (
            running_station(settings, keys, auto_result=True) as station,
            registry_for(broker, keys, resend_after_s=5.0) as registry,
        ):
            registry.submit(jobs, station="st-1")
            for threshold in (40, 90, 140):
                assert await eventually(lambda t=threshold: len(station.accepted) >= t, 60)
                before = station.link.connections
                proxy.cut()
                assert await eventually(lambda b=before: station.link.connections > b, 30)
            assert await registry.wait_answered(ids, 60)
            assert await eventually(
                lambda: (
                    all(registry.results.get(j) for j in ids) and station.store.outbox.depth() == 0
                ),
                60,
            )
            assert station.link.connections >= 4
            _check_exactly_once(registry, ids, station.store)


async def test_outbox_survives_station_restart(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Results queued while the broker is away go out after a station restart, in seq order,
    each once, to the registry's persistent session."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys).many(30)
    ids = [j for j, _ in jobs]
    async with registry_for(broker, keys) as registry, running_station(settings, keys) as station:
        registry.submit(jobs, station="st-1")
        assert await registry.wait_answered(ids, 30)
        assert await eventually(lambda: station.store.outbox.depth() == 0)
        broker.stop()
        with station.store.transaction() as conn:
            for job_id in ids:
                body = outbox_body(
                    "result",
                    job_id=job_id,
                    outcome="printed",
                    serial=serial_for(job_id),
                    printer="p1",
                    at=now_utc(),
                )
                station.store.outbox.enqueue(conn, "results", body)
        station.link.notify_outbox()
        await asyncio.sleep(0.3)
        assert station.store.outbox.depth() == 30
    broker.start()
    # A new registry process on the same persistent session, and a restarted station.
    async with running_station(settings, keys) as station, registry_for(broker, keys) as registry:
        assert await eventually(lambda: all(registry.results.get(j) for j in ids), 30)
        assert await eventually(lambda: station.store.outbox.depth() == 0)
        seqs = [registry.results[j][0]["seq"] for j in ids]
        assert seqs == list(range(seqs[0], seqs[0] + 30))
        assert all(len(registry.results[j]) == 1 for j in ids)
        assert registry.report([]).ok
        assert station.store.outbox.depth() == 0
