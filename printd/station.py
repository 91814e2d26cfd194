"""The station: one asyncio process wiring store, printers and the registry link.

Start-up order: open the store (taking the state directory's lock), recover
from a crash (cards that were in a printer go to inspection), then start one
worker per printer, the technician-request poller and housekeeping, all in
one TaskGroup with named tasks. A graceful stop takes no new card, lets the
cards in the printers finish, then stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from printd import reports
from printd.config import PrinterSettings, Settings
from printd.logs import get_logger
from printd.metrics import StationMetrics
from printd.pipeline import jobflow
from printd.pipeline.cards import ArtworkSource, CardPreparer
from printd.pipeline.worker import ACTIVE, DRAINING, PAUSED, DriverFactory, PrinterWorker
from printd.sdnotify import SystemdNotifier
from printd.store import Store
from printd.store.clock import stamp, utc_now
from printd.supplies import supply_warnings

log = get_logger("printd.station")

CONTROL_POLL_S = 0.5
HOUSEKEEPING_S = 10.0
MODES = {"pause": PAUSED, "resume": ACTIVE, "drain": DRAINING}

DriverOpener = Callable[[PrinterSettings], DriverFactory]


class Station:
    def __init__(
        self,
        settings: Settings,
        *,
        artwork: ArtworkSource,
        open_driver: DriverOpener,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.settings = settings
        self.notifier = notifier or SystemdNotifier()
        self._artwork = artwork
        self._open_driver = open_driver
        self._stop = asyncio.Event()
        self.wake = asyncio.Event()
        self.store: Store | None = None
        self.workers: dict[str, PrinterWorker] = {}
        self.ready = asyncio.Event()
        self.metrics = StationMetrics(settings.station.state_dir)
        self._warned: set[tuple[str, str | None]] = set()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        store = Store.open(self.settings.station.state_dir, daemon=True)
        self.store = store
        try:
            stranded = jobflow.recover_after_crash(store)
            if stranded:
                log.warning("recovered_cards_need_inspection", jobs=len(stranded))
            if self.settings.metrics.enabled:
                self.metrics.serve(self.settings.metrics.host, self.settings.metrics.port)
            cards = CardPreparer(store, self._artwork, ahead=max(2, len(self.settings.printers)))
            for config in self.settings.printers:
                if config.enabled:
                    self.workers[config.name] = PrinterWorker(
                        config,
                        self.settings.station,
                        store,
                        self._open_driver(config),
                        cards,
                        self.wake,
                        self.metrics,
                    )
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(worker.run(), name=f"printer:{name}")
                    for name, worker in self.workers.items()
                ]
                tasks.append(group.create_task(self._controls(), name="controls"))
                tasks.append(group.create_task(self._housekeeping(), name="housekeeping"))
                if self.notifier.watchdog_interval:
                    tasks.append(group.create_task(self._watchdog(), name="watchdog"))
                await self._wait_probed()
                self.ready.set()
                self.notifier.ready(f"{len(self.workers)} printer(s)")
                log.info("station_started", printers=len(self.workers))
                await self._stop.wait()
                self.notifier.stopping()
                await self._drain_printers()
                for task in tasks:
                    task.cancel()
            cards.cancel_all()
            log.info(
                "station_stopped",
                cards_prepared=cards.prepared,
                prepare_cpu_s=round(cards.prepare_cpu_s, 3),
                cards_done=sum(w.view.cards_done for w in self.workers.values()),
            )
        finally:
            store.close()
            self.store = None

    async def _wait_probed(self) -> None:
        """READY=1 waits until every printer was reached or found unreachable."""
        limit = max((p.timeout_s for p in self.settings.printers), default=0.0) + 1.0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                for worker in self.workers.values():
                    await worker.probed.wait()

    async def _watchdog(self) -> None:
        """WATCHDOG=1 from the event loop itself: a stuck loop stops feeding it."""
        interval = self.notifier.watchdog_interval or 15.0
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    async def _drain_printers(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        limit = max((p.card_timeout_s for p in self.settings.printers), default=0.0)
        deadline = asyncio.get_running_loop().time() + limit
        while any(w.busy for w in self.workers.values()):
            if asyncio.get_running_loop().time() > deadline:
                log.warning("stopping_with_card_in_printer")
                break
            await asyncio.sleep(0.05)

    async def _controls(self) -> None:
        """Apply technician requests written by `printd printers pause|resume|drain`."""
        assert self.store is not None
        store = self.store
        while True:
            rows = store.conn.execute(
                "SELECT id, printer, action, by FROM printer_requests WHERE done_at IS NULL "
                "ORDER BY id"
            ).fetchall()
            for row in rows:
                worker = self.workers.get(row["printer"])
                if worker is not None and row["action"] in MODES:
                    worker.set_mode(MODES[row["action"]], row["by"])
                store.conn.execute(
                    "UPDATE printer_requests SET done_at = ? WHERE id = ?", (stamp(), row["id"])
                )
            if rows:
                self.wake.set()
            await asyncio.sleep(CONTROL_POLL_S)

    def _check_supplies(self, store: Store) -> None:
        """Raise each supply warning once when it starts; forget it once it clears."""
        current = supply_warnings(store, self.settings.station.low_stock_threshold)
        keys = {(w.code, w.printer) for w in current}
        new = [w for w in current if (w.code, w.printer) not in self._warned]
        if new:
            with store.transaction() as conn:
                for warning in new:
                    reports.event(
                        store,
                        conn,
                        warning.code,
                        warning.message,
                        severity="warning",
                        printer=warning.printer,
                    )
        self._warned = keys

    async def _housekeeping(self) -> None:
        """Report expired jobs and purge reported payloads past retention."""
        assert self.store is not None
        store = self.store
        while not self._stop.is_set():
            expired = jobflow.expire_due(store)
            if expired:
                log.info("jobs_expired", jobs=len(expired))
            retention = timedelta(days=self.settings.station.retention_days)
            with store.transaction() as conn:
                purged = store.jobs.purge_payloads(conn, utc_now() - retention)
            if purged:
                log.info("payloads_purged", jobs=purged)
            self._check_supplies(store)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HOUSEKEEPING_S):
                    await self._stop.wait()
