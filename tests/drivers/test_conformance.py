"""One suite for every driver + simulator pair, over links that deliver
bytes whole, one at a time, and with delays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw

from drivers.base import (
    CardArtwork,
    Driver,
    DriverOptions,
    Issued,
    PrinterFault,
    PrinterState,
    SideArtwork,
    Spoiled,
    SpoilReason,
)
from drivers.evolis import panels
from drivers.evolis.driver import EvolisDriver, EvolisJob, side_stream
from drivers.evolis.protocol import dbc
from drivers.magicard import panels as magicard_panels
from drivers.magicard.driver import MagicardDriver
from drivers.transports.memory import Delivery
from simulators.local import LocalSimulator, MachineChipEncoder, make_model
from simulators.machine import Fault, Machine, expand_serials

AnyDriver = EvolisDriver | MagicardDriver
Planes = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]


@dataclass(frozen=True)
class Pair:
    """What the suite needs to know of one driver + simulator family."""

    driver: type[EvolisDriver] | type[MagicardDriver]
    sides: int
    chip: bool
    jam_detail: str
    color_planes: Callable[[Image.Image | None], Planes]
    # How many cards the printer was asked to open (Evolis ``Ss``; Magicard
    # reads its status before each job).
    openings: Callable[[Any], int]

    def names_model(self, machine: Machine, model: str) -> bool:
        if self.driver is EvolisDriver:
            return model == machine.model
        return model.startswith("Magicard") and machine.serial_number in model


def _evolis_openings(model: Any) -> int:
    return int(model.commands_seen.count("Ss"))


def _magicard_openings(model: Any) -> int:
    return sum(1 for request in model.requests_seen if "DFR" in request)


FAMILIES = {
    "evolis": Pair(EvolisDriver, 2, True, "ERR CARD JAM", panels.color_planes, _evolis_openings),
    "magicard": Pair(
        MagicardDriver, 1, False, "CARD JAM", magicard_panels.color_planes, _magicard_openings
    ),
}
SERIALS = expand_serials("AB-100001..AB-100012")


@dataclass
class Rig:
    driver: AnyDriver
    machine: Machine
    sim: LocalSimulator
    delivery: Delivery
    pair: Pair

    def next_serial(self) -> str:
        return self.machine.feeder[0].serial

    def openings(self) -> int:
        return self.pair.openings(self.sim.model)

    def card(self, chip: bytes | None = None) -> CardArtwork:
        """The test card in the form this family prints (back side if it can)."""
        full = artwork(chip)
        return full if self.pair.sides == 2 else CardArtwork(full.front, None, chip)


@asynccontextmanager
async def make_rig(family: str, delivery: Delivery) -> AsyncIterator[Rig]:
    machine = Machine(speed=5000, reject_capacity=5)
    machine.load(SERIALS)
    sim = LocalSimulator("conformance", make_model(family, machine))
    host = await sim.connect(delivery)
    options = DriverOptions(
        timeout_s=0.5, card_timeout_s=2.0, chip_encoder=MachineChipEncoder(machine)
    )
    pair = FAMILIES[family]
    driver = pair.driver(host, options)
    try:
        async with driver:
            yield Rig(driver, machine, sim, delivery, pair)
    finally:
        await sim.stop()


def _params(keep: Callable[[Pair], bool]) -> list[tuple[str, Delivery]]:
    return [(f, d) for f, pair in FAMILIES.items() if keep(pair) for d in Delivery]


def _ids(param: tuple[str, Delivery]) -> str:
    return f"{param[0]}-{param[1]}"


@pytest.fixture(params=_params(lambda p: True), ids=_ids)
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    async with make_rig(*request.param) as made:
        yield made


@pytest.fixture(params=_params(lambda p: p.sides == 2), ids=_ids)
async def duplex_rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """Families whose printers print both sides of a card."""
    async with make_rig(*request.param) as made:
        yield made


@pytest.fixture(params=_params(lambda p: p.chip), ids=_ids)
async def chip_rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """Families whose drivers encode chips."""
    async with make_rig(*request.param) as made:
        yield made


def artwork(chip: bytes | None = None) -> CardArtwork:
    color = Image.new("RGB", (1016, 648), "white")
    draw = ImageDraw.Draw(color)
    draw.rectangle((40, 40, 300, 360), fill=(200, 30, 60))
    draw.ellipse((600, 100, 950, 500), fill=(20, 120, 220))
    black = Image.new("1", (1016, 648), 0)
    ImageDraw.Draw(black).rectangle((40, 500, 900, 560), fill=1)
    overlay = Image.new("1", (1016, 648), 1)
    ImageDraw.Draw(overlay).rectangle((100, 200, 200, 300), fill=0)  # chip window
    back_black = Image.new("1", (1016, 648), 0)
    ImageDraw.Draw(back_black).text((50, 50), "ID 3521 0000 1111", fill=1)
    return CardArtwork(
        SideArtwork(color, black, overlay), SideArtwork(None, back_black), chip_data=chip
    )


async def test_driver_satisfies_the_interface(rig: Rig) -> None:
    """The driver is a drivers.base.Driver and names the printer's model."""
    assert isinstance(rig.driver, Driver)
    assert rig.pair.names_model(rig.machine, rig.driver.capabilities.model)
    assert rig.driver.capabilities.sides == rig.pair.sides


