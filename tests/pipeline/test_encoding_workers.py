"""Card-encoding workers run below the daemon's CPU priority."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from printd.pipeline.encoding import WORKER_NICE, start_worker


def test_workers_are_niced_below_the_daemon() -> None:
    with ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_worker,
        initargs=("warning",),
    ) as pool:
        worker_nice = pool.submit(os.nice, 0).result()
    assert worker_nice == min(19, os.nice(0) + WORKER_NICE)
