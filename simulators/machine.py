"""The mechanics of a card printer, shared by every simulated family.

Knows nothing of bytes or transports: a feeder of serial-numbered blanks, a
ribbon with a print count, a card path with a chip station, output and reject
bins that remember which blank landed where and what was printed on it, and
faults set through :meth:`Machine.inject` (the control API), never through the
printer's command channel. Each step reports how long it takes; the serving
layer sleeps that long, divided by the speed factor.
"""

from __future__ import annotations

import enum
import random
import re
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from drivers.evolis.panels import DecodedPanel


class Fault(enum.StrEnum):
    """Faults a technician (or a test) can cause through the control API."""

    JAM = "jam"  # the next card fed jams inside
    DOUBLE_FEED = "double-feed"  # the next feed takes two blanks
    NO_PICK = "no-pick"  # the next feed takes no blank
    RIBBON_OUT = "ribbon-out"  # after N more prints (arg "after", default 0)
    COVER_OPEN = "cover-open"
    FEEDER_EMPTY = "feeder-empty"  # the feeder sensor reads empty
    REJECT_BIN_FULL = "reject-bin-full"
    CHIP_FAIL = "chip-fail"  # the next chip write fails
    SILENT = "silent"  # stops answering
    GARBAGE = "garbage"  # line noise before the next reply (arg "count")
    LINK_DROP = "link-drop"  # the link is cut
    POWER_LOSS = "power-loss"  # power cut while the next card is printing


# Faults that can strike at random (seeded) when a card is fed.
RANDOM_FAULTS = (Fault.JAM, Fault.DOUBLE_FEED, Fault.NO_PICK, Fault.CHIP_FAIL, Fault.GARBAGE)


class Step(enum.StrEnum):
    QUERY = "query"
    FEED = "feed"
    CHIP_PARK = "chip_park"
    PRINT_PANEL = "print_panel"
    EJECT = "eject"
    REJECT = "reject"


# Seconds per step at speed 1, close to a desktop retransfer printer.
REAL_TIMINGS: dict[Step, float] = {
    Step.QUERY: 0.005,
    Step.FEED: 1.0,
    Step.CHIP_PARK: 0.8,
    Step.PRINT_PANEL: 2.4,
    Step.EJECT: 1.0,
    Step.REJECT: 1.0,
}


class Trouble(enum.StrEnum):
    """Why the machine refused or failed a step (a family maps it to a reply)."""

    COVER_OPEN = "cover_open"
    FEEDER_EMPTY = "feeder_empty"
    NO_PICK = "no_pick"
    DOUBLE_FEED = "double_feed"
    RIBBON_OUT = "ribbon_out"
    CARD_JAM = "card_jam"
    REJECT_BIN_FULL = "reject_bin_full"
    NO_CARD = "no_card"
    CARD_INSIDE = "card_inside"
    CHIP_FAIL = "chip_fail"


class MachineError(Exception):
    def __init__(self, trouble: Trouble, detail: str = "") -> None:
        super().__init__(f"{trouble}: {detail}" if detail else str(trouble))
        self.trouble = trouble


class PowerCut(Exception):
    """The power went while a card was inside: no reply, state lost."""


@dataclass(frozen=True, slots=True)
class Blank:
    serial: str
    chip_uid: str


class Position(enum.StrEnum):
    NONE = "none"
    PRINT = "print"
    CONTACT = "contact"
    CONTACTLESS = "contactless"


@dataclass(slots=True)
class Card:
    """A blank on its way through the printer, and what was done to it."""

    serial: str
    chip_uid: str
    sides: dict[str, list[DecodedPanel]] = field(default_factory=dict)
    chip_data: bytes | None = None
    note: str = ""
    # Set when the card's pictures were dropped to save memory (see keep_pictures).
    frozen_summary: dict[str, Any] | None = None

    def forget_pictures(self) -> None:
        if self.frozen_summary is None:
            self.frozen_summary = self.summary()
            self.sides = {}

    def summary(self) -> dict[str, Any]:
        if self.frozen_summary is not None:
            return self.frozen_summary
        return {
            "serial": self.serial,
            "chip_uid": self.chip_uid,
            "chip_data": self.chip_data.hex() if self.chip_data is not None else None,
            "sides": {side: [p.panel for p in panels] for side, panels in self.sides.items()},
            "inked": {
                side: {p.panel: int(np.count_nonzero(p.plane)) for p in panels}
                for side, panels in self.sides.items()
            },
            "note": self.note,
        }


