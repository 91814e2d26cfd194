"""One printer worker against an in-process simulator, its commits watched.

The worker, the store writer and the driver are the daemon's own; only the
printer is the simulator, in this process so its record of commands can be
read at the moment a commit is asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from stations import add_jobs

from drivers.base import DriverOptions
from drivers.registry import open_driver, open_transport
from printd.config import PrinterSettings, StationSettings
from printd.pipeline.artwork import make_artwork_source
from printd.pipeline.cards import CardPreparer
from printd.pipeline.worker import PrinterWorker
from printd.pipeline.writer import Step, StoreWriter
from printd.render import TemplateLibrary
from printd.serials import parse_serials
from printd.store import JobState, Store
from simulators import local

BLANKS = "WK-000001..WK-000010"
HOLD_S = 0.05


class WatchedWriter(StoreWriter):
    """The store writer, each commit held a moment and the printer's commands
    noted as it is asked for: what the printer did while the card committed."""

    def __init__(self, store: Store, printer: Any) -> None:
        super().__init__(store)
        self._printer = printer
        self.seen_at_commit: list[list[str]] = []

    async def run(self, *steps: Step) -> list[Any]:
        await asyncio.sleep(HOLD_S)
        self.seen_at_commit.append(list(self._printer.commands_seen))
        return await super().run(*steps)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    with Store.open(tmp_path / "state") as opened:
        serials = parse_serials([BLANKS])
        opened.ledger.receive("BOX-1", serials, "t")
        opened.ledger.load("wk-1", serials, "t")
        yield opened
    await local.forget_all()


@asynccontextmanager
async def running(worker: PrinterWorker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def wait_until(task: asyncio.Task[None], done: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if done():
            return
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    raise AssertionError(f"the worker never reached {what}")


async def test_the_next_card_opens_while_the_last_one_commits(store: Store, tmp_path: Path) -> None:
    """While a card's outcome and the next claim commit, the printer has
    already opened the next card but fed nothing; once the queue is empty,
    the opening no card follows is undone."""
    url = f"sim://wk-1?blanks={BLANKS}&speed=5000"
    printer_config = PrinterSettings(name="wk-1", url=url, card_timeout_s=5.0)
    # The simulator the URL names, made as the driver's opener makes it, to watch it.
    _, simulator = open_transport(url, "evolis")
    model: Any = simulator.model
    writer = WatchedWriter(store, model)
    cards = CardPreparer(store, make_artwork_source(TemplateLibrary(), None), processes=False)
    ids = add_jobs(store, 3)
    worker = PrinterWorker(
        printer_config,
        StationSettings(state_dir=tmp_path / "state"),
        store,
        lambda: open_driver("wk-1", "evolis", url, DriverOptions(card_timeout_s=5.0)),
        cards,
        asyncio.Event(),
        writer=writer,
    )
    try:
        async with running(worker) as task:
            await wait_until(
                task,
                lambda: (
                    worker.view.state == "idle"
                    and all(store.jobs.get(j).state is JobState.PRINTED for j in ids)
                ),  # type: ignore[union-attr]
                "three printed cards and an idle printer",
            )
            # Idle, and not left mid-opening: the printer's sequence was reset.
            assert model.commands_seen[-1] == "Srs"
            assert not model.in_sequence
    finally:
        cards.cancel_all()
        writer.close()

    # Commits: the first claim, then each card's outcome with the next claim.
    assert len(writer.seen_at_commit) == 4
    for seen in writer.seen_at_commit[1:]:
        assert seen[-3:] == ["Se", "Pr", "Ss"], seen[-6:]
    assert model.machine.cards_fed == 3
    assert [card.serial for card in model.machine.output] == parse_serials([BLANKS])[:3]
    assert model.commands_seen.count("Ss") == 4
