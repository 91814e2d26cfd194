"""The outbox flusher: publishes queued station messages in ``seq`` order.

Rows are sealed (envelope + station signature) at publish time, published at
QoS 1, and marked sent only after the broker's PUBACK. Only the acknowledged
*prefix* of a batch is marked, so after an outage sending resumes at the
first unacknowledged ``seq``; the registry may see a message twice (a PUBACK
lost with the connection) and drops the repeat by ``seq``. Rows live in the
store, so they survive restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import aiomqtt

from printd.messages import seal
from printd.mqtt.topics import Topics
from printd.signing import Signer
from printd.store import OutboxMessage, Store

# Rows committed within this long of the last flush wait for each other and
# go out together. Printers finishing cards every few milliseconds each
# caused a flush of one row (a publish, its acknowledgement and a commit
# marking it sent); a result reaches the registry at most this much later.
FLUSH_INTERVAL_S = 0.05

# Runs a write to the store elsewhere and commits it: ``await writes(write)``.
StoreWrites = Callable[[Callable[[Store], None]], Awaitable[None]]


class OutboxFlusher:
    def __init__(
        self,
        store: Store,
        signer: Signer,
        topics: Topics,
        *,
        batch: int = 200,
        publish_timeout_s: float = 10.0,
        idle_poll_s: float = 1.0,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        writes: StoreWrites | None = None,
    ) -> None:
        """``writes``: runs a store write elsewhere, inside a transaction it opens
        and commits (the station's store writer, where the marks share the
        printers' commits), so that a long commit holding SQLite's write lock
        never stalls the event loop; by default the write runs here, on
        ``store``, in a transaction of its own."""
        self._store = store
        self._writes = writes
        self._signer = signer
        self._topics = topics
        self._batch = batch
        self._timeout = publish_timeout_s
        self._idle_poll_s = idle_poll_s
        self._flush_interval_s = flush_interval_s
        self._flushed_at = -flush_interval_s
        self._wake = asyncio.Event()
        self.published = 0

    def notify(self) -> None:
        """New rows were committed: flush them soon."""
        self._wake.set()

    async def run(self, client: aiomqtt.Client, on_flushed: Callable[[], None]) -> None:
        """Flush until cancelled or the connection fails (the error propagates)."""
        while True:
            wait = self._flushed_at + self._flush_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            rows = self._store.outbox.pending(self._batch)
            if not rows:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancel that lands as the wake-up completes, and the daemon never stops.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_poll_s):
                        await self._wake.wait()
                continue
            self._flushed_at = time.monotonic()
            done = await self._publish(client, rows)
            if done:
                await self._mark_sent(done)
                self.published += len(done)
                on_flushed()
            if len(done) < len(rows):
                raise aiomqtt.MqttError(f"outbox: {len(rows) - len(done)} publishes failed")

    async def _mark_sent(self, seqs: list[int]) -> None:
        def mark(store: Store) -> None:
            store.outbox.mark_sent(seqs)

        if self._writes is None:
            with self._store.transaction():
                mark(self._store)
        else:
            await self._writes(mark)

    async def _publish(self, client: aiomqtt.Client, rows: list[OutboxMessage]) -> list[int]:
        """Publish all rows (pipelined, in order); the seqs of the acknowledged prefix."""
        tasks = [
            asyncio.ensure_future(
                client.publish(
                    self._topics.station_topic(row.topic),
                    seal(row.body, station=self._topics.station, seq=row.seq, signer=self._signer),
                    qos=1,
                    retain=row.retain,
                    timeout=self._timeout,
                )
            )
            for row in rows
        ]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        done: list[int] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                break
            done.append(row.seq)
        return done
