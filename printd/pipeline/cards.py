"""Cards prepared ahead, so a printer never waits on the daemon.

Preparing a card (render the template, encode the printer's panels) is CPU
work done in a thread. While one card prints, the next queued jobs are
prepared for the same printer family; a worker that claims one of them finds
it ready.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from drivers.base import CardArtwork, Driver, PreparedCard
from printd.store import JobState, Store

# Turns a job's stored payload into the card's artwork (parse + render).
ArtworkSource = Callable[[bytes], CardArtwork]


class CardNotPrintable(Exception):
    """The job's card cannot be rendered or encoded; the message says why."""


class CardPreparer:
    def __init__(self, store: Store, artwork: ArtworkSource, ahead: int = 2) -> None:
        self._store = store
        self._artwork = artwork
        self._ahead = ahead
        self._pending: dict[tuple[str, str], asyncio.Future[PreparedCard]] = {}
        # A card being encoded holds tens of megabytes of intermediate images:
        # no more encodings at once than there are cores to run them.
        self._threads = ThreadPoolExecutor(
            max_workers=min(2, os.cpu_count() or 1), thread_name_prefix="prepare"
        )
        # CPU spent rendering and encoding, for metrics and the benchmark.
        self._cpu_lock = threading.Lock()
        self.prepared = 0
        self.prepare_cpu_s = 0.0

    @staticmethod
    def _family(driver: Driver) -> str:
        return type(driver).__name__

    def _prepare(self, payload: bytes, driver: Driver) -> PreparedCard:
        started = time.thread_time()
        try:
            return driver.prepare(self._artwork(payload))
        except CardNotPrintable:
            raise
        except Exception as exc:  # a renderer or encoder bug must not stop the station
            raise CardNotPrintable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            with self._cpu_lock:
                self.prepared += 1
                self.prepare_cpu_s += time.thread_time() - started

    def _start(self, job_id: str, driver: Driver) -> asyncio.Future[PreparedCard] | None:
        payload = self._store.jobs.payload(job_id)
        if payload is None:
            return None
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._threads, self._prepare, payload, driver)

    async def get(self, job_id: str, driver: Driver) -> PreparedCard:
        future = self._pending.pop((job_id, self._family(driver)), None)
        if future is None:
            future = self._start(job_id, driver)
        if future is None:
            raise CardNotPrintable("the job's payload is gone (purged)")
        return await future

    def prefetch(self, driver: Driver) -> None:
        """Start preparing the next queued jobs for this printer family."""
        family = self._family(driver)
        mine = sum(1 for key in self._pending if key[1] == family)
        if mine >= self._ahead:
            return
        for job in self._store.jobs.listing((JobState.QUEUED,), limit=self._ahead):
            key = (job.job_id, family)
            if key in self._pending:
                continue
            future = self._start(job.job_id, driver)
            if future is not None:
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


def _consume_exception(future: asyncio.Future[PreparedCard]) -> None:
    if not future.cancelled():
        future.exception()