async def test_status_of_an_idle_printer(rig: Rig) -> None:
    """A loaded, closed, idle printer is ready, with its ribbon count."""
    status = await rig.driver.status()
    assert status.state is PrinterState.READY
    assert status.faults == frozenset()
    assert status.ribbon_prints_left == rig.machine.ribbon_left
    assert not status.card_inside
    assert not status.blocked


@pytest.mark.parametrize(
    ("fault", "state"),
    [
        (Fault.COVER_OPEN, PrinterState.COVER_OPEN),
        (Fault.FEEDER_EMPTY, PrinterState.FEEDER_EMPTY),
        (Fault.REJECT_BIN_FULL, PrinterState.REJECT_BIN_FULL),
        (Fault.RIBBON_OUT, PrinterState.RIBBON_OUT),
    ],
)
async def test_status_decodes_blocking_conditions(
    rig: Rig, fault: Fault, state: PrinterState
) -> None:
    """Each sensor or error condition is reported as its printer state."""
    rig.machine.inject(fault)
    status = await rig.driver.status()
    assert status.state is state
    assert status.blocked
    rig.machine.clear(fault)
    assert (await rig.driver.status()).state is PrinterState.READY


async def test_low_ribbon_is_a_warning_not_a_stop(rig: Rig) -> None:
    """Few prints left is reported but does not block the printer."""
    rig.machine.ribbon_left = 3
    status = await rig.driver.status()
    assert PrinterState.RIBBON_LOW in status.faults
    assert not status.blocked
    assert status.ribbon_prints_left == 3


async def test_single_sided_card_lands_in_output_with_its_picture(rig: Rig) -> None:
    """A front-only job issues the next blank and prints the exact panels."""
    card = CardArtwork(artwork().front)
    serial = rig.next_serial()
    ribbon = rig.machine.ribbon_left
    outcome = await rig.driver.print_card(rig.driver.prepare(card), serial)
    assert outcome == Issued(serial)
    [printed] = rig.machine.output
    assert printed.serial == serial
    assert rig.machine.ribbon_left == ribbon - 1
    assert list(printed.sides) == ["front"]
    front = {p.panel: p for p in printed.sides["front"]}
    assert sorted(front) == ["c", "k", "m", "o", "y"]
    yellow, magenta, cyan = rig.pair.color_planes(card.front.color)
    assert (front["y"].plane == yellow).all()
    assert (front["m"].plane == magenta).all()
    assert (front["c"].plane == cyan).all()
    black = np.asarray(front["k"].image())
    assert black[530, 500] == 255
    assert black[300, 500] == 0
    overlay_image = np.asarray(front["o"].image())
    assert overlay_image[250, 150] == 0
    assert overlay_image[400, 600] == 255
    assert (await rig.driver.status()).state is PrinterState.READY


