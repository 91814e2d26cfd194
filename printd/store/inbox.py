"""Job messages taken from the broker and not yet checked.

Intake has two steps so that a backlog leaves the broker at the speed of the
disk, not at the speed of the checks: a message is first committed here as
received (then, and only then, the broker gets its PUBACK), and checked
afterwards (signature, schema, card), which turns each row into a job or a
rejection, with its receipt, in one transaction that also deletes the row.
A row left here by a crash is checked after the restart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from printd.store.bulk import delete_ids, insert_rows
from printd.store.clock import stamp


class Inbox:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, conn: sqlite3.Connection, payloads: Sequence[bytes]) -> None:
        now = stamp()
        insert_rows(conn, "inbox", ("received_at", "payload"), [(now, p) for p in payloads])

    def oldest(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` rows in arrival order: (row id, payload)."""
        rows = self._conn.execute(
            "SELECT id, payload FROM inbox ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def remove(self, conn: sqlite3.Connection, ids: Iterable[int]) -> None:
        delete_ids(conn, "inbox", "id", ids)

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM inbox").fetchone()[0])
