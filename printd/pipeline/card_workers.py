"""Card-encoding worker processes, driven straight from the event loop.

Each worker has a pipe each way. The event loop writes a request and reads
the reply through asyncio's pipe transports: no thread of the daemon stands
in between. A ``ProcessPoolExecutor`` did this with two threads of its own
(one feeding the call queue, one waiting for results); on the pipeline bench
they took 0.48 ms of the daemon's CPU a card, a fifth of all of it, and each
of their wake-ups competed with the event loop for the interpreter lock while
a printer waited for its next command.

A worker takes one card at a time. A worker that dies (killed, out of
memory) fails the card it held with :class:`WorkerDied` and is replaced; one
that died young is replaced after a pause (see :meth:`CardWorkers.replace`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
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

# A worker that ends sooner than this after its start is replaced after a
# pause, RESTART_MAX_S at most (see CardWorkers.replace).
SHORT_LIFE_S = 10.0
RESTART_MAX_S = 60.0


def restart_delay(short_lives: int) -> float:
    """Seconds to wait before starting a worker after ``short_lives`` short lives in a row.

    The count has no bound (every try of every card can start a worker that
    dies at once), so the doubling stops at the cap rather than computing
    2**count, which overflows a float after 1,023 short lives.
    """
    if short_lives <= 0:
        return 0.0
    # Any cap of a sane size is below 2**64, and 2.0**64 is still a finite float.
    return min(RESTART_MAX_S, 2.0 ** min(short_lives, 64))


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
        self.started = time.monotonic()
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
    """``size`` worker processes preparing cards: ``await workers.prepare(encode, job_id)``.

    Each worker reads the job's stored message from ``database`` itself.
    """

    def __init__(
        self, size: int, artwork: ArtworkSource, database: Path, log_level: str = "info"
    ) -> None:
        self._size = size
        self._artwork = artwork
        self._database = database
        self._log_level = log_level
        # spawn, not fork: the daemon has threads (SQLite, the store writer)
        # and a forked child would inherit their locks mid-use.
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._closed = False
        self.spawned = 0
        self._short_lives = 0  # workers in a row that ended soon after starting
        self._restart: asyncio.Task[None] | None = None

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
            args=(*child_ends, self._artwork, self._log_level, self._database),
            name="printd-card-worker",
            daemon=True,
        )
        worker = _Worker(self, process)
        self._workers.append(worker)
        try:
            process.start()
        except BaseException:
            self._workers.remove(worker)
            os.close(requests_w)
            os.close(replies_r)
            raise
        finally:
            # The worker holds its own copies now (or never started); the
            # daemon keeps only its ends, so a worker's death closes the pipe.
            for end in child_ends:
                end.close()
        self.spawned += 1
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
        """A worker ended: forget it and start another in its place.

        After a worker that ended soon after it started (it cannot load the
        renderer, a card kills every worker), the next is started only after
        a pause that doubles each time, up to RESTART_MAX_S: a worker that
        cannot live is not restarted in a tight loop. A card that asks for a
        worker starts one at once, and a card has only a few tries.
        """
        worker.close()
        if worker in self._workers:
            self._workers.remove(worker)
        self._forget_idle(worker)
        if self._closed:
            return
        lived_s = time.monotonic() - worker.started
        log.warning("card_worker_ended", pid=worker.process.pid, lived_s=round(lived_s, 1))
        self._short_lives = 0 if lived_s >= SHORT_LIFE_S else self._short_lives + 1
        delay = restart_delay(self._short_lives)
        if self._restart is None or self._restart.done():
            self._restart = asyncio.get_running_loop().create_task(self._start_after(delay))
            self._restart.add_done_callback(_log_start_failure)

    async def _start_after(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self.start()

    def _forget_idle(self, gone: _Worker) -> None:
        """Take an ended worker out of the idle queue, keeping the others' order."""
        kept = []
        while not self._idle.empty():
            worker = self._idle.get_nowait()
            if worker is not gone:
                kept.append(worker)
        for worker in kept:
            self._idle.put_nowait(worker)

    async def _ask(self, encode: CardEncoder, job_id: str | None) -> Any:
        await self.start()
        worker = await self._idle.get()
        if not worker.process.is_alive():
            # Died while idle, its pipe's end not read yet: this try of the
            # card's is lost like one a worker dies during.
            worker.lost()
            raise WorkerDied(f"card worker {worker.process.pid} had ended")
        # The pipe runs between the daemon and its own child only.
        return pickle.loads(await worker.ask(frame((encode, job_id))))  # noqa: S301

    async def warm(self, encode: CardEncoder) -> None:
        """Have every worker import the encoder now, not during the first card."""
        await asyncio.gather(*(self._ask(encode, None) for _ in range(self._size)))

    async def prepare(self, encode: CardEncoder, job_id: str) -> tuple[PreparedCard, float]:
        """The prepared card of a stored job and the worker's CPU seconds for it.

        Raises :class:`CardNotPrintable` for a card that cannot be prepared
        and :class:`WorkerDied` when the worker ended before answering.
        """
        kind, value = await self._ask(encode, job_id)
        if kind == "unprintable":
            raise CardNotPrintable(value)
        card, cpu = value
        return card, cpu

    def close(self) -> None:
        """Stop every worker; a card being prepared is dropped."""
        self._closed = True
        if self._restart is not None:
            self._restart.cancel()
        for worker in self._workers:
            worker.close()
        self._workers.clear()


def _log_start_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("card_worker_start_failed", error=str(task.exception())[:200])