async def test_dual_sided_card_lands_in_output_with_its_picture(duplex_rig: Rig) -> None:
    """A full two-sided job issues the next blank and prints the exact panels."""
    rig = duplex_rig
    card = artwork()
    serial = rig.next_serial()
    ribbon = rig.machine.ribbon_left
    outcome = await rig.driver.print_card(rig.driver.prepare(card), serial)
    assert outcome == Issued(serial)
    [printed] = rig.machine.output
    assert printed.serial == serial
    assert rig.machine.ribbon_left == ribbon - 2
    front = {p.panel: p.plane for p in printed.sides["front"]}
    back = {p.panel: p.plane for p in printed.sides["back"]}
    yellow, magenta, cyan = panels.color_planes(card.front.color)
    assert (front["y"] == yellow).all()
    assert (front["m"] == magenta).all()
    assert (front["c"] == cyan).all()
    # The overlay leaves the chip window clear, the back carries black text only.
    overlay_image = np.asarray(printed.sides["front"][4].image())
    assert overlay_image[250, 150] == 0
    assert overlay_image[400, 600] == 255
    assert back["k"].any()
    assert not back["y"].any()
    assert (await rig.driver.status()).state is PrinterState.READY


async def test_chip_card_is_encoded_at_the_station(chip_rig: Rig) -> None:
    """Chip data is written to the parked blank; Issued carries its UID."""
    rig = chip_rig
    serial = rig.next_serial()
    outcome = await rig.driver.print_card(rig.driver.prepare(artwork(b"\x01\x02")), serial)
    assert isinstance(outcome, Issued)
    [printed] = rig.machine.output
    assert outcome.chip_uid == printed.chip_uid
    assert printed.chip_data == b"\x01\x02"


async def test_chip_failure_rejects_the_card(chip_rig: Rig) -> None:
    """A failed chip write sends the blank to the reject bin as chip_error."""
    rig = chip_rig
    serial = rig.next_serial()
    rig.machine.inject(Fault.CHIP_FAIL)
    outcome = await rig.driver.print_card(rig.driver.prepare(artwork(b"\x09")), serial)
    assert isinstance(outcome, Spoiled)
    assert outcome.reason is SpoilReason.CHIP_ERROR
    assert outcome.serial == serial
    assert [c.serial for c in rig.machine.reject] == [serial]
    assert not rig.machine.output


async def test_jam_spoils_the_card_and_blocks_until_cleared(rig: Rig) -> None:
    """A jam at feed spoils that blank; after clearing, the next card prints."""
    prepared = rig.driver.prepare(rig.card())
    serial = rig.next_serial()
    rig.machine.inject(Fault.JAM)
    outcome = await rig.driver.print_card(prepared, serial)
    assert outcome == Spoiled(serial, SpoilReason.JAM, rig.pair.jam_detail)
    assert (await rig.driver.status()).state is PrinterState.CARD_JAM
    blocked = await rig.driver.print_card(prepared, rig.next_serial())
    assert isinstance(blocked, PrinterFault)
    assert not blocked.card_fed
    rig.machine.clear(Fault.JAM)
    assert [c.serial for c in rig.machine.reject] == [serial]
    after = rig.next_serial()
    assert await rig.driver.print_card(prepared, after) == Issued(after)


async def test_double_feed_spoils_two_blanks(rig: Rig) -> None:
    """Two blanks taken at once are a misfeed with one extra blank spoiled."""
    serial = rig.next_serial()
    rig.machine.inject(Fault.DOUBLE_FEED)
    outcome = await rig.driver.print_card(rig.driver.prepare(rig.card()), serial)
    assert isinstance(outcome, Spoiled)
    assert (outcome.serial, outcome.reason, outcome.extra_blanks) == (
        serial,
        SpoilReason.MISFEED,
        1,
    )
    assert [c.serial for c in rig.machine.reject] == SERIALS[:2]


