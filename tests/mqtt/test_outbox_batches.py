"""The outbox flusher sends what was committed close together as one batch."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
import pytest
from brokers import MosquittoBroker

from printd.messages import outbox_body
from printd.mqtt.outbox import OutboxFlusher
from printd.mqtt.topics import Topics
from printd.signing import Signer
from printd.store import Store


def _enqueue(store: Store, job_id: str) -> None:
    body = outbox_body(
        "result",
        job_id=job_id,
        outcome="printed",
        serial=f"AB-{job_id}",
        printer="p1",
        at="2026-11-29T00:00:00Z",
    )
    with store.transaction() as conn:
        store.outbox.enqueue(conn, "results", body)


@pytest.mark.parametrize(("interval_s", "flushes"), [(0.0, 4), (1.0, 2)])
async def test_results_committed_within_the_interval_go_out_together(
    broker: MosquittoBroker, tmp_path: Path, interval_s: float, flushes: int
) -> None:
    """Three results committed 50 ms apart, right after a flush: with no
    interval each is a flush of its own; with one they are published and
    marked sent together (one sent_at for all three)."""
    with Store.open(tmp_path / "state", daemon=True) as store:
        flusher = OutboxFlusher(
            store,
            Signer.generate(),
            Topics("printd", "station-1"),
            flush_interval_s=interval_s,
        )
        flushed: list[int] = []
        progressed = asyncio.Event()

        def on_flushed() -> None:
            flushed.append(flusher.published)
            progressed.set()

        async def published(count: int) -> None:
            async with asyncio.timeout(10):
                while flusher.published < count:
                    progressed.clear()
                    await progressed.wait()

        async with aiomqtt.Client(broker.host, broker.port) as client:
            task = asyncio.create_task(flusher.run(client, on_flushed))
            try:
                _enqueue(store, "j0")
                flusher.notify()
                await published(1)
                for job_id in ("j1", "j2", "j3"):
                    _enqueue(store, job_id)
                    flusher.notify()
                    await asyncio.sleep(0.05)
                await published(4)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert len(flushed) == flushes
        stamps = store.conn.execute(
            "SELECT count(DISTINCT sent_at) FROM outbox WHERE seq > 1"
        ).fetchone()[0]
        assert stamps == flushes - 1
        assert store.outbox.depth() == 0
