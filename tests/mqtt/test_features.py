"""TLS with client certificates, shared-subscription pools, credit, commands, status."""

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
    station_settings,
)


async def test_tls_with_client_certificate(tls_broker: MosquittoBroker, tmp_path: Path) -> None:
    """Over TLS with a client certificate, jobs go in and receipts come out."""
    keys = make_keys()
    settings = station_settings(tls_broker, tmp_path / "st", keys)
    assert settings.mqtt.tls.enabled
    jobs = factory(keys).many(5)
    async with (
        running_station(settings, keys) as station,
        registry_for(tls_broker, keys) as registry,
    ):
        registry.submit(jobs, station="st-1")
        assert await registry.wait_answered([j for j, _ in jobs], 30)
        assert registry.report([j for j, _ in jobs]).ok
        assert len(station.accepted) == 5


async def test_tls_without_client_certificate_is_refused(
    tls_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Without a client certificate the station never connects (and keeps retrying)."""
    keys = make_keys()
    assert tls_broker.tls is not None
    settings = station_settings(
        tls_broker,
        tmp_path / "st",
        keys,
        tls={"enabled": True, "ca_file": tls_broker.tls.ca_file},
    )
    async with running_station(settings, keys, wait_connected=False) as station:
        await asyncio.sleep(2)
        assert not station.link.connected.is_set()
        assert station.link.connections == 0


async def test_pool_of_two_takes_each_job_once(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Two stations sharing a pool each take a share; every job is accepted by exactly one."""
    keys = make_keys()
    a = station_settings(broker, tmp_path / "a", keys, station_id="st-a", pool="ngawi")
    b = station_settings(broker, tmp_path / "b", keys, station_id="st-b", pool="ngawi")
    jobs = factory(keys).many(60)
    ids = [j for j, _ in jobs]
    async with (
        running_station(a, keys) as sa,
        running_station(b, keys) as sb,
        registry_for(broker, keys) as registry,
    ):
        registry.submit(jobs, pool="ngawi", pool_stations=("st-a", "st-b"))
        assert await registry.wait_answered(ids, 30)
        report = registry.report(ids)
        assert report.ok, report.problems
        assert set(sa.accepted).isdisjoint(sb.accepted)
        assert sorted(sa.accepted + sb.accepted) == sorted(ids)
        assert sa.accepted
        assert sb.accepted


async def test_credit_is_honoured(broker: MosquittoBroker, tmp_path: Path) -> None:
    """A station with room for 3 jobs is sent 3; the rest wait at the registry until room."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys).many(20)
    ids = [j for j, _ in jobs]
    async with (
        running_station(settings, keys, credit=3) as station,
        registry_for(broker, keys) as registry,
    ):
        assert await eventually(lambda: registry.credit.get("st-1") == 3)
        registry.submit(jobs, station="st-1")
        assert await eventually(lambda: len(station.accepted) == 3)
        await asyncio.sleep(1.5)
        assert len(station.accepted) == 3
        assert registry.sends == 3
        assert await eventually(lambda: registry.credit.get("st-1") == 0)
        # Two jobs finish: credit comes back and exactly two more are sent.
        with station.store.transaction() as conn:
            for job_id in station.accepted[:2]:
                conn.execute("UPDATE jobs SET state = 'cancelled' WHERE job_id = ?", (job_id,))
        station.link.notify_credit()
        assert await eventually(lambda: len(station.accepted) == 5)
        await asyncio.sleep(1.5)
        assert len(station.accepted) == 5
        assert set(station.accepted) <= set(ids)


async def test_commands_are_verified_dispatched_and_replied(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """A signed command reaches the handler and its reply carries the correlation id;
    unsigned, misaddressed and repeated commands are refused without reaching it."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys)
    async with running_station(settings, keys) as station, registry_for(broker, keys) as registry:
        good = jobs.command("st-1", "pause", correlation_id="c-1", printer="p1")
        wrong = jobs.command("st-9", "drain", correlation_id="c-2")
        cancel = jobs.command("st-1", "cancel", correlation_id="c-3", job_id="KTP-1")
        await registry.publish_raw("printd/v1/st-1/cmd/pause", good)
        await registry.publish_raw("printd/v1/st-1/cmd/drain", wrong)
        await registry.publish_raw("printd/v1/st-1/cmd/pause", good)
        await registry.publish_raw("printd/v1/st-1/cmd/cancel", cancel)
        await registry.publish_raw("printd/v1/st-1/cmd/resume", b"{}")
        assert await eventually(lambda: len(registry.replies) == 4)
        assert registry.replies["c-1"]["ok"] is True
        assert registry.replies["c-2"]["reason"] == "wrong_station"
        assert registry.replies["c-3"]["ok"] is True
        assert registry.replies["None"]["reason"] == "bad_signature"
        assert [c.correlation_id for c in station.handler.seen] == ["c-1", "c-3"]
        assert station.handler.seen[0].printer == "p1"


async def test_status_online_then_last_will_offline(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Status is online while connected, follows set_status, turns `offline` by the last will
    when the connection dies, and is re-published on reconnect."""
    keys = make_keys()
    async with TcpProxy(broker.host, broker.port) as proxy, registry_for(broker, keys) as registry:
        settings = station_settings(broker, tmp_path / "st", keys, port=proxy.port)
        async with running_station(settings, keys) as station:
            assert await eventually(lambda: registry.status.get("st-1") == "online")
            station.link.set_status("paused")
            assert await eventually(lambda: registry.status.get("st-1") == "paused")
            proxy.refuse = True
            proxy.cut()
            assert await eventually(lambda: registry.status.get("st-1") == "offline", 30)
            proxy.refuse = False
            assert await eventually(lambda: registry.status.get("st-1") == "paused", 30)
