"""Card-encoding worker processes: replies, a worker that dies, niceness and shutdown.

A worker reads the job's stored message from the station's database itself;
here the store holds ``JOB`` (a printable card) and ``NOT_JSON``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from card_encoders import UnloadableArtwork, kill_own_process
from processes import alive, nice
from stations import artwork_png

from drivers.evolis.driver import prepare_card
from printd.pipeline.artwork import ArtworkRenderer
from printd.pipeline.card_workers import RESTART_MAX_S, CardWorkers, WorkerDied, restart_delay
from printd.pipeline.encoding import PAYLOAD_GONE, WORKER_NICE, CardNotPrintable
from printd.store import Store

PAYLOAD = json.dumps({"card": {"kind": "artwork", "front": artwork_png()}}).encode()


JOB, NOT_JSON = "job-1", "job-not-json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path) as opened:
        with opened.transaction() as conn:
            for job_id, payload in ((JOB, PAYLOAD), (NOT_JSON, b"not json")):
                opened.jobs.accept(
                    conn,
                    job_id=job_id,
                    priority="normal",
                    not_after=datetime.now(UTC) + timedelta(hours=1),
                    payload=payload,
                    content_hash="h",
                    key_id="k",
                )
        yield opened


@pytest.fixture
async def workers(store: Store) -> AsyncIterator[CardWorkers]:
    pool = CardWorkers(2, ArtworkRenderer(None), store.path, "warning")
    try:
        yield pool
    finally:
        pool.close()


async def _until(check: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_worker_prepares_the_card_the_daemon_would(workers: CardWorkers) -> None:
    card, cpu_s = await workers.prepare(prepare_card, JOB)
    assert card == prepare_card(ArtworkRenderer(None)(PAYLOAD))
    assert cpu_s > 0


async def test_a_job_whose_message_is_gone_is_not_printable(
    workers: CardWorkers, store: Store
) -> None:
    """The worker reads the stored message when the card is asked for: a
    message purged meanwhile (or a job never stored) is an error, not a crash."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM job_payloads")
    for job_id in (JOB, "no-such-job"):
        with pytest.raises(CardNotPrintable, match=re.escape(PAYLOAD_GONE)):
            await workers.prepare(prepare_card, job_id)
    assert len(workers.pids()) == 2


async def test_cards_asked_together_are_spread_over_the_workers(workers: CardWorkers) -> None:
    cards = await asyncio.gather(*(workers.prepare(prepare_card, JOB) for _ in range(6)))
    assert len({card for card, _ in cards}) == 1
    assert len(workers.pids()) == 2


async def test_an_unprintable_card_is_an_error_and_the_worker_goes_on(
    workers: CardWorkers,
) -> None:
    with pytest.raises(CardNotPrintable, match="cannot be read"):
        await workers.prepare(prepare_card, NOT_JSON)
    card, _ = await workers.prepare(prepare_card, JOB)
    assert card.sides == 1


async def test_workers_killed_while_idle_are_replaced_for_the_next_card(
    workers: CardWorkers,
) -> None:
    await workers.warm(prepare_card)
    killed = workers.pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    await _until(lambda: not set(workers.pids()) & set(killed))
    card, _ = await workers.prepare(prepare_card, JOB)
    assert card.sides == 1
    assert len(workers.pids()) == 2
    assert not set(workers.pids()) & set(killed)
    assert not any(alive(pid) for pid in killed)


async def test_a_worker_that_cannot_start_is_not_restarted_in_a_loop(store: Store) -> None:
    """Each try of a card starts a worker; with no card asking, they come back slowly."""
    workers = CardWorkers(2, UnloadableArtwork(), store.path, "warning")  # type: ignore[arg-type]
    try:
        for _ in range(3):
            with pytest.raises(WorkerDied):
                await workers.prepare(prepare_card, JOB)
        spawned = workers.spawned
        await asyncio.sleep(1.5)
        # The pause after three short lives in a row is 8 s.
        assert workers.spawned == spawned
    finally:
        workers.close()


def test_the_restart_pause_doubles_up_to_its_cap_however_many_short_lives() -> None:
    """A station whose workers cannot live goes through thousands of them in a
    long batch; the pause must stay at the cap, not fail to compute."""
    assert [restart_delay(n) for n in range(5)] == [0.0, 2.0, 4.0, 8.0, 16.0]
    assert restart_delay(6) == RESTART_MAX_S
    assert restart_delay(1_024) == RESTART_MAX_S
    assert restart_delay(10**9) == RESTART_MAX_S


async def test_a_card_that_kills_its_worker_fails_and_the_next_card_prints(
    workers: CardWorkers,
) -> None:
    with pytest.raises(WorkerDied):
        await workers.prepare(kill_own_process, JOB)
    card, _ = await workers.prepare(prepare_card, JOB)
    assert card.sides == 1


async def test_workers_run_below_the_daemons_priority(workers: CardWorkers) -> None:
    await workers.warm(prepare_card)
    for pid in workers.pids():
        assert nice(pid) == min(19, os.nice(0) + WORKER_NICE)
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # only the workers gave way, not the daemon


async def test_closing_ends_every_worker(workers: CardWorkers) -> None:
    await workers.warm(prepare_card)
    pids = workers.pids()
    assert len(pids) == 2
    workers.close()
    await _until(lambda: not any(alive(pid) for pid in pids))
    assert workers.pids() == []
