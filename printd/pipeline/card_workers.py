"""Card-encoding worker processes, driven straight from the event loop.

Each worker has a pipe each way. The event loop writes a request and reads
the reply through asyncio's pipe transports: no thread of the daemon stands
in between. A ``ProcessPoolExecutor`` did this with two threads of its own
(one feeding the call queue, one waiting for results); on the pipeline bench
they took 0.48 ms of the daemon's CPU a card, a fifth of all of it, and each
of their wake-ups competed with the event loop for the interpreter lock while
a printer waited for its next command.

A worker takes one card at a time. A worker that dies (killed, out of
memory) fails the card it held with :class:`WorkerDied` and is replaced.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from drivers.base import PreparedCard
from printd.logs import get_logger
from printd.pipeline.encoding import (
    FRAME_HEADER,
    ArtworkSource,
    CardEncoder,
    CardNotPrintable,
    frame,
    serve,
)

log = get_logger("printd.cards")


class WorkerDied(Exception):
    """The worker process preparing the card ended before it answered."""


class _Replies(asyncio.Protocol):
    """Cuts a worker's reply pipe into frames and hands each one on."""

    def __init__(self, worker: _Worker) -> None:
        self._worker = worker
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        header = FRAME_HEADER.size
        while len(self._buffer) >= header:
            size = FRAME_HEADER.unpack_from(self._buffer)[0]
            if len(self._buffer) < header + size:
                return
            body = bytes(self._buffer[header : header + size])
            del self._buffer[: header + size]
            self._worker.answered(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker.lost()


class _Worker:
    def __init__(self, pool: CardWorkers, process: BaseProcess) -> None:
        self._pool = pool
        self.process = process
        self.requests: asyncio.WriteTransport | None = None
        self.replies: asyncio.ReadTransport | None = None
        self._waiting: asyncio.Future[bytes] | None = None
        self.alive = True

    def ask(self, request: bytes) -> asyncio.Future[bytes]:
        assert self.requests is not None
        assert self._waiting is None
        self._waiting = asyncio.get_running_loop().create_future()
        self.requests.write(request)
        return self._waiting

    def answered(self, body: bytes) -> None:
        waiting, self._waiting = self._waiting, None
        # The asker may have given up (a prefetch cancelled): the worker is
        # free again all the same.
        if waiting is not None and not waiting.done():
            waiting.set_result(body)
        self._pool.idle(self)

    def lost(self) -> None:
        if not self.alive:
            return
        self.alive = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None and not waiting.done():
            waiting.set_exception(WorkerDied(f"card worker {self.process.pid} ended"))
        self._pool.replace(self)

    def close(self) -> None:
        self.alive = False
        for transport in (self.requests, self.replies):
            if transport is not None:
                transport.close()
        if self.process.is_alive():
            self.process.terminate()


class CardWorkers:
    """``size`` worker processes preparing cards: ``await workers.prepare(encode, payload)``."""

    def __init__(self, size: int, artwork: ArtworkSource, log_level: str = "info") -> None:
        self._size = size
        self._artwork = artwork
        self._log_level = log_level
        # spawn, not fork: the daemon has threads (SQLite, the store writer)
        # and a forked child would inherit their locks mid-use.
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._closed = False

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    async def start(self) -> None:
        """Start the workers (once); they begin importing at once."""
        while not self._closed and len(self._workers) < self._size:
            await self._spawn()

    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        # As Connections, the worker's ends are handed over when it is spawned.
        child_ends = (Connection(requests_r, writable=False), Connection(replies_w, readable=False))
        process = self._context.Process(
            target=serve,
            args=(*child_ends, self._artwork, self._log_level),
            name="printd-card-worker",
            daemon=True,
        )
        worker = _Worker(self, process)
        self._workers.append(worker)
        process.start()
        # The worker holds its own copies now; the daemon keeps only its ends,
        # so a worker's death closes the reply pipe.
        for end in child_ends:
            end.close()
        writer = os.fdopen(requests_w, "wb", buffering=0)
        reader = os.fdopen(replies_r, "rb", buffering=0)
        worker.requests, _ = await loop.connect_write_pipe(asyncio.Protocol, writer)
        worker.replies, _ = await loop.connect_read_pipe(lambda: _Replies(worker), reader)
        if self._closed:
            worker.close()
        else:
            self._idle.put_nowait(worker)

    def idle(self, worker: _Worker) -> None:
        if worker.alive and not self._closed:
            self._idle.put_nowait(worker)

    def replace(self, worker: _Worker) -> None:
        """A worker ended: forget it and start another in its place."""
        worker.close()
        if worker in self._workers:
            self._workers.remove(worker)
        if not self._closed:
            log.warning("card_worker_replaced", pid=worker.process.pid)
            task = asyncio.get_running_loop().create_task(self.start())
            task.add_done_callback(_log_start_failure)

    async def _ask(self, encode: CardEncoder, payload: bytes | None) -> Any:
        await self.start()
        while True:
            worker = await self._idle.get()
            if worker.alive and worker.process.is_alive():
                break
            # Died while idle, and its pipe's end not read yet.
            worker.lost()
        # The pipe runs between the daemon and its own child only.
        return pickle.loads(await worker.ask(frame((encode, payload))))  # noqa: S301

    async def warm(self, encode: CardEncoder) -> None:
        """Have every worker import the encoder now, not during the first card."""
        await asyncio.gather(*(self._ask(encode, None) for _ in range(self._size)))

    async def prepare(self, encode: CardEncoder, payload: bytes) -> tuple[PreparedCard, float]:
        """The prepared card and the worker's CPU seconds for it.

        Raises :class:`CardNotPrintable` for a card that cannot be prepared
        and :class:`WorkerDied` when the worker ended before answering.
        """
        kind, value = await self._ask(encode, payload)
        if kind == "unprintable":
            raise CardNotPrintable(value)
        card, cpu = value
        return card, cpu

    def close(self) -> None:
        """Stop every worker; a card being prepared is dropped."""
        self._closed = True
        for worker in self._workers:
            worker.close()
        self._workers.clear()


def _log_start_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("card_worker_start_failed", error=str(task.exception())[:200])
