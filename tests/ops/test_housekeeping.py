"""The station's periodic upkeep: its work, done beside the event loop, not on it."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stations import accept_job

from printd.config import Settings, StationSettings
from printd.housekeeping import Housekeeping
from printd.serials import parse_serials
from printd.store import JobState, Store


def settings(tmp_path: Path) -> Settings:
    return Settings(station=StationSettings(state_dir=tmp_path / "state", low_stock_threshold=5))


async def test_a_pass_expires_warns_and_publishes_the_inventory(tmp_path: Path) -> None:
    """One pass: the expired job reported, the low stock raised once, the inventory
    queued; the loop is told, and a second pass with nothing new queues nothing."""
    with Store.open(tmp_path / "state", daemon=True) as store:
        store.ledger.receive("BOX-1", parse_serials(["AB-1..AB-3"]), "t")
        with store.transaction() as conn:
            accept_job(store, conn, "late", not_after=datetime.now(UTC) - timedelta(seconds=1))
            accept_job(store, conn, "fine")
        stop = asyncio.Event()
        told: list[int] = []

        def on_outbox() -> None:
            told.append(store.outbox.depth())
            stop.set()

        upkeep = Housekeeping(store, settings(tmp_path), inventory=True)
        async with asyncio.timeout(10):
            await upkeep.run(stop, on_outbox)
        assert store.jobs.require("late").state is JobState.EXPIRED
        assert store.jobs.require("fine").state is JobState.QUEUED
        topics = sorted(m.topic for m in store.outbox.pending(100))
        assert topics == ["events", "inventory", "results"]
        assert told == [3]
        assert upkeep.run_pass(store) is False  # nothing new: no second warning or inventory
        assert store.outbox.depth() == 3


async def test_a_slow_pass_leaves_the_event_loop_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a pass takes its time (a storeroom of a million blanks takes about
    a quarter of a second), the loop goes on serving everything else."""
    with Store.open(tmp_path / "state", daemon=True) as store:
        upkeep = Housekeeping(store, settings(tmp_path), inventory=False)
        in_pass = threading.Event()
        loop_ran = threading.Event()
        passes: list[bool] = []

        def slow_pass(db: Store) -> bool:
            in_pass.set()
            # On the event loop this would wait out its whole timeout.
            passes.append(loop_ran.wait(timeout=5))
            return False

        monkeypatch.setattr(upkeep, "run_pass", slow_pass)
        stop = asyncio.Event()
        task = asyncio.create_task(upkeep.run(stop, lambda: None))
        async with asyncio.timeout(10):
            # A thread's event: nothing on the loop can be awaited for it.
            while not in_pass.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            loop_ran.set()
            stop.set()
            await task
        assert passes == [True]
