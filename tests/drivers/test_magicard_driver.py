"""Magicard behaviour the shared suite cannot reach: trouble in the middle of
a single-sided card, and what the driver refuses to prepare."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from drivers.base import (
    CardArtwork,
    DriverOptions,
    PrinterFault,
    PrinterState,
    SideArtwork,
    Spoiled,
    SpoilReason,
)
from drivers.magicard.driver import MagicardDriver
from simulators.local import LocalSimulator, make_model
from simulators.machine import Fault, Machine, expand_serials


async def print_with_fault_after_feed(*faults: Fault) -> tuple[object, Machine]:
    """Print one card; once the blank has left the feeder, inject ``faults``."""
    machine = Machine(speed=10)
    machine.load(expand_serials("MC-001..MC-005"))
    sim = LocalSimulator("mid-card", make_model("magicard", machine))
    driver = MagicardDriver(await sim.connect(), DriverOptions(timeout_s=1, card_timeout_s=10))
    try:
        async with driver:
            prepared = driver.prepare(CardArtwork(SideArtwork(Image.new("RGB", (1016, 648)))))
            task = asyncio.create_task(driver.print_card(prepared, "MC-001"))
            # The simulator takes 0.1 s to feed; the fault lands before printing.
            while machine.card is None:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            for fault in faults:
                machine.inject(fault)
            outcome = await task
            assert driver.pending_waiters == 0
    finally:
        await sim.stop()
    return outcome, machine


async def test_ribbon_ending_mid_card_rejects_it_as_print_error() -> None:
    """The dye film ending after the feed puts the card in the reject box."""
    outcome, machine = await print_with_fault_after_feed(Fault.RIBBON_OUT)
    assert outcome == Spoiled("MC-001", SpoilReason.PRINT_ERROR, "DYE FILM END")
    assert [c.serial for c in machine.reject] == ["MC-001"]
    assert not machine.output


async def test_card_that_cannot_be_rejected_is_a_fault_with_the_card_fed() -> None:
    """With the reject box full too, the card stays inside: card_fed, blocked."""
    outcome, machine = await print_with_fault_after_feed(Fault.RIBBON_OUT, Fault.REJECT_BIN_FULL)
    assert isinstance(outcome, PrinterFault)
    assert outcome.card_fed
    assert outcome.status.state is PrinterState.RIBBON_OUT
    assert PrinterState.REJECT_BIN_FULL in outcome.status.faults
    assert outcome.status.card_inside
    assert machine.card is not None
    assert machine.card.serial == "MC-001"


def test_two_sided_and_chip_cards_are_refused_at_prepare() -> None:
    """This driver prints one side without a chip; asking more is a clear error."""
    from drivers.transports.memory import memory_pair

    driver = MagicardDriver(memory_pair()[0])
    side = SideArtwork(None)
    with pytest.raises(ValueError, match="single-sided"):
        driver.prepare(CardArtwork(side, side))
    with pytest.raises(ValueError, match="chip"):
        driver.prepare(CardArtwork(side, chip_data=b"\x01"))


async def test_sim_url_builds_a_magicard_printer_for_the_magicard_driver() -> None:
    """sim://NAME with driver magicard gets a Magicard simulator that prints."""
    from drivers.base import Issued
    from drivers.registry import open_driver
    from simulators import local

    try:
        async with open_driver(
            "desk-3", "magicard", "sim://mc-url?blanks=MC-1..MC-3&speed=5000", DriverOptions()
        ) as driver:
            assert local.get("mc-url").model.family == "magicard"
            assert (await driver.status()).ribbon_prints_left == 250
            prepared = driver.prepare(CardArtwork(SideArtwork(None)))
            assert await driver.print_card(prepared, "MC-1") == Issued("MC-1")
        with pytest.raises(ValueError, match="magicard printer, not evolis"):
            local.get_or_create("mc-url", "evolis", {})
    finally:
        await local.forget_all()
