"""Messages waiting to reach the registry.

A row is written in the same transaction as the change it reports, and
deleted only after the broker acknowledged it, so nothing is lost between a
commit and a publish. ``seq`` is the station's gapless message sequence: the
registry uses it to spot a gap and to drop a repeat.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from printd.store.clock import stamp


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    seq: int
    topic: str
    body: dict[str, Any]
    retain: bool


class Outbox:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def enqueue(
        self, conn: sqlite3.Connection, topic: str, body: dict[str, Any], *, retain: bool = False
    ) -> int:
        seq = int(conn.execute("SELECT value FROM meta WHERE key = 'outbox_seq'").fetchone()[0]) + 1
        conn.execute("UPDATE meta SET value = ? WHERE key = 'outbox_seq'", (str(seq),))
        conn.execute(
            "INSERT INTO outbox (seq, topic, body, retain, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                seq,
                topic,
                json.dumps(body, separators=(",", ":"), sort_keys=True),
                int(retain),
                stamp(),
            ),
        )
        return seq

    def pending(self, limit: int = 100) -> list[OutboxMessage]:
        rows = self._conn.execute(
            "SELECT seq, topic, body, retain FROM outbox ORDER BY seq LIMIT ?", (limit,)
        )
        return [OutboxMessage(r[0], r[1], json.loads(r[2]), bool(r[3])) for r in rows]

    def delete(self, seqs: Iterable[int]) -> None:
        self._conn.executemany("DELETE FROM outbox WHERE seq = ?", ((s,) for s in seqs))

    def depth(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