async def test_no_pick_is_a_fault_without_a_blank(rig: Rig) -> None:
    """A feed that took no card reports a fault with card_fed false; a retry works."""
    serial = rig.next_serial()
    rig.machine.inject(Fault.NO_PICK)
    prepared = rig.driver.prepare(rig.card())
    outcome = await rig.driver.print_card(prepared, serial)
    assert isinstance(outcome, PrinterFault)
    assert not outcome.card_fed
    assert rig.machine.feeder[0].serial == serial
    assert await rig.driver.print_card(prepared, serial) == Issued(serial)


@pytest.mark.parametrize(
    ("fault", "state"),
    [
        (Fault.COVER_OPEN, PrinterState.COVER_OPEN),
        (Fault.FEEDER_EMPTY, PrinterState.FEEDER_EMPTY),
        (Fault.REJECT_BIN_FULL, PrinterState.REJECT_BIN_FULL),
        (Fault.RIBBON_OUT, PrinterState.RIBBON_OUT),
    ],
)
async def test_blocking_fault_stops_before_feeding(
    rig: Rig, fault: Fault, state: PrinterState
) -> None:
    """A blocked printer takes no blank and says why; clearing it recovers."""
    prepared = rig.driver.prepare(rig.card())
    serial = rig.next_serial()
    rig.machine.inject(fault)
    outcome = await rig.driver.print_card(prepared, serial)
    assert isinstance(outcome, PrinterFault)
    assert not outcome.card_fed
    assert outcome.status.state is state
    assert rig.machine.cards_fed == 0
    rig.machine.clear(fault)
    assert await rig.driver.print_card(prepared, serial) == Issued(serial)


async def opened_ahead(rig: Rig) -> None:
    """Open the next card as the station does, and let the printer answer."""
    before = rig.openings()
    rig.driver.begin_next_card()
    rig.driver.begin_next_card()  # a second call before the card sends nothing more
    for _ in range(200):
        if rig.openings() > before:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.02)
    assert rig.openings() == before + 1, "the opening did not reach the printer ahead"


async def test_a_card_opened_ahead_prints_without_opening_again(rig: Rig) -> None:
    """The opening sent while the station commits feeds nothing, and the next
    card takes its answer up instead of opening again."""
    prepared = rig.driver.prepare(rig.card())
    printed = []
    for _ in range(2):
        await opened_ahead(rig)
        assert rig.machine.cards_fed == len(printed)
        serial = rig.next_serial()
        assert await rig.driver.print_card(prepared, serial) == Issued(serial)
        printed.append(serial)
    assert rig.openings() == 2
    assert [c.serial for c in rig.machine.output] == printed
    assert rig.driver.pending_waiters == 0


async def test_an_opening_no_card_follows_is_undone(rig: Rig) -> None:
    """Abandoned, the opening leaves no blank fed and the printer ready; the
    next card opens afresh. Abandoning with nothing opened does nothing."""
    await rig.driver.abandon_next_card()
    await opened_ahead(rig)
    await rig.driver.abandon_next_card()
    assert rig.machine.cards_fed == 0
    assert rig.driver.pending_waiters == 0
    if rig.pair.driver is EvolisDriver:
        assert rig.sim.model.commands_seen[-1] == "Srs"
        assert not rig.sim.model.in_sequence
    assert (await rig.driver.status()).state is PrinterState.READY
    opened = rig.openings()
    serial = rig.next_serial()
    assert await rig.driver.print_card(rig.driver.prepare(rig.card()), serial) == Issued(serial)
    assert rig.openings() == opened + 1


async def test_status_undoes_an_opening_first(rig: Rig) -> None:
    """Asked for its status between cards, the printer is not left mid-opening."""
    await opened_ahead(rig)
    assert (await rig.driver.status()).state is PrinterState.READY
    if rig.pair.driver is EvolisDriver:
        assert "Srs" in rig.sim.model.commands_seen
        assert not rig.sim.model.in_sequence
    serial = rig.next_serial()
    assert await rig.driver.print_card(rig.driver.prepare(rig.card()), serial) == Issued(serial)


