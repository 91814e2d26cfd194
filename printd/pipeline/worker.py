"""One printer, one worker: claim a job, print it, record what came out.

A fault pauses the printer and tells the technician; it prints again when
the technician resumes it (``resume = "manual"``) or when the printer reports
the fault cleared (``resume = "auto"``). A printer with a card awaiting
inspection takes no new job: its feeder no longer matches the ledger until
the technician says what came out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from drivers.base import (
    Driver,
    DriverError,
    Issued,
    PrinterFault,
    PrinterState,
    PrinterStatus,
    Spoiled,
    TransportError,
)
from printd import reports
from printd.config import PrinterSettings, StationSettings
from printd.logs import get_logger
from printd.metrics import StationMetrics
from printd.pipeline import jobflow
from printd.pipeline.cards import CardNotPrintable, CardPreparer
from printd.pipeline.writer import Step, StoreWriter
from printd.store import Store
from printd.store.clock import stamp

log = get_logger("printd.worker")

DriverFactory = Callable[[], AbstractAsyncContextManager[Driver]]

# Printer modes a technician sets; faults are kept apart in ``fault``.
ACTIVE, PAUSED, DRAINING = "active", "paused", "draining"
IDLE_POLL_S = 1.0
FAULT_POLL_S = 2.0
RECONNECT_MAX_S = 30.0


@dataclass
class PrinterView:
    """What the station knows of a printer right now (for status and metrics)."""

    name: str
    mode: str = ACTIVE
    state: str = "starting"
    detail: str = ""
    job_id: str | None = None
    ribbon_left: int | None = None
    cards_done: int = 0
    card_seconds: list[float] = field(default_factory=list)


class PrinterWorker:
    def __init__(
        self,
        config: PrinterSettings,
        station: StationSettings,
        store: Store,
        open_driver: DriverFactory,
        cards: CardPreparer,
        wake: asyncio.Event,
        metrics: StationMetrics | None = None,
        on_outcome: Callable[[], None] = lambda: None,
        *,
        writer: StoreWriter,
    ) -> None:
        self.name = config.name
        self._config = config
        self._station = station
        self._store = store
        # Claims and outcomes are committed by the writer thread, off the loop.
        self._writer = writer
        # The next card's claim, committed with the last card's outcome.
        self._next: jobflow.Claim | None = None
        self._queue_empty = False
        self._open_driver = open_driver
        self._cards = cards
        self._wake = wake
        self._metrics = metrics or StationMetrics()
        # This printer's series, looked up once rather than at every card.
        self._cards_issued = self._metrics.cards_issued.labels(self.name)
        self._card_seconds = self._metrics.card_seconds.labels(self.name)
        # Told after every committed outcome: the link flushes the outbox and
        # recomputes its credit.
        self._on_outcome = on_outcome
        self._fault: PrinterStatus | None = None
        self._stopping = False
        self.view = PrinterView(config.name, mode=self._load_mode())
        # Set once the printer was first reached or found unreachable (for READY=1).
        self.probed = asyncio.Event()

    # ---- technician controls ------------------------------------------------

    def _load_mode(self) -> str:
        row = self._store.conn.execute(
            "SELECT mode FROM printers WHERE name = ?", (self.name,)
        ).fetchone()
        return str(row[0]) if row else ACTIVE

    def set_mode(self, mode: str, by: str) -> None:
        """Pause, drain or resume; resuming also clears a fault the technician has fixed."""
        if mode == ACTIVE and self._fault is not None:
            # Checked against the printer before the next card.
            self._fault = None
        self.view.mode = mode
        with self._store.transaction() as conn:
            self._save(conn)
            reports.event(
                self._store,
                conn,
                f"printer_{mode}",
                f"{self.name}: {mode} by {by}",
                printer=self.name,
            )
        self._wake.set()

    def stop(self) -> None:
        """Take no new card; the one in the printer finishes."""
        self._stopping = True
        self._wake.set()

    @property
    def busy(self) -> bool:
        return self.view.job_id is not None or self._next is not None

    # ---- state written for `printd status` ----------------------------------

    def _save(self, conn: object = None) -> None:
        target = conn or self._store.conn
        target.execute(  # type: ignore[attr-defined]
            "INSERT INTO printers (name, mode, state, detail, ribbon_left, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET mode = excluded.mode, "
            "state = excluded.state, detail = excluded.detail, "
            "ribbon_left = excluded.ribbon_left, updated_at = excluded.updated_at",
            (
                self.name,
                self.view.mode,
                self.view.state,
                self.view.detail,
                self.view.ribbon_left,
                stamp(),
            ),
        )

    def _show(self, state: str, detail: str = "") -> None:
        if (state, detail) != (self.view.state, self.view.detail):
            self.view.state, self.view.detail = state, detail
            self._save()

    # ---- the loop -----------------------------------------------------------

    async def run(self) -> None:
        delay = 1.0
        while not self._stopping:
            try:
                async with self._open_driver() as driver:
                    delay = 1.0
                    await self._serve(driver)
            except (DriverError, OSError) as exc:
                self.probed.set()
                self._show(PrinterState.OFFLINE.value, str(exc)[:200])
                log.warning("printer_offline", printer=self.name, error=str(exc)[:200])
                await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _serve(self, driver: Driver) -> None:
        await self._check_status(driver)
        self.probed.set()
        self._cards.warm(driver)
        try:
            while not self._stopping:
                if self._next is None:
                    # No card in hand follows the last one at once.
                    await driver.abandon_next_card()
                if self._next is not None and not self._may_go_on():
                    # Paused, faulted or stopping while the claim was committing.
                    await self._unclaim(self._next)
                    self._next = None
                    continue
                claim, self._next = self._next, None
                if claim is None and not self._queue_empty:
                    if not await self._may_print(driver):
                        await self._sleep(FAULT_POLL_S if self._fault else IDLE_POLL_S)
                        continue
                    claim = await self._claim()
                self._queue_empty = False
                if claim is None:
                    self._show(
                        "idle" if self._store.ledger.loaded_count(self.name) else "no_blanks"
                    )
                    await self._sleep(IDLE_POLL_S)
                    continue
                await self._print(driver, claim)
        finally:
            # Still busy until the claim is given back: a stop waits for it.
            if self._next is not None:
                await self._unclaim(self._next)
                self._next = None
            await driver.abandon_next_card()

    def _may_go_on(self) -> bool:
        """Whether the next card may follow the last one without a fresh look.

        Pause, drain, a fault and a stop are all set on this loop, so a card
        that just came out fine leaves nothing else to check.
        """
        return self.view.mode == ACTIVE and self._fault is None and not self._stopping

    async def _claim(self) -> jobflow.Claim | None:
        claim: jobflow.Claim | None
        [claim] = await self._writer.run(lambda s, c: jobflow.claim_next_in(s, c, self.name))
        return claim

    async def _unclaim(self, claim: jobflow.Claim) -> None:
        """A claimed card that never started: its blank and job go back as they were."""
        why = "the printer stopped taking cards before this one started"
        await self._writer.run(lambda s, c: jobflow.record_not_fed_in(s, c, claim, why))

    async def _may_print(self, driver: Driver) -> bool:
        if self.view.mode == PAUSED:
            if self._fault is not None:
                self._show("fault", self.view.detail)
            else:
                self._show("paused")
            return False
        if self.view.mode == DRAINING:
            self.view.mode = PAUSED
            with self._store.transaction() as conn:
                self._save(conn)
                reports.event(
                    self._store,
                    conn,
                    "printer_drained",
                    f"{self.name} finished its card and is paused",
                    printer=self.name,
                )
            return False
        if jobflow.inspections_on(self._store, self.name):
            self._show("held", "a card needs inspection: printd jobs list --state needs_inspection")
            return False
        if self._fault is not None:
            if self._station.resume == "auto":
                await self._check_status(driver)
            return self._fault is None
        return True

    async def _check_status(self, driver: Driver) -> None:
        status = await driver.status()
        self.view.ribbon_left = status.ribbon_prints_left
        if status.blocked:
            self._enter_fault(status)
        elif self._fault is not None:
            self._fault = None
            with self._store.transaction() as conn:
                reports.event(
                    self._store,
                    conn,
                    "printer_ready",
                    f"{self.name}: fault cleared",
                    printer=self.name,
                )
            self._show("ready")
        else:
            self._show("ready")

    def _enter_fault(self, status: PrinterStatus, detail: str = "") -> None:
        first = self._fault is None
        self._fault = status
        faults = sorted(f.value for f in status.faults) or [status.state.value]
        text = detail or status.message or ", ".join(faults)
        if not first:
            return
        if self._station.resume == "manual":
            self.view.mode = PAUSED
        self.view.state, self.view.detail = "fault", text
        with self._store.transaction() as conn:
            self._save(conn)
            reports.event(
                self._store,
                conn,
                "printer_fault",
                f"{self.name}: {text}; fix it, then `printd printers resume {self.name}`"
                if self._station.resume == "manual"
                else f"{self.name}: {text}",
                severity="error",
                printer=self.name,
                faults=",".join(faults),
            )
        log.warning("printer_fault", printer=self.name, faults=faults)

    async def _print(self, driver: Driver, claim: jobflow.Claim) -> None:
        log_ = log.bind(job_id=claim.job_id, printer=self.name, blank_serial=claim.serial)
        self.view.job_id = claim.job_id
        self._show("printing")
        started = time.monotonic()
        try:
            try:
                prepared = await self._cards.get(claim.job_id, driver)
            except CardNotPrintable as exc:
                why = str(exc)[:300]
                await self._writer.run(lambda s, c: jobflow.record_unprintable_in(s, c, claim, why))
                log_.error("card_unprintable", error=str(exc)[:300])
                return
            self._cards.prefetch(driver)
            try:
                async with asyncio.timeout(self._config.card_timeout_s):
                    outcome = await driver.print_card(prepared, claim.serial)
            except (TimeoutError, DriverError) as exc:
                why = f"lost contact with the printer during the card: {type(exc).__name__}"
                await self._writer.run(lambda s, c: jobflow.record_unknown_in(s, c, claim, why))
                log_.error("card_fate_unknown", error=str(exc)[:200])
                self._enter_fault(PrinterStatus(PrinterState.OFFLINE, message=why))
                if isinstance(exc, TransportError | TimeoutError):
                    raise TransportError(why) from exc
                return
            if isinstance(outcome, Issued):
                seen = outcome.serial
                steps: list[Step] = [lambda s, c: jobflow.record_issued_in(s, c, claim, seen)]
                go_on = self._may_go_on()
                if go_on:
                    # The next card's claim rides in the same commit: one fsync a card.
                    steps.append(lambda s, c: jobflow.claim_next_in(s, c, self.name))
                    # Meanwhile the printer opens the next card; it feeds no
                    # blank before print_card, once the claim is committed.
                    driver.begin_next_card()
                results = await self._writer.run(*steps)
                serial = results[0]
                if go_on:
                    self._next = results[1]
                    self._queue_empty = results[1] is None
                self.view.cards_done += 1
                self._cards_issued.inc()
                log_.info("card_issued", blank_serial=serial)
            elif isinstance(outcome, Spoiled):
                spoiled, attempts = outcome, self._station.max_attempts
                [state] = await self._writer.run(
                    lambda s, c: jobflow.record_spoiled_in(
                        s,
                        c,
                        claim,
                        spoiled.reason.value,
                        spoiled.detail,
                        attempts,
                        spoiled.extra_blanks,
                    )
                )
                log_.warning("card_spoiled", reason=outcome.reason.value, job_state=state.value)
                self._metrics.blanks_spoiled.labels(self.name, outcome.reason.value).inc(
                    1 + outcome.extra_blanks
                )
                await self._check_status(driver)
            elif isinstance(outcome, PrinterFault):
                why = outcome.detail or "printer fault"
                record = (
                    jobflow.record_unknown_in if outcome.card_fed else jobflow.record_not_fed_in
                )
                await self._writer.run(lambda s, c: record(s, c, claim, why))
                log_.warning("card_printer_fault", card_fed=outcome.card_fed)
                self._enter_fault(outcome.status, outcome.detail)
        finally:
            self._on_outcome()
            # The shown state stays "printing" while cards follow each other;
            # the idle loop shows "idle" once the queue is empty.
            self.view.job_id = None
            took = time.monotonic() - started
            self.view.card_seconds = [*self.view.card_seconds[-99:], took]
            self._card_seconds.observe(took)
