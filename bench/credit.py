"""What one look at the credit costs, against the size of the queue and the storeroom.

The station looks at its credit after every outbox flush (up to 20 times a
second while printers finish cards). Side by side, on the same database:

- "counted in full": every count walks all its rows (the credit as first built);
- "bounded": each count stops where the credit is decided (``store_credit``).

Each look follows a commit from another connection, as in the daemon, where
the store writer commits between looks and SQLite drops the reader's cache.

Run: ``python bench/credit.py``. Prints figures; checks only that both ways
give the same credit.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from printd.mqtt.link import store_credit
from printd.serials import parse_serials
from printd.store import Store
from printd.store.db import DB_NAME

MAX_QUEUE = 500  # the default station.max_queue
LOOKS = 200


def counted_in_full(store: Store, max_queue: int) -> Callable[[], int]:
    def credit() -> int:
        unchecked = store.inbox.count()
        active = store.jobs.active_count() + unchecked
        queued = store.jobs.queued_count() + unchecked
        loaded = store.conn.execute(
            "SELECT count(*) FROM blanks WHERE state = 'loaded' AND job_id IS NULL"
        ).fetchone()[0]
        return max(0, min(max_queue - active, loaded - queued))

    return credit


def fill(state: Path, queued: int, in_stock: int) -> None:
    not_after = datetime.now(UTC) + timedelta(days=1)
    with Store.open(state) as store:
        for n in range(1, 5):
            serials = parse_serials([f"P{n}-000001..P{n}-000500"])
            store.ledger.receive(f"BOX-{n}", serials, "bench")
            store.ledger.load(f"printer-{n}", serials, "bench")
        if in_stock:
            store.ledger.receive("SHELF", parse_serials([f"S-{1:07d}..S-{in_stock:07d}"]), "bench")
        with store.transaction() as conn:
            for n in range(queued):
                store.jobs.accept(
                    conn,
                    job_id=f"job-{n:07d}",
                    priority="urgent" if n % 10 == 0 else "normal",
                    not_after=not_after,
                    payload=b"{}",
                    content_hash=f"h{n}",
                    key_id="bench",
                )


def per_look_ms(credit: Callable[[], int], other: sqlite3.Connection) -> tuple[float, int]:
    took = 0.0
    value = 0
    for _ in range(LOOKS):
        other.execute("UPDATE bench_bump SET n = n + 1")
        start = time.perf_counter()
        value = credit()
        took += time.perf_counter() - start
    return took / LOOKS * 1000, value


def main() -> None:
    print(f"one look at the credit, ms (mean of {LOOKS}, each after another connection's commit)")
    print(f"{'queued jobs':>12} {'blanks in stock':>16} {'counted in full':>16} {'bounded':>9}")
    for queued, in_stock in ((400, 0), (2_000, 0), (20_000, 50_000), (100_000, 200_000)):
        with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
            state = Path(tmp)
            fill(state, queued, in_stock)
            other = sqlite3.connect(state / DB_NAME, isolation_level=None)
            other.execute("CREATE TABLE bench_bump (n INTEGER)")
            other.execute("INSERT INTO bench_bump VALUES (0)")
            with Store.open(state) as store:
                full_ms, full = per_look_ms(counted_in_full(store, MAX_QUEUE), other)
                bounded_ms, bounded = per_look_ms(store_credit(store, MAX_QUEUE), other)
            other.close()
            assert full == bounded, (full, bounded)
            print(f"{queued:>12,} {in_stock:>16,} {full_ms:>16.3f} {bounded_ms:>9.3f}")


if __name__ == "__main__":
    main()