async def test_a_fault_found_by_the_opening_stops_before_feeding(rig: Rig) -> None:
    """A cover opened before the opening went out: the card is a fault with
    no blank fed, exactly as when the card opens itself."""
    prepared = rig.driver.prepare(rig.card())
    serial = rig.next_serial()
    rig.machine.inject(Fault.COVER_OPEN)
    await opened_ahead(rig)
    outcome = await rig.driver.print_card(prepared, serial)
    assert isinstance(outcome, PrinterFault)
    assert not outcome.card_fed
    assert outcome.status.state is PrinterState.COVER_OPEN
    assert rig.machine.cards_fed == 0
    rig.machine.clear(Fault.COVER_OPEN)
    assert await rig.driver.print_card(prepared, serial) == Issued(serial)


async def test_an_opening_to_a_silent_printer_is_a_fault_without_a_blank(rig: Rig) -> None:
    """No answer to the opening: the card is an offline fault with no blank
    fed, abandoning one raises nothing, and no waiter is left behind."""
    rig.machine.inject(Fault.SILENT)
    rig.driver.begin_next_card()
    await rig.driver.abandon_next_card()
    rig.driver.begin_next_card()
    outcome = await rig.driver.print_card(rig.driver.prepare(rig.card()), rig.next_serial())
    assert isinstance(outcome, PrinterFault)
    assert not outcome.card_fed
    assert outcome.status.state is PrinterState.OFFLINE
    assert rig.machine.cards_fed == 0
    assert rig.driver.pending_waiters == 0


async def test_closing_with_an_opening_in_flight_leaves_no_waiter(rig: Rig) -> None:
    """A link closed while the opening's answer is awaited waits for nothing."""
    rig.machine.inject(Fault.SILENT)
    host = await rig.sim.connect(rig.delivery)
    fresh = rig.pair.driver(host, rig.driver.options)
    async with fresh:
        fresh.begin_next_card()
        await asyncio.sleep(0.01)
        assert fresh.pending_waiters == 1
    assert fresh.pending_waiters == 0


async def test_ribbon_running_out_mid_card_spoils_it(duplex_rig: Rig) -> None:
    """The ribbon ending during a two-sided card rejects it as print_error."""
    rig = duplex_rig
    prepared = rig.driver.prepare(rig.card())
    serial = rig.next_serial()
    rig.machine.inject(Fault.RIBBON_OUT, after=1)
    outcome = await rig.driver.print_card(prepared, serial)
    assert isinstance(outcome, Spoiled)
    assert outcome.reason is SpoilReason.PRINT_ERROR
    assert [c.serial for c in rig.machine.reject] == [serial]
    assert (await rig.driver.status()).state is PrinterState.RIBBON_OUT


async def test_silent_printer_times_out_and_leaves_no_waiter(rig: Rig) -> None:
    """A printer that stops answering is offline; no waiter is left pending."""
    rig.machine.inject(Fault.SILENT)
    status = await rig.driver.status()
    assert status.state is PrinterState.OFFLINE
    assert rig.driver.pending_waiters == 0
    outcome = await rig.driver.print_card(rig.driver.prepare(rig.card()), rig.next_serial())
    assert isinstance(outcome, PrinterFault)
    assert not outcome.card_fed
    assert rig.driver.pending_waiters == 0
    rig.machine.clear(Fault.SILENT)
    assert (await rig.driver.status()).state is PrinterState.READY


async def test_garbage_on_the_line_is_resynchronised(rig: Rig) -> None:
    """Noise before replies neither loses a reply nor fails the card."""
    rig.machine.inject(Fault.GARBAGE, count=50)
    assert (await rig.driver.status()).state is PrinterState.READY
    serial = rig.next_serial()
    rig.machine.inject(Fault.GARBAGE, count=200)
    assert await rig.driver.print_card(rig.driver.prepare(rig.card()), serial) == Issued(serial)


