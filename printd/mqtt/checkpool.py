"""Runs intake's checks in worker processes, off the daemon's event loop.

Why processes: checking one job costs a few milliseconds of CPU (the card
validator lays out every text field with the template's fonts; the signature
and schema add half a millisecond), almost all of it holding the GIL. In the
daemon's own process that would stall the event loop that drives the broker
link and the printers. The workers run at a lower CPU priority (nice 10), so
that while a backlog is being checked, taking messages off the broker and
printing come first.

Workers start from a forkserver that has imported this module: each starts in
milliseconds and shares the imported code with the others. ``workers=0``
checks in a thread of the daemon instead (machines with one core).

A worker that dies (killed, out of memory, a crash in an image library) breaks
the pool: it is rebuilt, and the batch is checked again one message at a time,
so one message that kills a worker is rejected on its own instead of taking
its batch with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

import structlog

from printd.messages import RejectReason
from printd.mqtt.checks import CheckerSpec, JobChecker, Rejection, Verdict
from printd.worker_exit import exit_with_parent

log = structlog.get_logger("printd.mqtt")

WORKER_NICE = 10
CHUNK = 16  # messages per task: enough to amortise the hand-over, small enough to spread

_checker: JobChecker | None = None  # one per worker process


def _start_worker(spec: CheckerSpec) -> None:
    global _checker
    exit_with_parent()
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    _checker = spec.build()


def _check_chunk(payloads: Sequence[bytes], now: datetime) -> list[Verdict]:
    assert _checker is not None, "worker started without its checker"
    return [_checker.check(payload, now) for payload in payloads]


class CheckPool:
    def __init__(self, spec: CheckerSpec, workers: int) -> None:
        self._spec = spec
        self._workers = workers
        self._executor: Executor | None = None
        self._local: JobChecker | None = None
        self._making = threading.Lock()  # start() runs in a thread beside the loop
        self.rebuilt = 0

    def start(self) -> None:
        """Start the workers now rather than at the first check (it blocks for a while)."""
        pool = self._pool()
        if isinstance(pool, ProcessPoolExecutor):
            # A pool starts its processes at the first task; give it one each.
            futures = [pool.submit(os.getpid) for _ in range(self._workers)]
            for future in futures:
                future.result()

    def _pool(self) -> Executor:
        with self._making:
            return self._executor or self._make()

    def _make(self) -> Executor:
        if self._executor is None:
            if self._workers == 0:
                self._local = self._spec.build()
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="printd-check")
            else:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._executor = ProcessPoolExecutor(
                    self._workers,
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(self._spec,),
                )
        return self._executor

    async def check(self, payloads: Sequence[bytes], now: datetime) -> list[Verdict]:
        """A verdict for each payload, in order."""
        try:
            return await self._check_chunks(payloads, now)
        except BrokenProcessPool:
            self._rebuild()
        verdicts = []
        for payload in payloads:
            try:
                verdicts.extend(await self._check_chunks([payload], now))
            except BrokenProcessPool:
                self._rebuild()
                log.error("job.check_crashed", bytes=len(payload))
                verdicts.append(
                    Verdict(
                        None,
                        rejection=Rejection(
                            RejectReason.CARD_INVALID,
                            "checking this message stopped the station's check process",
                        ),
                    )
                )
        return verdicts

    async def _check_chunks(self, payloads: Sequence[bytes], now: datetime) -> list[Verdict]:
        loop = asyncio.get_running_loop()
        pool = self._pool()
        if self._local is not None:
            local = self._local
            return await loop.run_in_executor(
                pool, lambda: [local.check(payload, now) for payload in payloads]
            )
        chunks = [payloads[i : i + CHUNK] for i in range(0, len(payloads), CHUNK)]
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, _check_chunk, chunk, now) for chunk in chunks)
        )
        return [verdict for chunk in results for verdict in chunk]

    def _rebuild(self) -> None:
        self.rebuilt += 1
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
