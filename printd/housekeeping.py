"""The station's periodic upkeep, in a thread of its own.

Every ``HOUSEKEEPING_S``: report expired jobs, purge card payloads and sent
messages past retention, raise supply warnings, and publish the inventory
when it changed. The supply check and the inventory count the whole
storeroom; with a million blanks on the books a pass takes about a quarter
of a second. On the event loop that froze every printer's link, intake and
the status for that long; here the pass runs with its own connection while
the loop goes on (SQLite lets go of the GIL while it reads).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from printd import reports
from printd.commands import inventory_body, publish_inventory
from printd.config import Settings
from printd.logs import get_logger
from printd.pipeline import jobflow
from printd.store import Store
from printd.store.clock import utc_now
from printd.supplies import supply_warnings

log = get_logger("printd.housekeeping")

HOUSEKEEPING_S = 10.0


class Housekeeping:
    def __init__(self, store: Store, settings: Settings, *, inventory: bool) -> None:
        """``inventory``: publish the inventory (only with a registry link)."""
        self._store = store
        self._settings = settings
        self._inventory = inventory
        self._warned: set[tuple[str, str | None]] = set()
        self._last_inventory: object = None

    async def run(self, stop: asyncio.Event, on_outbox: Callable[[], None]) -> None:
        """A pass now and every ``HOUSEKEEPING_S`` until ``stop``; ``on_outbox``
        (on the loop) after a pass that queued messages."""
        loop = asyncio.get_running_loop()
        db: Store | None = None

        def one_pass() -> bool:
            nonlocal db
            if db is None:
                db = self._store.sibling()
            return self.run_pass(db)

        def close() -> None:
            if db is not None:
                db.close()

        with ThreadPoolExecutor(1, thread_name_prefix="printd-housekeeping") as thread:
            try:
                while not stop.is_set():
                    if await loop.run_in_executor(thread, one_pass):
                        on_outbox()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(HOUSEKEEPING_S):
                            await stop.wait()
            finally:
                # After a pass still running when cancelled: the connection
                # belongs to that thread and must close before the store does.
                thread.submit(close).result()

    def run_pass(self, store: Store) -> bool:
        """One pass with ``store`` (this thread's connection); whether it queued messages."""
        expired = jobflow.expire_due(store)
        if expired:
            log.info("jobs_expired", jobs=len(expired))
        retention = timedelta(days=self._settings.station.retention_days)
        keep_sent = timedelta(hours=self._settings.mqtt.keep_sent_h)
        with store.transaction() as conn:
            purged = store.jobs.purge_payloads(conn, utc_now() - retention)
            store.outbox.forget_sent(conn, utc_now() - keep_sent)
        if purged:
            log.info("payloads_purged", jobs=purged)
        warned = self._check_supplies(store)
        published = self._publish_inventory_if_changed(store)
        return bool(expired) or warned or published

    def _check_supplies(self, store: Store) -> bool:
        """Raise each supply warning once when it starts; forget it once it clears."""
        current = supply_warnings(store, self._settings.station.low_stock_threshold)
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
        return bool(new)

    def _publish_inventory_if_changed(self, store: Store) -> bool:
        """Retained inventory on MQTT whenever the blanks or ribbons changed."""
        if not self._inventory:
            return False
        body = inventory_body(store)
        current = {k: v for k, v in body.items() if k != "at"}
        if current == self._last_inventory:
            return False
        publish_inventory(store, body)
        self._last_inventory = current
        return True