async def test_power_loss_mid_card_is_a_fault_with_the_card_fed(rig: Rig) -> None:
    """Power cut while printing: fate unknown, card_fed true; power-on clears it."""
    serial = rig.next_serial()
    rig.machine.inject(Fault.POWER_LOSS)
    outcome = await rig.driver.print_card(rig.driver.prepare(rig.card()), serial)
    assert isinstance(outcome, PrinterFault)
    assert outcome.card_fed
    assert outcome.status.state is PrinterState.OFFLINE
    assert rig.driver.pending_waiters == 0
    rig.machine.clear(Fault.POWER_LOSS)
    assert [(c.serial, c.note) for c in rig.machine.reject] == [(serial, "cleared at power-on")]
    assert (await rig.driver.status()).state is PrinterState.READY


async def test_link_drop_reports_offline_and_a_new_link_recovers(rig: Rig) -> None:
    """A dropped link makes the printer offline; reconnecting brings it back."""
    rig.machine.inject(Fault.LINK_DROP)
    await asyncio.sleep(0.1)
    assert (await rig.driver.status()).state is PrinterState.OFFLINE
    rig.machine.clear(Fault.LINK_DROP)
    host = await rig.sim.connect(rig.delivery)
    async with rig.pair.driver(host, rig.driver.options) as fresh:
        assert (await fresh.status()).state is PrinterState.READY
        serial = rig.next_serial()
        assert await fresh.print_card(fresh.prepare(rig.card()), serial) == Issued(serial)


async def test_card_prepared_for_another_family_is_refused(rig: Rig) -> None:
    """A PreparedCard from another driver is a clear error, nothing is fed."""
    from drivers.base import PreparedCard

    with pytest.raises(ValueError, match="prepared for"):
        await rig.driver.print_card(PreparedCard("other", object(), 1), "AB-1")
    assert rig.machine.cards_fed == 0


@pytest.mark.parametrize("delivery", list(Delivery), ids=str)
async def test_evolis_panel_refused_mid_stream_rejects_the_card(delivery: Delivery) -> None:
    """A side's panels go out as one stream. One refused in the middle rejects
    the card, and the replies to the panels after it answer nothing later."""
    async with make_rig("evolis", delivery) as rig:
        card = rig.card()
        prepared = rig.driver.prepare(card)
        assert isinstance(prepared.payload, EvolisJob)
        front_panels = panels.encode_side(card.front)
        front, back = prepared.payload.sides
        assert front == side_stream(0, front_panels)
        bad_cyan = dbc("c", 32, b"\xff\x00")
        broken_front = side_stream(0, (*front_panels[:2], bad_cyan, *front_panels[3:]))
        broken = replace(prepared, payload=EvolisJob((broken_front, back)))
        serial = rig.next_serial()
        outcome = await rig.driver.print_card(broken, serial)
        assert isinstance(outcome, Spoiled)
        assert outcome.reason is SpoilReason.PRINT_ERROR
        assert [c.serial for c in rig.machine.reject] == [serial]
        assert rig.machine.output == []
        assert rig.driver.pending_waiters == 0

        serial = rig.next_serial()
        assert await rig.driver.print_card(prepared, serial) == Issued(serial)
        assert [c.serial for c in rig.machine.output] == [serial]
        assert sorted(rig.machine.output[0].sides) == ["back", "front"]


@pytest.mark.parametrize("delivery", list(Delivery), ids=str)
async def test_evolis_printer_silent_during_a_stream_names_what_it_answered(
    delivery: Delivery,
) -> None:
    """Power lost as the back side's stream turns the card (``Sv`` prints the
    front): a fault with the card fed, and the message says how far the
    printer got."""
    async with make_rig("evolis", delivery) as rig:
        rig.machine.inject(Fault.POWER_LOSS)
        outcome = await rig.driver.print_card(rig.driver.prepare(rig.card()), rig.next_serial())
        assert isinstance(outcome, PrinterFault)
        assert outcome.card_fed
        assert outcome.detail.startswith("no reply to Sv+Dbc within")
        assert outcome.detail.endswith("(0 of 6 answered)")
