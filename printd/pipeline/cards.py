"""Cards prepared ahead, so a printer never waits on the daemon.

Preparing a card (render the template, encode the printer's panels) is CPU
work. While one card prints, the next queued jobs are prepared for the same
printer family; a worker that claims one of them finds it ready.

Where it runs: a driver family with a module-level ``card_encoder`` has its
cards prepared in a small pool of worker processes (see
:mod:`printd.pipeline.encoding` for why); any other driver in a thread, with
its ``prepare`` method.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from drivers.base import Driver, PreparedCard
from printd.logs import get_logger
from printd.pipeline.card_workers import CardWorkers, WorkerDied
from printd.pipeline.encoding import (
    PAYLOAD_GONE,
    ArtworkSource,
    CardEncoder,
    CardNotPrintable,
    prepare,
)
from printd.store import JobState, Store

__all__ = ["ArtworkSource", "CardNotPrintable", "CardPreparer"]

log = get_logger("printd.cards")


def _encoder_of(driver: Driver) -> CardEncoder | None:
    """The driver family's module-level encoder, when it has one."""
    encoder: Any = getattr(type(driver), "card_encoder", None)
    if callable(encoder) and getattr(encoder, "__qualname__", "") == encoder.__name__:
        return encoder  # type: ignore[no-any-return]
    return None


class CardPreparer:
    def __init__(
        self,
        store: Store,
        artwork: ArtworkSource,
        ahead: int = 2,
        *,
        processes: bool = True,
        log_level: str = "info",
    ) -> None:
        self._store = store
        self._artwork = artwork
        self._ahead = ahead
        self._pending: dict[tuple[str, str], asyncio.Future[PreparedCard]] = {}
        # A card being encoded holds tens of megabytes of intermediate images:
        # no more encodings at once than there are cores to run them.
        self._workers = min(2, os.cpu_count() or 1)
        self._threads = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="prepare")
        self._use_processes = processes
        self._log_level = log_level
        self._processes = CardWorkers(self._workers, artwork, store.path, log_level)
        self._warmed: set[str] = set()
        # CPU spent rendering and encoding, for metrics and the benchmark.
        self.prepared = 0
        self.prepare_cpu_s = 0.0
        self.in_processes = 0

    @staticmethod
    def _family(driver: Driver) -> str:
        return type(driver).__name__

    def worker_pids(self) -> list[int]:
        """The card-encoding worker processes running now."""
        return self._processes.pids()

    def warm(self, driver: Driver) -> None:
        """Start the worker processes as soon as a printer is reached, so the
        first card does not wait for them to start and import the encoder."""
        encode = _encoder_of(driver) if self._use_processes else None
        family = self._family(driver)
        if encode is None or family in self._warmed:
            return
        self._warmed.add(family)
        task = asyncio.ensure_future(self._processes.warm(encode))
        task.add_done_callback(_consume_exception)

    async def _prepare(self, job_id: str, driver: Driver) -> PreparedCard:
        loop = asyncio.get_running_loop()
        encode = _encoder_of(driver) if self._use_processes else None
        if encode is None:
            payload = self._store.jobs.payload(job_id)
            if payload is None:
                raise CardNotPrintable(PAYLOAD_GONE)
            prepared, cpu = await loop.run_in_executor(
                self._threads, prepare, self._artwork, driver.prepare, payload
            )
        else:
            # The worker reads the job's message from the store itself.
            prepared, cpu = await self._in_process(job_id, encode)
            self.in_processes += 1
        self.prepared += 1
        self.prepare_cpu_s += cpu
        return prepared

    async def _in_process(self, job_id: str, encode: CardEncoder) -> tuple[PreparedCard, float]:
        # Workers killed together (the out-of-memory killer, a technician's
        # kill) may each take the card before their death is seen: one try
        # more than there are workers reaches a worker started since. A card
        # that kills every worker it reaches is not printable.
        attempts = self._workers + 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._processes.prepare(encode, job_id)
            except WorkerDied:
                log.warning("card_worker_died", attempt=attempt)
        raise CardNotPrintable(f"the card's encoder process died {attempts} times")

    def _start(self, job_id: str, driver: Driver) -> asyncio.Future[PreparedCard]:
        return asyncio.ensure_future(self._prepare(job_id, driver))

    async def get(self, job_id: str, driver: Driver) -> PreparedCard:
        future = self._pending.pop((job_id, self._family(driver)), None)
        if future is None:
            future = self._start(job_id, driver)
        return await future

    def prefetch(self, driver: Driver) -> None:
        """Start preparing the next queued jobs for this printer family."""
        family = self._family(driver)
        mine = sum(1 for key in self._pending if key[1] == family)
        if mine >= self._ahead:
            return
        # Ids only: this runs on the event loop once a card, and whole records
        # (dates parsed, payload looked up) cost six times as much.
        for job_id in self._store.jobs.queued_ids(self._ahead):
            key = (job_id, family)
            if key in self._pending:
                continue
            future = self._start(job_id, driver)
            # A prefetch nobody claims must not log "exception never retrieved".
            future.add_done_callback(_consume_exception)
            self._pending[key] = future
            mine += 1
            if mine >= self._ahead:
                break

    def forget_finished(self) -> None:
        """Drop prepared cards of jobs no longer queued (cancelled, expired, taken)."""
        for key in list(self._pending):
            job = self._store.jobs.get(key[0])
            if job is None or job.state not in (JobState.QUEUED, JobState.PRINTING):
                self._pending.pop(key).cancel()

    def cancel_all(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._processes.close()
        # Ready to start again (lazily), as a pool that was never used.
        self._processes = CardWorkers(
            self._workers, self._artwork, self._store.path, self._log_level
        )
        self._warmed.clear()


def _consume_exception(future: asyncio.Future[Any] | Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
