"""The printers' transactions, committed by one thread with its own connection.

Every card costs the pipeline a durable commit (``synchronous=FULL``: an
fsync) before the next card may start. Run on the event loop, each fsync
stalls every printer's link, not only the one whose card it records. Here a
single writer thread takes the printers' transactions in turn; while one
commits, the event loop keeps serving the printers, and the transactions
that arrived meanwhile are committed together, each in its own savepoint, so
a batch costs one fsync and one failing step changes nothing of the others.

A caller's ``await`` returns only after the commit: nothing goes to a
printer or to the registry that is not in the store first, as before.

The outbox marks the messages the broker acknowledged through here too
(:meth:`StoreWriter.writes`): while printers finish cards, the mark rides in
their next commit instead of costing an fsync of its own.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from printd.store import Store
from printd.store.db import close

# One step of a transaction: runs in the writer thread, with the writer's
# store (its own connection) and the open transaction.
Step = Callable[[Store, sqlite3.Connection], Any]

# Transactions committed together at most; a batch is whatever waited while
# the previous one committed, so this bounds only a burst.
MAX_BATCH = 32


class WriterStopped(RuntimeError):
    """The writer was closed; the transaction was not run."""


@dataclass(eq=False)
class _Request:
    steps: Sequence[Step]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Any]]
    results: list[Any] = field(default_factory=list)
    error: BaseException | None = None


def _settle(requests: list[_Request]) -> None:
    for request in requests:
        if request.future.cancelled():
            continue
        if request.error is not None:
            request.future.set_exception(request.error)
        else:
            request.future.set_result(request.results)


class StoreWriter:
    """Run transactions in the writer thread: ``await writer.run(step, ...)``."""

    def __init__(self, store: Store) -> None:
        self._path = store.path
        self.store = store.sibling()  # synchronous=FULL: as durable as the daemon's own
        self._conn = self.store.conn
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="store-writer", daemon=True)
        self._closed = False
        self.commits = 0
        self.transactions = 0
        self._thread.start()

    async def run(self, *steps: Step) -> list[Any]:
        """Run ``steps`` in order in one transaction; their results once committed.

        If a step raises, none of them changes anything and the error is
        raised here. Cancelling the wait does not undo a transaction that is
        already committing: the caller must not rely on it not having run.
        """
        if self._closed:
            raise WriterStopped("the store writer is closed")
        loop = asyncio.get_running_loop()
        request = _Request(steps, loop, loop.create_future())
        self._requests.put(request)
        return await request.future

    async def writes(self, write: Callable[[Store], None]) -> None:
        """Run ``write`` in a transaction of the writer (the shape the outbox takes).

        It shares a commit with whatever the printers asked for meanwhile:
        while cards are printing, it costs no fsync of its own.
        """
        await self.run(lambda store, _conn: write(store))

    def close(self) -> None:
        """Finish what was asked, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._requests.put(None)
        self._thread.join()
        close(self._conn, self._path)

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._requests.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._requests.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._commit(batch)
            # One wake-up of each waiting loop a batch, not one a request.
            by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
            for request in batch:
                by_loop.setdefault(request.loop, []).append(request)
            for loop, requests in by_loop.items():
                loop.call_soon_threadsafe(_settle, requests)

    def _commit(self, batch: list[_Request]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for request in batch:
                request.error = exc
            return
        try:
            self._run_steps(batch, conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            # The commit itself failed, or the step of a request alone in its
            # batch: nothing of the batch is stored.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for request in batch:
                request.results, request.error = [], exc
            return
        self.commits += 1
        self.transactions += len(batch)

    def _run_steps(self, batch: list[_Request], conn: sqlite3.Connection) -> None:
        """Every request's steps, in the open transaction.

        A request alone in its batch (one printer, or a quiet moment) needs
        no savepoint: if a step raises, the whole transaction is rolled back.
        In a larger batch each request has its own, so a failing one changes
        nothing of the others.
        """
        if len(batch) == 1:
            batch[0].results = [step(self.store, conn) for step in batch[0].steps]
            return
        for request in batch:
            conn.execute("SAVEPOINT step")
            try:
                request.results = [step(self.store, conn) for step in request.steps]
            except BaseException as exc:  # handed to the caller, like a failed transaction
                conn.execute("ROLLBACK TO step")
                request.results, request.error = [], exc
            conn.execute("RELEASE step")
