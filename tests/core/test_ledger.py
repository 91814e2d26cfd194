"""The blank ledger: every operation, its refusals, and the hash chain."""

import io
import sqlite3

import pytest
from stations import accept_job

from printd.serials import parse_serials
from printd.store import LedgerError, Store
from printd.store.ledger import SHELF

BOX = parse_serials(["AB-100001..AB-100500"])


def test_receive_load_issue_spoil_void_balance(store: Store) -> None:
    """A day's work keeps received = issued + spoiled + voided + missing + in stock + loaded."""
    store.ledger.receive("BOX-1", BOX, "sri")
    store.ledger.load("p1", BOX[:100], "sri")
    with store.transaction() as conn:
        accept_job(store, conn, "job-1")
        serial = store.ledger.reserve(conn, "p1", "job-1", "station")
        assert serial == BOX[0]
        store.ledger.issue(conn, serial, "job-1", "station")
    store.ledger.spoil(BOX[1], "jam", "sri", detail="cleared by hand")
    store.ledger.void(BOX[400:410], "sri", "returned to Jakarta")
    rec = store.ledger.reconcile()
    assert rec.balanced
    (batch,) = rec.batches
    assert (batch.issued, batch.spoiled, batch.voided, batch.loaded, batch.in_stock) == (
        1,
        1,
        10,
        98,
        390,
    )
    assert store.ledger.verify().ok


def test_overlapping_batch_is_refused_whole(store: Store) -> None:
    """A batch with one known serial adds nothing at all."""
    store.ledger.receive("BOX-1", BOX, "sri")
    events_before = store.ledger.verify().events
    with pytest.raises(LedgerError, match="already in the ledger"):
        store.ledger.receive("BOX-2", parse_serials(["AB-100500..AB-100600"]), "sri")
    assert store.ledger.verify().events == events_before
    assert [b.batch_id for b in store.ledger.reconcile().batches] == ["BOX-1"]


def test_feeder_order_decides_which_blank_is_reserved(store: Store) -> None:
    """The next blank is the one loaded first; a released one is used again."""
    store.ledger.receive("B", BOX[:10], "t")
    store.ledger.load("p1", [BOX[5], BOX[2]], "t")
    with store.transaction() as conn:
        accept_job(store, conn, "j")
        assert store.ledger.reserve(conn, "p1", "j", "station") == BOX[5]
        with pytest.raises(LedgerError, match="already has blank"):
            store.ledger.reserve(conn, "p1", "j", "station")
        store.ledger.release(conn, BOX[5], "station", "printer fault before feeding")
        assert store.ledger.reserve(conn, "p1", "j", "station") == BOX[5]


def test_a_job_gets_one_issued_blank_only(store: Store) -> None:
    """A reprint is a new job: a second issue to one job is refused."""
    store.ledger.receive("B", BOX[:10], "t")
    store.ledger.load("p1", BOX[:10], "t")
    with store.transaction() as conn:
        accept_job(store, conn, "j")
        first = store.ledger.reserve(conn, "p1", "j", "station")
        store.ledger.issue(conn, first, "j", "station")
        second = store.ledger.reserve(conn, "p1", "j", "station")
        with pytest.raises(LedgerError, match="reprint is a new job"):
            store.ledger.issue(conn, second, "j", "station")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda s: s.ledger.load("p1", ["NOPE-1"], "t"), "never received"),
        (lambda s: s.ledger.void([BOX[0]], "t"), "not in_stock"),
        (lambda s: s.ledger.spoil(BOX[0], "other", "t"), "needs a description"),
        (lambda s: s.ledger.spoil(BOX[1], "sneezed", "t"), "unknown spoil reason"),
        (lambda s: s.ledger.unload("p2", [BOX[0]], "t"), "loaded in p1, not p2"),
        (lambda s: s.ledger.load("p1", [BOX[0]], "t"), "it is loaded in p1"),
        (lambda s: s.ledger.spoil(BOX[1], "jam", "t\x1bx"), "control characters"),
    ],
)
def test_refused_operations_change_nothing(store: Store, action, message: str) -> None:  # type: ignore[no-untyped-def]
    """Each refusal says why and leaves the ledger exactly as it was."""
    store.ledger.receive("B", BOX[:10], "t")
    store.ledger.load("p1", BOX[:1], "t")
    before = list(store.conn.iterdump())
    with pytest.raises(LedgerError, match=message):
        action(store)
    assert list(store.conn.iterdump()) == before


