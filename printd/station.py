"""The station: one asyncio process wiring store, printers and the registry link.

Start-up order: open the store (taking the state directory's lock), recover
from a crash (cards that were in a printer go to inspection), then start one
worker per printer, the registry link, the technician-request poller and
housekeeping, all in one TaskGroup with named tasks. READY=1 goes to systemd
once every printer was probed (the link is then up or retrying). A graceful
stop takes no new card, lets the cards in the printers finish, gives the
outbox a few seconds to reach the broker, then stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from printd.commands import StationCommands
from printd.config import PrinterSettings, Settings
from printd.housekeeping import Housekeeping
from printd.logs import get_logger
from printd.messages import PrinterState as WirePrinterState
from printd.metrics import StationMetrics
from printd.mqtt.checks import CardValidator, no_card_checks
from printd.mqtt.link import RegistryLink, store_credit
from printd.pipeline import jobflow
from printd.pipeline.cards import ArtworkSource, CardPreparer
from printd.pipeline.worker import ACTIVE, DRAINING, PAUSED, DriverFactory, PrinterWorker
from printd.pipeline.writer import StoreWriter
from printd.sdnotify import SystemdNotifier
from printd.signing import Signer, Verifier
from printd.store import Store
from printd.store.clock import stamp

log = get_logger("printd.station")

CONTROL_POLL_S = 0.5
STATUS_POLL_S = 1.0
FLUSH_ON_STOP_S = 5.0
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
        signer: Signer | None = None,
        verifier: Verifier | None = None,
        card_validator: CardValidator = no_card_checks,
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
        self._signer = signer
        self._verifier = verifier
        self._card_validator = card_validator
        self.link: RegistryLink | None = None

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        store = Store.open(self.settings.station.state_dir, daemon=True)
        self.store = store
        writer: StoreWriter | None = None
        try:
            stranded = jobflow.recover_after_crash(store)
            if stranded:
                log.warning("recovered_cards_need_inspection", jobs=len(stranded))
            if self.settings.metrics.enabled:
                self.metrics.serve(self.settings.metrics.host, self.settings.metrics.port)
            writer = StoreWriter(store)
            cards = CardPreparer(
                store,
                self._artwork,
                ahead=max(2, len(self.settings.printers)),
                log_level=self.settings.logging.level,
            )
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
                        self._outcome_committed,
                        writer=writer,
                    )
            self.link = self._make_link(store, writer)
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(worker.run(), name=f"printer:{name}")
                    for name, worker in self.workers.items()
                ]
                if self.link is not None:
                    tasks.append(group.create_task(self.link.run(), name="mqtt-link"))
                    tasks.append(group.create_task(self._status(store, self.link), name="status"))
                tasks.append(group.create_task(self._controls(store), name="controls"))
                tasks.append(group.create_task(self._housekeeping(store), name="housekeeping"))
                if self.notifier.watchdog_interval:
                    tasks.append(group.create_task(self._watchdog(), name="watchdog"))
                await self._wait_probed()
                self.ready.set()
                self.notifier.ready(f"{len(self.workers)} printer(s)")
                log.info("station_started", printers=len(self.workers))
                await self._stop.wait()
                self.notifier.stopping()
                await self._drain_printers()
                await self._flush_outbox()
                for task in tasks:
                    task.cancel()
            cards.cancel_all()
            log.info(
                "station_stopped",
                cards_prepared=cards.prepared,
                prepare_cpu_s=round(cards.prepare_cpu_s, 3),
                prepared_in_processes=cards.in_processes,
                card_transactions=writer.transactions,
                card_commits=writer.commits,
                cards_done=sum(w.view.cards_done for w in self.workers.values()),
            )
        finally:
            if writer is not None:
                writer.close()
            store.close()
            self.store = None

    def _make_link(self, store: Store, writer: StoreWriter) -> RegistryLink | None:
        if not self.settings.mqtt.enabled:
            log.warning("mqtt_disabled", detail="no registry link: jobs arrive by no route")
            return None
        if self._signer is None or self._verifier is None:
            raise ValueError("the registry link needs the station's signer and a verifier")
        commands = StationCommands(store, self.workers, self._outcome_committed)
        return RegistryLink(
            self.settings,
            store,
            signer=self._signer,
            verifier=self._verifier,
            credit=store_credit(store, self.settings.station.max_queue),
            commands=commands,
            card_validator=self._card_validator,
            on_job=lambda _job_id: self.wake.set(),
            outbox_writes=writer.writes,
        )

    def _outcome_committed(self) -> None:
        """Something went into the outbox or changed the credit: tell the link now."""
        if self.link is not None:
            self.link.notify_outbox()
            self.link.notify_credit()

    async def _status(self, store: Store, link: RegistryLink) -> None:
        """Keep the retained status in step with the printers (published on change)."""
        last: object = None
        while True:
            modes = {w.view.mode for w in self.workers.values()}
            state = "paused" if modes == {PAUSED} else "draining" if DRAINING in modes else "online"
            printers = tuple(
                WirePrinterState(name=w.name, state=w.view.state, paused=w.view.mode == PAUSED)
                for w in self.workers.values()
            )
            queued = store.jobs.queued_count()
            current = (state, printers, queued)
            if current != last:
                link.set_status(state, printers, queued)  # type: ignore[arg-type]
                last = current
            await asyncio.sleep(STATUS_POLL_S)

    async def _flush_outbox(self) -> None:
        """On a graceful stop, give the broker a few seconds to take what is waiting."""
        if self.link is None or self.store is None or not self.link.connected.is_set():
            return
        self.link.notify_outbox()
        outbox = self.store.outbox
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FLUSH_ON_STOP_S):
                # The outbox lives in SQLite: there is no event to wait on.
                while outbox.depth():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

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

    async def _controls(self, store: Store) -> None:
        """Apply technician requests written by `printd printers pause|resume|drain`."""
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

    async def _housekeeping(self, store: Store) -> None:
        """Expired jobs, retention purges, supply warnings and the inventory, off the loop."""
        housekeeping = Housekeeping(store, self.settings, inventory=self.link is not None)
        await housekeeping.run(self._stop, self._outcome_committed)
