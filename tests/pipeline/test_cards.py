"""Cards prepared in worker processes: the panels a thread makes, and a dead worker survived."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from card_encoders import kill_own_process
from stations import add_jobs

from drivers.base import DriverOptions
from drivers.evolis.driver import EvolisDriver
from drivers.transports.memory import memory_pair
from printd.pipeline.artwork import ArtworkRenderer
from printd.pipeline.cards import CardNotPrintable, CardPreparer
from printd.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path) as opened:
        add_jobs(opened, 3)
        yield opened


def driver() -> EvolisDriver:
    return EvolisDriver(memory_pair()[0], DriverOptions())


async def test_worker_processes_prepare_the_same_panels_as_a_thread(store: Store) -> None:
    """A card encoded in a worker process is byte for byte the card encoded in the daemon."""
    artwork = ArtworkRenderer(None)
    in_processes = CardPreparer(store, artwork)
    in_threads = CardPreparer(store, artwork, processes=False)
    try:
        a = await in_processes.get("job-00000", driver())
        b = await in_threads.get("job-00000", driver())
    finally:
        in_processes.cancel_all()
        in_threads.cancel_all()
    assert in_processes.in_processes == 1
    assert in_threads.in_processes == 0
    assert a == b


async def test_killed_workers_do_not_fail_the_card(store: Store) -> None:
    """Workers killed while idle are replaced, and the next card is prepared."""
    cards = CardPreparer(store, ArtworkRenderer(None))
    try:
        await cards.get("job-00000", driver())
        killed = cards.worker_pids()
        assert len(killed) == 2
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        prepared = await cards.get("job-00001", driver())
        assert not set(cards.worker_pids()) & set(killed)
    finally:
        cards.cancel_all()
    assert prepared.sides == 1


class _WorkerKillingDriver(EvolisDriver):
    card_encoder = staticmethod(kill_own_process)


async def test_a_card_that_kills_every_worker_it_reaches_is_not_printable(store: Store) -> None:
    """Two workers, three tries: a worker started after the first death died too."""
    cards = CardPreparer(store, ArtworkRenderer(None))
    try:
        with pytest.raises(CardNotPrintable, match="died 3 times"):
            await cards.get("job-00000", _WorkerKillingDriver(memory_pair()[0], DriverOptions()))
        prepared = await cards.get("job-00001", driver())
    finally:
        cards.cancel_all()
    assert prepared.sides == 1
