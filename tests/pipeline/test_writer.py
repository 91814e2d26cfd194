"""The store writer: printers' transactions committed off the event loop, in batches."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from stations import add_jobs

from printd.pipeline import jobflow
from printd.pipeline.writer import StoreWriter, WriterStopped
from printd.serials import parse_serials
from printd.store import JobState, LedgerError, Store

SERIALS = parse_serials(["AB-100001..AB-100020"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path) as opened:
        opened.ledger.receive("BOX-1", SERIALS, "t")
        opened.ledger.load("p1", SERIALS[:10], "t")
        opened.ledger.load("p2", SERIALS[10:], "t")
        add_jobs(opened, 6)
        yield opened


def state(store: Store, job_id: str) -> JobState:
    return store.jobs.require(job_id).state


async def test_outcome_and_next_claim_commit_together(store: Store) -> None:
    """An issued card and the next claim are one commit, seen by the daemon's own connection."""
    writer = StoreWriter(store)
    try:
        [first] = await writer.run(lambda s, c: jobflow.claim_next_in(s, c, "p1"))
        serial, second = await writer.run(
            lambda s, c: jobflow.record_issued_in(s, c, first, None),
            lambda s, c: jobflow.claim_next_in(s, c, "p1"),
        )
        assert serial == first.serial
        assert state(store, first.job_id) is JobState.PRINTED
        assert state(store, second.job_id) is JobState.PRINTING
        assert second.serial != first.serial
        assert writer.commits == 2
    finally:
        writer.close()


async def test_a_failing_transaction_changes_nothing_and_spares_its_batch(store: Store) -> None:
    """In one batch, a transaction whose step raises is rolled back whole; the others commit."""
    writer = StoreWriter(store)
    try:
        [claim] = await writer.run(lambda s, c: jobflow.claim_next_in(s, c, "p1"))

        def issue_then_fail(s: Store, c: sqlite3.Connection) -> None:
            jobflow.record_issued_in(s, c, claim, None)
            # The same job cannot be issued twice: this raises after a change was made.
            jobflow.record_issued_in(s, c, claim, None)

        results = await asyncio.gather(
            writer.run(issue_then_fail),
            writer.run(lambda s, c: jobflow.claim_next_in(s, c, "p2")),
            return_exceptions=True,
        )
        assert isinstance(results[0], LedgerError)
        assert state(store, claim.job_id) is JobState.PRINTING
        assert store.ledger.blank(claim.serial)["state"] == "loaded"
        other = results[1]
        assert isinstance(other, list)
        assert state(store, other[0].job_id) is JobState.PRINTING
        assert store.ledger.verify().ok
    finally:
        writer.close()


async def test_concurrent_transactions_share_commits(store: Store) -> None:
    """Transactions that arrive while one commits are committed together, each exactly once."""
    writer = StoreWriter(store)
    try:
        claims = await asyncio.gather(
            *(
                writer.run(lambda s, c, p=printer: jobflow.claim_next_in(s, c, p))
                for printer in ("p1", "p2")
            )
        )
        outcomes = [
            writer.run(lambda s, c, claim=claim: jobflow.record_issued_in(s, c, claim, None))
            for [claim] in claims
        ]
        await asyncio.gather(*outcomes)
        assert store.jobs.count_by_state()["printed"] == 2
        assert writer.transactions == 4
        assert writer.commits <= writer.transactions
    finally:
        writer.close()


async def test_a_closed_writer_refuses_work(store: Store) -> None:
    """After close, run() raises instead of queueing work nobody will do."""
    writer = StoreWriter(store)
    writer.close()
    with pytest.raises(WriterStopped):
        await writer.run(lambda s, c: None)


async def test_a_failing_transaction_alone_changes_nothing(store: Store) -> None:
    """Alone in its batch (no savepoint), a transaction whose step raises is rolled back whole."""
    writer = StoreWriter(store)
    try:
        [claim] = await writer.run(lambda s, c: jobflow.claim_next_in(s, c, "p1"))
        head = store.ledger.verify()

        def issue_then_fail(s: Store, c: sqlite3.Connection) -> None:
            jobflow.record_issued_in(s, c, claim, None)
            jobflow.record_issued_in(s, c, claim, None)

        with pytest.raises(LedgerError):
            await writer.run(issue_then_fail)
        assert state(store, claim.job_id) is JobState.PRINTING
        assert store.ledger.blank(claim.serial)["state"] == "loaded"
        assert store.ledger.verify() == head
        [serial] = await writer.run(lambda s, c: jobflow.record_issued_in(s, c, claim, None))
        assert serial == claim.serial
        assert writer.commits == 2
    finally:
        writer.close()


async def test_outbox_marks_share_a_commit_with_the_printers(store: Store) -> None:
    """A mark from the outbox that waits behind a commit goes out in the next
    one with the printers' transactions: it costs no commit of its own."""
    from printd.messages import outbox_body

    with store.transaction() as conn:
        seq = store.outbox.enqueue(conn, "results", outbox_body("result", **_expired("j-x")))
    writer = StoreWriter(store)
    try:
        release = asyncio.Event()
        loop = asyncio.get_running_loop()
        busy = writer.run(
            lambda s, c: asyncio.run_coroutine_threadsafe(release.wait(), loop).result(5)
        )
        busy_task = asyncio.ensure_future(busy)
        await asyncio.sleep(0.05)  # the writer is inside the first transaction
        claim = asyncio.ensure_future(writer.run(lambda s, c: jobflow.claim_next_in(s, c, "p1")))
        mark = asyncio.ensure_future(writer.writes(lambda s: s.outbox.mark_sent([seq])))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(busy_task, claim, mark)
        assert store.outbox.depth() == 0
        assert state(store, "job-00000") is JobState.PRINTING
        assert (writer.transactions, writer.commits) == (3, 2)
    finally:
        writer.close()


def _expired(job_id: str) -> dict[str, object]:
    return {"job_id": job_id, "outcome": "expired", "at": "2026-11-29T00:00:00Z"}
