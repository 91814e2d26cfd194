"""Messages waiting to reach the registry.

A row is written in the same transaction as the change it reports, and
marked sent only after the broker acknowledged it, so nothing is lost between
a commit and a publish. ``seq`` is the station's gapless message sequence: the
registry uses it to spot a gap and to drop a repeat. Sent rows are kept for a
while: a broker that crashes can lose what it had acknowledged, and a
registry that sees the gap asks for it again (:meth:`Outbox.resend_from`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from printd.store.bulk import update_ids
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
        # The next number of the gapless sequence, taken in one statement.
        row = conn.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'outbox_seq' RETURNING value"
        ).fetchone()
        seq = int(row[0])
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
            "SELECT seq, topic, body, retain FROM outbox WHERE sent_at IS NULL "
            "ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [OutboxMessage(r[0], r[1], json.loads(r[2]), bool(r[3])) for r in rows]

    def mark_sent(self, seqs: Iterable[int]) -> None:
        update_ids(self._conn, "UPDATE outbox SET sent_at = ?", "seq", seqs, (stamp(),))

    def depth(self) -> int:
        """Messages not yet acknowledged by the broker."""
        row = self._conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
        return int(row[0])

    def resend_from(self, conn: sqlite3.Connection, seq: int) -> tuple[int, int | None]:
        """Queue every kept message from ``seq`` on again: (how many, the oldest kept seq).

        Retained messages go again as plain ones: the registry gets the seq it
        missed, and the retained value on the broker stays the newest.
        """
        cur = conn.execute(
            "UPDATE outbox SET sent_at = NULL, retain = 0 WHERE seq >= ? AND sent_at IS NOT NULL",
            (seq,),
        )
        oldest = conn.execute("SELECT min(seq) FROM outbox").fetchone()[0]
        return cur.rowcount, None if oldest is None else int(oldest)

    def forget_sent(self, conn: sqlite3.Connection, sent_before: datetime) -> int:
        """Drop sent messages older than the resend window."""
        cur = conn.execute(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", (stamp(sent_before),)
        )
        return cur.rowcount
