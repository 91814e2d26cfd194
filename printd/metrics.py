"""Prometheus metrics, served on loopback when ``[metrics] enabled = true``.

Two kinds: counters and a histogram the workers update as cards come out
(cards issued, blanks spoiled by reason, seconds per card, MQTT reconnects),
and gauges read from the store at scrape time (jobs by state, blanks per batch
and per printer, ribbon prints left, outbox depth), so the hot path writes
nothing extra and a scrape always shows what the database says.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from printd.store.db import connect


class StationMetrics:
    def __init__(self, state_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cards_issued = Counter(
            "printd_cards_issued",
            "Cards printed and issued to a job.",
            ["printer"],
            registry=self.registry,
        )
        self.blanks_spoiled = Counter(
            "printd_blanks_spoiled",
            "Blanks spoiled while printing, by reason.",
            ["printer", "reason"],
            registry=self.registry,
        )
        self.card_seconds = Histogram(
            "printd_card_seconds",
            "Time from claiming a job to the card's outcome.",
            ["printer"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120),
            registry=self.registry,
        )
        self.mqtt_connected = Gauge(
            "printd_mqtt_connected",
            "1 while the link to the registry's broker is up.",
            registry=self.registry,
        )
        self.mqtt_reconnects = Counter(
            "printd_mqtt_reconnects",
            "Connections to the broker made after the first.",
            registry=self.registry,
        )
        if state_dir is not None:
            self.registry.register(_StoreCollector(state_dir))

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)


class _StoreCollector(Collector):
    """Gauges read from the database at each scrape, on the scraper's thread."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / "printd.db"
        self._local = threading.local()

    def describe(self) -> list[GaugeMetricFamily]:
        # Registering must not open the database: collect() runs on scrapes only.
        return []

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path)
            self._local.conn = conn
        return conn

    def collect(self) -> Iterator[GaugeMetricFamily]:
        conn = self._conn()
        jobs = GaugeMetricFamily("printd_jobs", "Jobs by state.", labels=["state"])
        for state, number in conn.execute("SELECT state, count(*) FROM jobs GROUP BY state"):
            jobs.add_metric([state], number)
        yield jobs
        blanks = GaugeMetricFamily(
            "printd_blanks",
            "Blanks by batch and state (the ledger's balance).",
            labels=["batch", "state"],
        )
        for batch, state, number in conn.execute(
            "SELECT batch_id, state, count(*) FROM blanks GROUP BY batch_id, state"
        ):
            blanks.add_metric([batch, state], number)
        yield blanks
        loaded = GaugeMetricFamily(
            "printd_blanks_loaded", "Blanks in each printer's feeder.", labels=["printer"]
        )
        for printer, number in conn.execute(
            "SELECT printer, count(*) FROM blanks WHERE state = 'loaded' GROUP BY printer"
        ):
            loaded.add_metric([printer], number)
        yield loaded
        ribbon = GaugeMetricFamily(
            "printd_ribbon_prints_left", "Prints left on each printer's ribbon.", labels=["printer"]
        )
        faulted = GaugeMetricFamily(
            "printd_printer_up", "1 when a printer is ready or printing.", labels=["printer"]
        )
        for name, left, state in conn.execute("SELECT name, ribbon_left, state FROM printers"):
            if left is not None:
                ribbon.add_metric([name], left)
            faulted.add_metric([name], 1 if state in ("ready", "printing", "idle") else 0)
        yield ribbon
        yield faulted
        outbox = GaugeMetricFamily("printd_outbox_depth", "Messages waiting for the broker.")
        outbox.add_metric(
            [], conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        )
        yield outbox
