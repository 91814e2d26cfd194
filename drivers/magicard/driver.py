"""The asyncio Magicard driver: the codec, a transport, and one card at a time.

One query is in flight at a time (:mod:`drivers.reply_link`).

A job gets no reply of its own: the driver reads the printer's conditions,
streams the job, then asks for the job's fate (``JOB``) until it is known or
``card_timeout_s`` has passed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
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
from drivers.magicard.protocol import (
    ERROR_KEY,
    JOB_KEY,
    PANELS_PER_PRINT,
    Condition,
    HostConnection,
    Job,
    JobState,
    JobStatus,
    RemoteProtocolError,
    Reply,
    parse_conditions,
    parse_int,
    parse_job_status,
)
from drivers.reply_link import ReplyLink
from drivers.transports.base import Transport

log = structlog.get_logger(__name__)
T = TypeVar("T")

FAMILY = "magicard"
PANELS = ("y", "m", "c", "k", "o")
JOB_POLL_S = 0.25

CONDITION_STATE = {
    Condition.LID_OPEN: PrinterState.COVER_OPEN,
    Condition.CARD_JAM: PrinterState.CARD_JAM,
    Condition.DYE_FILM_END: PrinterState.RIBBON_OUT,
    Condition.REJECT_FULL: PrinterState.REJECT_BIN_FULL,
    Condition.NO_CARDS: PrinterState.FEEDER_EMPTY,
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


@dataclass(frozen=True, slots=True)
class MagicardJob:
    """The planes of a prepared card (the job number is set when it prints)."""

    job: Job

    def __repr__(self) -> str:
        return "MagicardJob(sides=1)"


def prepare_card(card: CardArtwork) -> PreparedCard:
    """Encode a card into Magicard panels (CPU only, no I/O)."""
    # Imported here: numpy and the imaging code are needed where cards are
    # encoded (a worker process), not by every process that talks to a printer.
    from drivers.magicard.panels import encode_side

    if card.back is not None:
        raise ValueError("this Magicard driver prints single-sided cards only")
    if card.chip_data is not None:
        raise ValueError("this Magicard driver does not encode chips")
    return PreparedCard(
        driver=FAMILY, payload=MagicardJob(encode_side(card.front)), sides=1, chip_data=None
    )


class MagicardDriver:
    name = FAMILY

    def __init__(self, transport: Transport, options: DriverOptions | None = None) -> None:
        self.transport = transport
        self.options = options or DriverOptions()
        self._conn = HostConnection()
        self._link = ReplyLink[Reply](transport, self._conn, FAMILY)
        self._printing = False
        self._card_fed = False
        # The status check of the next card, sent while the station committed
        # the last one (begin_next_card).
        self._ahead = OpeningAhead[PrinterStatus]()
        # Job numbers go in the TDT setting; start from the clock so that two
        # runs of the daemon do not reuse a number the printer still reports.
        self._job_numbers = itertools.count(int(time.time()) & 0xFFFFFF00)
        self._capabilities = Capabilities(model="Magicard", sides=1, panels=PANELS)

    # ------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Self:
        await self._link.open()
        try:
            serial = (await self._query("MSR")).value
            firmware = (await self._query("VRS")).value
            model = (await self._query("MDL")).value
            self._capabilities = Capabilities(
                model=f"Magicard model {model} (serial {serial}, firmware {firmware})",
                sides=1,
                panels=self._capabilities.panels,
            )
        except DriverError as exc:
            log.warning(
                "magicard.identify_failed", transport=self.transport.description, error=str(exc)
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

    async def _request(self, key: str, timeout_s: float) -> Reply:
        return await self._link.request(
            lambda: self._conn.send_query(key), timeout_s, f"no answer to {key}"
        )

    async def _query(self, key: str) -> Reply:
        return await self._request(key, self.options.timeout_s)

    async def _send_job(self, job: Job) -> None:
        await self._link.send(
            lambda: self._conn.send_job(job),
            self.options.card_timeout_s,
            "the printer did not take the job",
        )

    async def _retrying(self, key: str, parse: Callable[[Reply], T]) -> T:
        """Queries are harmless to repeat: one retry after a garbled reply."""
        try:
            return parse(await self._query(key))
        except RemoteProtocolError:
            self.transport.discard_input()
            await asyncio.sleep(0.05)
            try:
                return parse(await self._query(key))
            except RemoteProtocolError as exc:
                raise ProtocolError(str(exc)) from exc

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
        conditions = await self._retrying(ERROR_KEY, parse_conditions)
        panels_left = await self._retrying("DFR", parse_int)
        ribbon = max(panels_left, 0) // PANELS_PER_PRINT
        faults = {CONDITION_STATE[c] for c in conditions if c in CONDITION_STATE}
        if ribbon <= 0:
            faults.add(PrinterState.RIBBON_OUT)
        elif ribbon < self.options.ribbon_low:
            faults.add(PrinterState.RIBBON_LOW)
        state = next((s for s in STATE_PRIORITY if s in faults), PrinterState.READY)
        if state is PrinterState.READY and Condition.BUSY in conditions:
            state = PrinterState.BUSY
        words = sorted(c for c in conditions if c is not Condition.BUSY)
        return PrinterStatus(
            state,
            frozenset(faults),
            ribbon_prints_left=ribbon,
            card_inside=bool(conditions & {Condition.BUSY, Condition.CARD_JAM}),
            message="/".join(words) or None,
        )

    # Module-level, so the station can prepare cards in a worker process.
    card_encoder = staticmethod(prepare_card)

    def prepare(self, card: CardArtwork) -> PreparedCard:
        return prepare_card(card)

    async def print_card(self, card: PreparedCard, expected_serial: str | None) -> CardOutcome:
        if card.driver != FAMILY or not isinstance(card.payload, MagicardJob):
            raise ValueError(f"card was prepared for {card.driver!r}, not {FAMILY!r}")
        if card.chip_data is not None:
            raise ValueError("this Magicard driver does not encode chips")
        checked = self._ahead.take()
        self._printing = True
        self._card_fed = False
        try:
            await self._link.ensure()
            return await self._run_card(card.payload.job, expected_serial, checked)
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
        self._ahead.start(self._read_status)

    async def abandon_next_card(self) -> None:
        # A status check started nothing on the printer: nothing to undo.
        await self._ahead.drop()

    async def _run_card(
        self, job: Job, serial: str | None, checked: asyncio.Task[PrinterStatus] | None
    ) -> CardOutcome:
        before = await (checked if checked is not None else self._read_status())
        if before.blocked or before.state is PrinterState.BUSY:
            return PrinterFault(before, card_fed=False, detail=before.message or before.state)
        job_id = f"{next(self._job_numbers) & 0xFFFFFFFF:08X}"
        settings = tuple(s for s in job.settings if not s.startswith("TDT"))
        numbered = Job((*settings, f"TDT{job_id}"), job.planes)
        # From the first byte of the job, a blank may leave the feeder.
        self._card_fed = True
        await self._send_job(numbered)
        fate = await self._await_fate(job_id)
        return await self._outcome(fate, serial)

    async def _await_fate(self, job_id: str) -> JobStatus:
        deadline = asyncio.get_running_loop().time() + self.options.card_timeout_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                limit = self.options.card_timeout_s
                raise PrinterTimeout(f"job {job_id} unfinished after {limit:g} s")
            # The printer may answer only once its mechanics pause: wait long.
            try:
                fate = parse_job_status(await self._request(JOB_KEY, left))
            except RemoteProtocolError:
                self.transport.discard_input()
                fate = JobStatus("", JobState.PRINTING)
            if fate.job_id == job_id and fate.state is not JobState.PRINTING:
                return fate
            await asyncio.sleep(min(JOB_POLL_S, max(left, 0)))

    async def _outcome(self, fate: JobStatus, serial: str | None) -> CardOutcome:
        detail = fate.why or str(fate.state)
        if fate.state is JobState.DONE:
            return Issued(serial)
        if fate.state is JobState.MISFEED:
            return Spoiled(serial, SpoilReason.MISFEED, detail, extra_blanks=1)
        if fate.state is JobState.JAMMED:
            return Spoiled(serial, SpoilReason.JAM, detail)
        if fate.state is JobState.REJECTED:
            return Spoiled(serial, SpoilReason.PRINT_ERROR, detail)
        status = await self._read_status()
        return PrinterFault(status, card_fed=fate.state is not JobState.NOT_FED, detail=detail)

    # For tests: a driver between requests has nothing waiting.
    @property
    def pending_waiters(self) -> int:
        return self._link.pending_waiters