# Line noise never contains CR, NUL or printable ASCII, so it cannot pass for
# a reply; a reply parser must still drop it without losing the reply after.
NOISE_BYTES = (*range(1, 13), *range(14, 32), *range(127, 256))

_RANGE = re.compile(r"^(?P<prefix>.*?)(?P<first>\d+)\.\.(?P=prefix)?(?P<last>\d+)$")


def expand_serials(spec: str) -> list[str]:
    """``AB-100001..AB-100100`` (or ``..100100``) to the list of serials."""
    match = _RANGE.match(spec.strip())
    if match is None:
        raise ValueError(f"blank range must look like AB-100001..AB-100100, got {spec!r}")
    first, last = match["first"], match["last"]
    start, stop = int(first), int(last)
    if stop < start or stop - start >= 100_000:
        raise ValueError(f"bad blank range {spec!r}")
    width = len(first)
    return [f"{match['prefix']}{n:0{width}d}" for n in range(start, stop + 1)]


def chip_uid_for(serial: str) -> str:
    """A stable 7-byte UID per serial, so tests can predict it."""
    digest = 0
    for ch in serial:
        digest = (digest * 131 + ord(ch)) & 0xFFFFFFFFFFFFFF
    return f"04{digest & 0xFFFFFFFFFFFF:012X}"


@dataclass(slots=True)
class FaultSettings:
    jam_next: bool = False
    double_next: bool = False
    no_pick_next: bool = False
    chip_fail_next: bool = False
    ribbon_out_after: int | None = None
    cover_open: bool = False
    feeder_forced_empty: bool = False
    reject_forced_full: bool = False
    silent: bool = False
    garbage_bytes: int = 0
    link_drop: bool = False
    power_loss_next: bool = False


