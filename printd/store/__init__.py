"""The station's durable store: the single source of truth.

Nothing is acknowledged, printed or reported that is not first committed here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from printd.store.db import (
    DB_NAME,
    DirectoryLock,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    close,
    open_database,
    open_sibling,
    transaction,
)
from printd.store.inbox import Inbox
from printd.store.jobs import DuplicateJob, JobError, JobRecord, Jobs, JobState
from printd.store.ledger import BlankState, Ledger, LedgerError, SpoilReason
from printd.store.outbox import Outbox, OutboxMessage

__all__ = [
    "BlankState",
    "DuplicateJob",
    "JobError",
    "JobRecord",
    "JobState",
    "Ledger",
    "LedgerError",
    "OutboxMessage",
    "SpoilReason",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreLocked",
]


class Store:
    """One open database plus, for the daemon, the state directory's lock."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: DirectoryLock | None) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock
        self.jobs = Jobs(conn)
        self.ledger = Ledger(conn)
        self.outbox = Outbox(conn)
        self.inbox = Inbox(conn)

    @classmethod
    def open(cls, state_dir: Path, *, daemon: bool = False) -> Store:
        """Open the station's database, creating the directory and file if new.

        ``daemon=True`` takes the state directory's exclusive lock: two
        daemons can never run on one directory. The CLI opens without it.
        """
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create state directory {state_dir}: {exc}") from None
        lock = None
        if daemon:
            lock = DirectoryLock(state_dir)
            lock.acquire()
        try:
            conn = open_database(state_dir / DB_NAME)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return cls(conn, state_dir / DB_NAME, lock)

    @classmethod
    def open_existing(cls, state_dir: Path) -> Store:
        """Open for reading and technician commands; refuse to create a new station."""
        if not (state_dir / DB_NAME).exists():
            raise StoreError(
                f"no printd database in {state_dir}; is state_dir right? "
                "(`printd config show` prints it)"
            )
        return cls.open(state_dir)

    def sibling(self) -> Store:
        """A second connection to the same database, for one other thread.

        It holds no directory lock (this store's owner does) and must be
        closed before this store is.
        """
        return Store(open_sibling(self.path), self.path, None)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with transaction(self.conn) as conn:
            yield conn

    def close(self) -> None:
        close(self.conn, self.path)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
