"""The one small interface the station uses for every printer family.

A driver is built by composition: ``Driver(protocol codec, transport)``. The
station never sees bytes; it sees :class:`PrinterStatus`, :class:`Capabilities`
and one :class:`CardOutcome` per card.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image


class PrinterState(enum.StrEnum):
    """What a printer can be doing or suffering, as the technician names it."""

    READY = "ready"
    BUSY = "busy"
    COVER_OPEN = "cover_open"
    CARD_JAM = "card_jam"
    RIBBON_LOW = "ribbon_low"
    RIBBON_OUT = "ribbon_out"
    FEEDER_EMPTY = "feeder_empty"
    REJECT_BIN_FULL = "reject_bin_full"
    OFFLINE = "offline"
    ERROR = "error"


# States that stop a printer until someone (or the printer) clears them.
BLOCKING_STATES = frozenset(
    {
        PrinterState.COVER_OPEN,
        PrinterState.CARD_JAM,
        PrinterState.RIBBON_OUT,
        PrinterState.FEEDER_EMPTY,
        PrinterState.REJECT_BIN_FULL,
        PrinterState.OFFLINE,
        PrinterState.ERROR,
    }
)


class SpoilReason(enum.StrEnum):
    """Why a blank was spoiled; the same vocabulary as the blank ledger."""

    PRINT_ERROR = "print_error"
    CHIP_ERROR = "chip_error"
    JAM = "jam"
    MISFEED = "misfeed"
    TEST_PRINT = "test_print"
    DAMAGED = "damaged"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    state: PrinterState
    faults: frozenset[PrinterState] = frozenset()
    ribbon_prints_left: int | None = None
    card_inside: bool = False
    message: str | None = None

    @property
    def blocked(self) -> bool:
        return bool(self.faults & BLOCKING_STATES) or self.state in BLOCKING_STATES


@dataclass(frozen=True, slots=True)
class Capabilities:
    model: str
    sides: int  # 1 or 2
    panels: tuple[str, ...]  # e.g. ("y", "m", "c", "k", "o")
    chip_stations: frozenset[str] = frozenset()  # {"contact", "contactless"}
    dpi: int = 300
    width_px: int = 1016  # card long edge, landscape
    height_px: int = 648


@dataclass(frozen=True, slots=True)
class SideArtwork:
    """One side of a card as the renderer hands it to a driver.

    ``color`` is RGB at the printer's resolution (landscape, width_px x
    height_px); ``black`` is a 1-bit mask printed with resin black (text and
    codes stay sharp); ``overlay`` is a 1-bit mask of where the clear overlay is
    laid (None means the whole card; clear windows are 0).
    """

    color: Image.Image | None
    black: Image.Image | None = None
    overlay: Image.Image | None = None


@dataclass(frozen=True, slots=True)
class CardArtwork:
    front: SideArtwork
    back: SideArtwork | None = None
    chip_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class PreparedCard:
    """A card encoded for one printer family, ready to stream.

    Preparing is CPU work done ahead of time (in a thread) so a printer never
    waits on the daemon; ``payload`` is opaque to the station.
    """

    driver: str
    payload: object
    sides: int
    chip_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    serial: str | None
    chip_uid: str | None = None


@dataclass(frozen=True, slots=True)
class Spoiled:
    serial: str | None
    reason: SpoilReason
    detail: str = ""
    # A misfeed can take more than one blank; each of them is spoiled.
    extra_blanks: int = 0


@dataclass(frozen=True, slots=True)
class PrinterFault:
    """The printer stopped; ``card_fed`` tells whether a blank left the feeder."""

    status: PrinterStatus
    card_fed: bool
    detail: str = ""


CardOutcome = Issued | Spoiled | PrinterFault


class DriverError(Exception):
    """Base of every driver-layer error."""


class PrinterTimeout(DriverError):
    """The printer did not answer in time."""


class ProtocolError(DriverError):
    """The printer sent something the protocol does not allow."""


class TransportError(DriverError):
    """The link to the printer failed (unplugged, closed, I/O error)."""


@runtime_checkable
class Driver(Protocol):
    """What the station needs from a printer, whatever its family."""

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def status(self) -> PrinterStatus: ...

    def prepare(self, card: CardArtwork) -> PreparedCard:
        """Encode a card into this printer's panels (CPU only, no I/O)."""
        ...

    async def print_card(self, card: PreparedCard, expected_serial: str | None) -> CardOutcome:
        """Feed, optionally encode the chip, print, eject or reject one card."""
        ...

    def begin_next_card(self) -> None:
        """Start the next card's opening steps now, without waiting for them.

        Only steps that cannot move a blank: the station calls this as a card
        comes out, while it commits that card's outcome and claims the next
        blank, so the printer's answers arrive during the commit instead of
        after it. The next :meth:`print_card` takes the answers up (a refusal
        there is a fault with no blank fed). A second call before then starts
        nothing more.
        """
        ...

    async def abandon_next_card(self) -> None:
        """No card follows: undo what :meth:`begin_next_card` started, if
        anything. Never raises for a printer that does not answer."""
        ...


class ChipError(DriverError):
    """The chip encoder could not write (or verify) the parked card's chip."""


@runtime_checkable
class ChipEncoder(Protocol):
    """The reader/encoder beside a printer's chip station (PC/SC or simulated).

    ``encode`` writes ``data`` to the card parked at ``station`` ("contact" or
    "contactless") and returns the chip's UID; it raises :class:`ChipError`.
    """

    async def encode(self, station: str, data: bytes) -> str: ...


@dataclass(slots=True)
class DriverOptions:
    """Options every driver accepts from the printer's config entry.

    ``timeout_s`` bounds each query; ``card_timeout_s`` bounds each mechanical
    step of a card (feed, print a side, eject). ``chip_encoder`` is needed only
    for cards with chip data; ``chip_station`` picks where the card is parked.
    ``ribbon_low`` is the prints-left figure under which RIBBON_LOW is reported.
    """

    timeout_s: float = 10.0
    card_timeout_s: float = 120.0
    chip_encoder: ChipEncoder | None = None
    chip_station: str = "contact"
    ribbon_low: int = 10
    extra: dict[str, str] = field(default_factory=dict)