def test_count_marks_missing_finds_and_moves(store: Store) -> None:
    """A physical count records every difference as ledger events."""
    store.ledger.receive("B", BOX[:20], "t")
    store.ledger.load("p1", BOX[:5], "t")
    # Shelf has 6..20 except 7; blank 3 was found on the shelf, not in p1.
    shelf = [s for s in BOX[5:20] if s != BOX[7]] + [BOX[2]]
    report = store.ledger.count({SHELF: shelf}, "auditor")
    assert report.missing == [BOX[7]]
    assert report.moved == [BOX[2]]
    assert store.ledger.blank(BOX[7])["state"] == "missing"
    assert store.ledger.blank(BOX[2])["state"] == "in_stock"
    # The missing blank turns up in the next count.
    again = store.ledger.count({SHELF: [*shelf, BOX[7]]}, "auditor")
    assert again.found == [BOX[7]]
    assert store.ledger.reconcile().balanced
    kinds = [e.kind for e in store.ledger.history(BOX[7])]
    assert kinds == ["receive", "missing", "found"]


def test_count_dry_run_records_nothing(store: Store) -> None:
    """A dry run reports differences and leaves the ledger alone."""
    store.ledger.receive("B", BOX[:20], "t")
    before = list(store.conn.iterdump())
    report = store.ledger.count({SHELF: BOX[:10]}, "t", apply=False)
    assert len(report.missing) == 10
    assert list(store.conn.iterdump()) == before


def _tamper(store: Store, sql: str, *args: object) -> None:
    store.conn.execute("DROP TRIGGER ledger_no_update")
    store.conn.execute("DROP TRIGGER ledger_no_delete")
    store.conn.execute(sql, args)


def test_ledger_rows_cannot_be_changed_through_sql(store: Store) -> None:
    """Triggers make the ledger append-only for anything using the schema."""
    store.ledger.receive("B", BOX[:3], "t")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE ledger SET by = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM ledger WHERE seq = 2")


def test_verify_names_the_first_edited_event(store: Store) -> None:
    """Editing a row breaks the chain exactly there."""
    store.ledger.receive("B", BOX[:10], "t")
    _tamper(store, "UPDATE ledger SET by = 'someone else' WHERE seq = 4")
    result = store.ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "altered" in (result.problem or "")


def test_verify_finds_a_deleted_event(store: Store) -> None:
    """Removing a row in the middle is found."""
    store.ledger.receive("B", BOX[:10], "t")
    _tamper(store, "DELETE FROM ledger WHERE seq = 6")
    result = store.ledger.verify()
    assert result.first_bad_seq == 6
    assert "missing" in (result.problem or "")


def test_verify_finds_a_truncated_tail(store: Store) -> None:
    """Removing the last events is found through the chain head."""
    store.ledger.receive("B", BOX[:10], "t")
    _tamper(store, "DELETE FROM ledger WHERE seq > 8")
    result = store.ledger.verify()
    assert not result.ok
    assert "removed from the end" in (result.problem or "")


def test_verify_finds_a_rehashed_forgery(store: Store) -> None:
    """An edited row whose own hash is recomputed still breaks the next link."""
    from printd.store.ledger import event_hash

    store.ledger.receive("B", BOX[:10], "t")
    row = store.conn.execute("SELECT * FROM ledger WHERE seq = 3").fetchone()
    fields = list(row)[:12]
    fields[9] = "forger"
    _tamper(
        store,
        "UPDATE ledger SET by = ?, hash = ? WHERE seq = 3",
        "forger",
        event_hash(row["prev_hash"], fields),
    )
    result = store.ledger.verify()
    assert result.first_bad_seq == 4


def test_export_writes_every_event_as_csv(store: Store) -> None:
    """The auditors' CSV has a header and one line per event."""
    store.ledger.receive("B", BOX[:10], "t")
    store.ledger.spoil(BOX[0], "damaged", "t")
    out = io.StringIO()
    assert store.ledger.export_csv(out) == 11
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("seq,at,kind,serial")
    assert len(lines) == 12
    assert ",spoil," in lines[-1]
