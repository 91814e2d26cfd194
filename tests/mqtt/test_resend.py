"""What a broker loses after acknowledging it, the station sends again when asked.

A broker that crashes before saving can lose messages it had already
acknowledged to the station; the registry sees the gap in the station's
sequence numbers and sends the signed command ``resend`` with the first
missing seq. The station keeps sent messages for ``mqtt.keep_sent_h``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from brokers import MosquittoBroker
from harness import eventually, factory, make_keys, registry_for, running_station, station_settings

from printd.messages import now_utc
from printd.store import Store
from simulators.registry import printed


async def test_lost_messages_are_asked_for_and_sent_again(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """The registry drops every 5th station message as a crashed broker would; its gap
    check asks for them, and every receipt and result arrives exactly once."""
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys).many(20)
    ids = [job_id for job_id, _ in jobs]
    async with (
        running_station(settings, keys, auto_result=True) as station,
        registry_for(
            broker, keys, signer=keys.registry, lose_every=5, gap_timeout_s=0.5
        ) as registry,
    ):
        registry.submit(jobs, station="st-1")
        assert await registry.wait_final(ids, 60)
        assert await eventually(lambda: not registry.gaps(), 30)
        assert len(registry.lost) >= 8  # 40 receipts and results, every 5th lost once
        assert registry.resends_asked >= 1
        for job_id in ids:
            assert [r["status"] for r in registry.receipts[job_id]] == ["accepted"]
            assert len([r for r in registry.results[job_id] if printed(r)]) == 1
        report = registry.report(ids)
        assert report.ok, report.problems
        assert station.store.outbox.depth() == 0


async def test_resend_past_the_kept_window_says_what_is_gone(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    keys = make_keys()
    settings = station_settings(broker, tmp_path / "st", keys)
    jobs = factory(keys)
    sent = jobs.many(3)
    async with (
        running_station(settings, keys) as station,
        registry_for(broker, keys) as registry,
    ):
        registry.submit(sent, station="st-1")
        assert await registry.wait_answered([j for j, _ in sent], 30)
        assert await eventually(lambda: station.store.outbox.depth() == 0)
        with station.store.transaction() as conn:  # as housekeeping does after keep_sent_h
            forgotten = station.store.outbox.forget_sent(conn, now_utc() + timedelta(seconds=1))
        assert forgotten == 3
        await registry.publish_raw(
            "printd/v1/st-1/cmd/resend",
            jobs.command("st-1", "resend", correlation_id="r-1", from_seq=1),
        )
        assert await eventually(lambda: "r-1" in registry.replies)
        reply = registry.replies["r-1"]
        assert reply["ok"] is False
        assert reply["data"]["resent"] == 0
        assert "no longer kept" in reply["message"]


def test_resend_requeues_sent_messages_in_order_and_never_as_retained(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        with store.transaction() as conn:
            for n in range(1, 5):
                store.outbox.enqueue(conn, "events", {"n": n}, retain=(n == 2))
        with store.transaction():
            store.outbox.mark_sent([1, 2, 3])
        assert [m.seq for m in store.outbox.pending()] == [4]
        with store.transaction() as conn:
            assert store.outbox.resend_from(conn, 2) == (2, 1)
        pending = store.outbox.pending()
        assert [m.seq for m in pending] == [2, 3, 4]
        assert [m.retain for m in pending] == [False, False, False]
        assert store.outbox.depth() == 3