class Machine:
    def __init__(
        self,
        *,
        ribbon_prints: int = 250,
        reject_capacity: int = 15,
        speed: float = 1.0,
        seed: int | None = None,
        fault_rate: float = 0.0,
        model: str = "Simulated",
        serial_number: str = "SIM0001",
        keep_pictures: int = 20,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        self.model = model
        self.serial_number = serial_number
        self.feeder: deque[Blank] = deque()
        self.ribbon_left = ribbon_prints
        self.output: list[Card] = []
        self.reject: list[Card] = []
        self.reject_capacity = reject_capacity
        self.card: Card | None = None
        self.position = Position.NONE
        self.jammed = False
        self.powered = True
        self.speed = speed
        self.faults = FaultSettings()
        self.fault_rate = fault_rate
        self.random = random.Random(seed)
        self.cards_fed = 0
        self.link_generation = 0  # bumped on every link drop
        # Decoded panels take megabytes a card: keep the pictures of the last
        # few cards per bin only; older cards keep their summary.
        self.keep_pictures = keep_pictures

    # ------------------------------------------------------------ loading

    def load(self, serials: list[str]) -> None:
        for serial in serials:
            if not serial or not serial.isprintable():
                raise ValueError(f"bad blank serial {serial!r}")
        self.feeder.extend(Blank(s, chip_uid_for(s)) for s in serials)

    def delay(self, step: Step, count: int = 1) -> float:
        return REAL_TIMINGS[step] * count / self.speed

    # ------------------------------------------------------------- faults

    def inject(self, fault: Fault, **args: Any) -> None:
        f = self.faults
        if fault is Fault.JAM:
            f.jam_next = True
        elif fault is Fault.DOUBLE_FEED:
            f.double_next = True
        elif fault is Fault.NO_PICK:
            f.no_pick_next = True
        elif fault is Fault.CHIP_FAIL:
            f.chip_fail_next = True
        elif fault is Fault.RIBBON_OUT:
            after = int(args.get("after", 0))
            if after < 0:
                raise ValueError("ribbon-out 'after' must be >= 0")
            f.ribbon_out_after = after
        elif fault is Fault.COVER_OPEN:
            f.cover_open = True
        elif fault is Fault.FEEDER_EMPTY:
            f.feeder_forced_empty = True
        elif fault is Fault.REJECT_BIN_FULL:
            f.reject_forced_full = True
        elif fault is Fault.SILENT:
            f.silent = True
        elif fault is Fault.GARBAGE:
            count = int(args.get("count", 16))
            if count <= 0:
                raise ValueError("garbage 'count' must be positive")
            f.garbage_bytes += count
        elif fault is Fault.LINK_DROP:
            f.link_drop = True
            self.link_generation += 1
        elif fault is Fault.POWER_LOSS:
            f.power_loss_next = True

    def clear(self, fault: Fault | None = None) -> None:
        """Clear one fault (or all): what a technician's hands do."""
        faults = [fault] if fault is not None else list(Fault)
        for item in faults:
            self._clear_one(item)

    def _clear_one(self, fault: Fault) -> None:
        f = self.faults
        if fault is Fault.JAM:
            f.jam_next = False
            if self.jammed and self.card is not None:
                # The technician pulls the jammed card out: it is spoiled.
                self.card.note = self.card.note or "removed after jam"
                self.reject.append(self.card)
                self.card, self.position = None, Position.NONE
            self.jammed = False
        elif fault is Fault.DOUBLE_FEED:
            f.double_next = False
        elif fault is Fault.NO_PICK:
            f.no_pick_next = False
        elif fault is Fault.CHIP_FAIL:
            f.chip_fail_next = False
        elif fault is Fault.RIBBON_OUT:
            f.ribbon_out_after = None
            if self.ribbon_left <= 0:
                self.ribbon_left = 250
        elif fault is Fault.COVER_OPEN:
            f.cover_open = False
        elif fault is Fault.FEEDER_EMPTY:
            f.feeder_forced_empty = False
        elif fault is Fault.REJECT_BIN_FULL:
            f.reject_forced_full = False
            if len(self.reject) >= self.reject_capacity:
                self.reject_capacity += self.reject_capacity
        elif fault is Fault.SILENT:
            f.silent = False
        elif fault is Fault.GARBAGE:
            f.garbage_bytes = 0
        elif fault is Fault.LINK_DROP:
            f.link_drop = False
        elif fault is Fault.POWER_LOSS:
            f.power_loss_next = False
            self.power_on()

    def remove_card(self) -> str | None:
        """A technician opens the printer and takes out a card left inside
        (say, after the station died mid-card); it goes to the reject bin."""
        if self.card is None:
            return None
        serial = self.card.serial
        self.card.note = self.card.note or "removed by technician"
        self.reject.append(self.card)
        self.card, self.position = None, Position.NONE
        self.jammed = False
        return serial

    def power_on(self) -> None:
        """Power back: a card left inside is cleared into the reject bin."""
        if not self.powered:
            self.powered = True
            if self.card is not None:
                self.card.note = "cleared at power-on"
                self.reject.append(self.card)
                self.card, self.position = None, Position.NONE
            self.jammed = False

    def take_garbage(self) -> bytes:
        """Line noise owed before the next reply: never CR, NUL or printable."""
        count, self.faults.garbage_bytes = self.faults.garbage_bytes, 0
        return bytes(
            self.random.choice((*range(1, 13), *range(14, 32), *range(127, 256)))
            for _ in range(count)
        )

    # ------------------------------------------------------------- sensors

    @property
    def cover_open(self) -> bool:
        return self.faults.cover_open

    @property
    def feeder_empty(self) -> bool:
        return self.faults.feeder_forced_empty or not self.feeder

    @property
    def reject_full(self) -> bool:
        return self.faults.reject_forced_full or len(self.reject) >= self.reject_capacity

    @property
    def ribbon_out(self) -> bool:
        return self.ribbon_left <= 0 or self.faults.ribbon_out_after == 0

    def blocking_trouble(self) -> Trouble | None:
        """The first condition that stops a new card from starting."""
        if self.cover_open:
            return Trouble.COVER_OPEN
        if self.jammed:
            return Trouble.CARD_JAM
        if self.ribbon_out:
            return Trouble.RIBBON_OUT
        if self.reject_full:
            return Trouble.REJECT_BIN_FULL
        return None

    # ---------------------------------------------------------- mechanics

    def _maybe_random_fault(self) -> None:
        if self.fault_rate and self.random.random() < self.fault_rate:
            self.inject(self.random.choice(RANDOM_FAULTS))

    def feed(self, to: Position) -> int:
        """Take the next blank to ``to``; returns how many blanks left the feeder."""
        trouble = self.blocking_trouble()
        if trouble is not None:
            raise MachineError(trouble)
        if self.card is not None:
            if self.position is to or to is Position.PRINT:
                self.position = to
                return 0
            raise MachineError(Trouble.CARD_INSIDE)
        if self.feeder_empty:
            raise MachineError(Trouble.FEEDER_EMPTY)
        self._maybe_random_fault()
        f = self.faults
        if f.no_pick_next:
            f.no_pick_next = False
            raise MachineError(Trouble.NO_PICK)
        blank = self.feeder.popleft()
        self.cards_fed += 1
        self.card = Card(blank.serial, blank.chip_uid)
        self.position = to
        if f.double_next and self.feeder:
            f.double_next = False
            second = self.feeder.popleft()
            self.cards_fed += 1
            # Both go to the reject bin; the printer stops the sequence.
            self.card.note = "double feed"
            self.reject.append(self.card)
            self.reject.append(Card(second.serial, second.chip_uid, note="double feed"))
            self.card, self.position = None, Position.NONE
            raise MachineError(Trouble.DOUBLE_FEED)
        f.double_next = False
        if f.jam_next:
            f.jam_next = False
            self.jammed = True
            self.card.note = "jammed"
            raise MachineError(Trouble.CARD_JAM)
        return 1

    def write_chip(self, data: bytes) -> str:
        """The chip encoder writes to the parked card; returns its UID."""
        if self.card is None or self.position not in (Position.CONTACT, Position.CONTACTLESS):
            raise MachineError(Trouble.NO_CARD, "no card at a chip station")
        if self.faults.chip_fail_next:
            self.faults.chip_fail_next = False
            raise MachineError(Trouble.CHIP_FAIL, "chip did not answer")
        self.card.chip_data = bytes(data)
        return self.card.chip_uid

    def read_chip(self) -> tuple[str, bytes | None]:
        if self.card is None or self.position not in (Position.CONTACT, Position.CONTACTLESS):
            raise MachineError(Trouble.NO_CARD, "no card at a chip station")
        return self.card.chip_uid, self.card.chip_data

    def print_side(self, side: str, panels: list[DecodedPanel]) -> None:
        """Print one side; uses one ribbon print (all its panels)."""
        if self.card is None:
            raise MachineError(Trouble.NO_CARD)
        if self.cover_open:
            raise MachineError(Trouble.COVER_OPEN)
        if self.faults.power_loss_next:
            self.faults.power_loss_next = False
            self.powered = False
            raise PowerCut
        if self.ribbon_out:
            self.ribbon_left = 0
            raise MachineError(Trouble.RIBBON_OUT)
        self.card.sides[side] = list(panels)
        self.ribbon_left -= 1
        if self.faults.ribbon_out_after is not None:
            self.faults.ribbon_out_after = max(0, self.faults.ribbon_out_after - 1)

    def eject(self) -> Card:
        if self.card is None:
            raise MachineError(Trouble.NO_CARD)
        if self.jammed:
            raise MachineError(Trouble.CARD_JAM)
        if self.cover_open:
            raise MachineError(Trouble.COVER_OPEN)
        card, self.card, self.position = self.card, None, Position.NONE
        self.output.append(card)
        self._trim_pictures()
        return card

    def reject_card(self, note: str = "") -> Card:
        if self.card is None:
            raise MachineError(Trouble.NO_CARD)
        if self.jammed:
            raise MachineError(Trouble.CARD_JAM)
        if self.cover_open:
            raise MachineError(Trouble.COVER_OPEN)
        if self.reject_full:
            raise MachineError(Trouble.REJECT_BIN_FULL)
        card, self.card, self.position = self.card, None, Position.NONE
        card.note = card.note or note or "rejected"
        self.reject.append(card)
        self._trim_pictures()
        return card

    def _trim_pictures(self) -> None:
        for bin_ in (self.output, self.reject):
            index = len(bin_) - self.keep_pictures - 1
            while index >= 0 and bin_[index].frozen_summary is None:
                bin_[index].forget_pictures()
                index -= 1

    def snapshot(self) -> dict[str, Any]:
        """Everything a test or technician may ask about, as plain data."""
        return {
            "model": self.model,
            "serial_number": self.serial_number,
            "powered": self.powered,
            "feeder": [b.serial for b in self.feeder],
            "ribbon_left": self.ribbon_left,
            "position": str(self.position),
            "card": self.card.summary() if self.card else None,
            "jammed": self.jammed,
            "cover_open": self.cover_open,
            "output": [c.summary() for c in self.output],
            "reject": [c.summary() for c in self.reject],
            "cards_fed": self.cards_fed,
            "link_generation": self.link_generation,
            "faults": asdict(self.faults),
        }
