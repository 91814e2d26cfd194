"""The asyncio Evolis driver: the codec, a transport, and one card at a time.

One exchange is in flight at a time (:mod:`drivers.reply_link`). Commands
that cannot move a card out of turn go out together and are answered in
order: ``Pr`` with ``Ss``, and a side's ``Sr``/``Sv`` with its panel
downloads, as a job stream does. Feeding (``Si``) and ejecting (``Se``) each
wait for their own reply: whether a blank left the feeder, and whether the
card goes to the output or the reject bin, depend on what came before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeVar

import structlog

from drivers.ahead import OpeningAhead
from drivers.base import (
    Capabilities,
    CardArtwork,
    CardOutcome,
    ChipError,
    DriverError,
    DriverOptions,
    Issued,
    PreparedCard,
    PrinterFault,
    PrinterState,
    PrinterStatus,
    PrinterTimeout,
    ProtocolError,
    Spoiled,
    SpoilReason,
    TransportError,
)
from drivers.evolis.protocol import (
    CardPosition,
    Command,
    ErrorKind,
    HostConnection,
    RemoteProtocolError,
    Reply,
    Stream,
    parse_card_position,
    parse_count,
    parse_voltage,
    query,
)
from drivers.reply_link import ReplyLink
from drivers.transports.base import Transport

log = structlog.get_logger(__name__)
T = TypeVar("T")

FAMILY = "evolis"
SENSOR_OPEN_VOLTS = 0.5

# Reply errors that stop the printer before a blank left the feeder.
NOT_FED_ERRORS = {
    ErrorKind.FEEDER_EMPTY: PrinterState.FEEDER_EMPTY,
    ErrorKind.FEEDER: PrinterState.ERROR,
    ErrorKind.COVER_OPEN: PrinterState.COVER_OPEN,
    ErrorKind.RIBBON_OUT: PrinterState.RIBBON_OUT,
    ErrorKind.REJECT_BIN_FULL: PrinterState.REJECT_BIN_FULL,
    ErrorKind.CARD_JAM: PrinterState.CARD_JAM,
    ErrorKind.BUSY: PrinterState.BUSY,
}

STATE_PRIORITY = (
    PrinterState.OFFLINE,
    PrinterState.CARD_JAM,
    PrinterState.COVER_OPEN,
    PrinterState.RIBBON_OUT,
    PrinterState.REJECT_BIN_FULL,
    PrinterState.FEEDER_EMPTY,
    PrinterState.ERROR,
)


# A card's fixed commands, encoded once.
START = Stream.of((Command("Pr", ("ymcko",)), Command("Ss")))
FEED = Stream.of((Command("Si"),))
FEED_TO_CONTACT = Stream.of((Command("Sis"),))
FEED_TO_CONTACTLESS = Stream.of((Command("Sic"),))
EJECT = Stream.of((Command("Se"),))
REJECT = Stream.of((Command("Ser"),))
# Ends a sequence that START opened when no card follows it.
RESET = Stream.of((Command("Srs"),))


@dataclass(frozen=True, slots=True)
class EvolisJob:
    """A card turned into panel downloads, encoded where it was prepared: one
    stream a side, ``Sr`` (front) or ``Sv`` (back) and then its panels."""

    sides: tuple[Stream, ...]

    def __repr__(self) -> str:
        return f"EvolisJob(sides={len(self.sides)})"


def side_stream(index: int, panels: tuple[Command, ...]) -> Stream:
    """One side's stream: the side's start command, then its panel downloads."""
    return Stream.of((Command("Sr" if index == 0 else "Sv"), *panels))


def prepare_card(card: CardArtwork) -> PreparedCard:
    """Encode a card into Evolis panel downloads (CPU only, no I/O)."""
    # Imported here: numpy and the imaging code are needed where cards are
    # encoded (a worker process), not by every process that talks to a printer.
    from drivers.evolis.panels import encode_side

    sides = [side_stream(0, encode_side(card.front))]
    if card.back is not None:
        sides.append(side_stream(1, encode_side(card.back)))
    return PreparedCard(
        driver=FAMILY,
        payload=EvolisJob(tuple(sides)),
        sides=len(sides),
        chip_data=card.chip_data,
    )


class EvolisDriver:
    name = FAMILY

    def __init__(self, transport: Transport, options: DriverOptions | None = None) -> None:
        self.transport = transport
        self.options = options or DriverOptions()
        self._conn = HostConnection()
        self._link = ReplyLink[Reply](transport, self._conn, FAMILY)
        self._printing = False
        # Whether a blank may have left the feeder during the current card.
        self._card_fed = False
        # START sent while the station committed the last card (begin_next_card).
        self._ahead = OpeningAhead[Reply]()
        self._capabilities = Capabilities(
            model="Evolis",
            sides=2,
            panels=("y", "m", "c", "k", "o"),
            chip_stations=frozenset({"contact", "contactless"}),
        )

    # ------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Self:
        await self._link.open()
        try:
            model = await self._query(query("Rtp"))
            self._capabilities = Capabilities(
                model=model.text,
                sides=2,
                panels=self._capabilities.panels,
                chip_stations=self._capabilities.chip_stations,
            )
        except DriverError as exc:
            # A printer that is off or busy now may answer later: status() says so.
            log.warning(
                "evolis.identify_failed", transport=self.transport.description, error=str(exc)
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._ahead.cancel()
        await self._link.close()

    async def _request(self, stream: Stream, timeout_s: float) -> Reply:
        """Send ``stream``; the first reply that is not OK, or the last one."""
        replies = await self._link.exchange(
            lambda: self._conn.send_stream(stream),
            len(stream.names),
            timeout_s,
            f"no reply to {'+'.join(dict.fromkeys(stream.names))}",
        )
        return next((reply for reply in replies if not reply.ok), replies[-1])

    async def _query(self, command: Command) -> Reply:
        return await self._request(Stream.of((command,)), self.options.timeout_s)

    async def _steps(self, stream: Stream) -> Reply:
        return await self._request(stream, self.options.card_timeout_s)

    # --------------------------------------------------------------- public

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def status(self) -> PrinterStatus:
        if self._printing:
            return PrinterStatus(PrinterState.BUSY, card_inside=True)
        await self.abandon_next_card()
        try:
            await self._link.ensure()
            return await self._read_status()
        except (TransportError, PrinterTimeout) as exc:
            return PrinterStatus(
                PrinterState.OFFLINE, frozenset({PrinterState.OFFLINE}), message=str(exc)
            )

    async def _read_status(self) -> PrinterStatus:
        faults: set[PrinterState] = set()
        cover = await self._retrying(query("Rse", "o"), parse_voltage)
        if cover < SENSOR_OPEN_VOLTS:
            faults.add(PrinterState.COVER_OPEN)
        feeder = await self._retrying(query("Rse", "f"), parse_voltage)
        if feeder < SENSOR_OPEN_VOLTS:
            faults.add(PrinterState.FEEDER_EMPTY)
        ribbon = await self._retrying(query("Rrt", "count"), parse_count)
        if ribbon <= 0:
            faults.add(PrinterState.RIBBON_OUT)
        elif ribbon < self.options.ribbon_low:
            faults.add(PrinterState.RIBBON_LOW)
        position = await self._retrying(query("Rlr", "p"), parse_card_position)
        last = await self._query(query("Rlr"))
        message = None
        if last.error is not None:
            message = last.text
            kind_state = NOT_FED_ERRORS.get(last.error, PrinterState.ERROR)
            if kind_state is not PrinterState.BUSY:
                faults.add(kind_state)
        state = next((s for s in STATE_PRIORITY if s in faults), PrinterState.READY)
        return PrinterStatus(
            state,
            frozenset(faults),
            ribbon_prints_left=ribbon,
            card_inside=position is not CardPosition.NONE,
            message=message,
        )

    async def _retrying(self, command: Command, parse: Callable[[Reply], T]) -> T:
        """Queries are harmless to repeat: one retry after a garbled reply."""
        try:
            return parse(await self._query(command))
        except RemoteProtocolError:
            self.transport.discard_input()
            await asyncio.sleep(0.05)
            try:
                return parse(await self._query(command))
            except RemoteProtocolError as exc:
                raise ProtocolError(str(exc)) from exc

    # Module-level, so the station can prepare cards in a worker process.
    card_encoder = staticmethod(prepare_card)

    def prepare(self, card: CardArtwork) -> PreparedCard:
        return prepare_card(card)

    async def print_card(self, card: PreparedCard, expected_serial: str | None) -> CardOutcome:
        if card.driver != FAMILY or not isinstance(card.payload, EvolisJob):
            raise ValueError(f"card was prepared for {card.driver!r}, not {FAMILY!r}")
        if card.chip_data is not None and self.options.chip_encoder is None:
            raise ValueError("card has chip data but this printer has no chip encoder configured")
        opened = self._ahead.take()
        self._printing = True
        self._card_fed = False
        try:
            await self._link.ensure()
            return await self._run_card(card.payload, card.chip_data, expected_serial, opened)
        except (PrinterTimeout, TransportError) as exc:
            return PrinterFault(
                PrinterStatus(
                    PrinterState.OFFLINE, frozenset({PrinterState.OFFLINE}), message=str(exc)
                ),
                card_fed=self._card_fed,
                detail=str(exc),
            )
        finally:
            self._printing = False

    def begin_next_card(self) -> None:
        self._ahead.start(lambda: self._steps(START))

    async def abandon_next_card(self) -> None:
        opened = await self._ahead.drop()
        if opened is None or not opened.ok:
            return
        try:
            await self._steps(RESET)
        except DriverError as exc:
            # The next card's START opens a sequence afresh all the same.
            log.warning("evolis.reset_failed", transport=self.transport.description, error=str(exc))

    async def _run_card(
        self,
        job: EvolisJob,
        chip_data: bytes | None,
        serial: str | None,
        opened: asyncio.Task[Reply] | None,
    ) -> CardOutcome:
        reply = await (opened if opened is not None else self._steps(START))
        if not reply.ok:
            return await self._not_fed(reply)

        station = self.options.chip_station
        if chip_data is None:
            feed = FEED
        else:
            feed = FEED_TO_CONTACT if station == "contact" else FEED_TO_CONTACTLESS
        # From here a blank may have left the feeder, whatever the reply says.
        self._card_fed = True
        reply = await self._steps(feed)
        if not reply.ok:
            kind = reply.error
            if kind is ErrorKind.DOUBLE_FEED:
                return Spoiled(serial, SpoilReason.MISFEED, reply.text, extra_blanks=1)
            if kind is ErrorKind.CARD_JAM:
                return Spoiled(serial, SpoilReason.JAM, reply.text)
            self._card_fed = False
            return await self._not_fed(reply)

        chip_uid = None
        if chip_data is not None:
            encoder = self.options.chip_encoder
            if encoder is None:  # checked above; keeps the type checker honest
                raise ValueError("no chip encoder")
            try:
                chip_uid = await asyncio.wait_for(
                    encoder.encode(station, chip_data), self.options.card_timeout_s
                )
            except (ChipError, TimeoutError) as exc:
                return await self._reject(
                    serial, SpoilReason.CHIP_ERROR, f"chip: {exc or 'timeout'}"
                )

        for side in job.sides:
            reply = await self._steps(side)
            if not reply.ok:
                return await self._print_failed(serial, reply)
        reply = await self._steps(EJECT)
        if not reply.ok:
            return await self._print_failed(serial, reply)
        return Issued(serial, chip_uid)

    async def _not_fed(self, reply: Reply) -> PrinterFault:
        status = await self._read_status()
        return PrinterFault(status, card_fed=False, detail=reply.text)

    async def _print_failed(self, serial: str | None, reply: Reply) -> CardOutcome:
        if reply.error is ErrorKind.CARD_JAM:
            return Spoiled(serial, SpoilReason.JAM, reply.text)
        return await self._reject(serial, SpoilReason.PRINT_ERROR, reply.text)

    async def _reject(self, serial: str | None, reason: SpoilReason, detail: str) -> CardOutcome:
        """Send the card to the reject bin; if even that fails, the printer
        holds it and a technician must look."""
        reply = await self._steps(REJECT)
        if reply.ok:
            return Spoiled(serial, reason, detail)
        status = await self._read_status()
        return PrinterFault(status, card_fed=True, detail=f"{detail}; reject failed: {reply.text}")

    # For tests: a driver between requests has nothing waiting.
    @property
    def pending_waiters(self) -> int:
        return self._link.pending_waiters
