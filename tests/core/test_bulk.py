"""Multi-row statements: every row written, across the variable limit's chunks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from printd.store.bulk import MAX_VARIABLES, delete_ids, insert_rows, update_ids


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "bulk.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, blob BLOB, mark TEXT)")
    return conn


@pytest.mark.parametrize("count", [0, 1, MAX_VARIABLES // 3, MAX_VARIABLES // 3 + 1, 1200])
def test_insert_rows_writes_each_row_in_order(conn: sqlite3.Connection, count: int) -> None:
    rows = [(i, f"n{i}", bytes([i % 256]) * 3) for i in range(count)]
    insert_rows(conn, "t", ("id", "name", "blob"), rows)
    assert conn.execute("SELECT id, name, blob FROM t ORDER BY id").fetchall() == rows


def test_delete_and_update_by_ids_across_chunks(conn: sqlite3.Connection) -> None:
    insert_rows(conn, "t", ("id", "name"), [(i, "x") for i in range(3000)])
    update_ids(conn, "UPDATE t SET mark = ?", "id", range(0, 3000, 2), ("even",))
    delete_ids(conn, "t", "id", range(1000, 3000))
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1000
    marks = dict(conn.execute("SELECT id, mark FROM t").fetchall())
    assert all(marks[i] == ("even" if i % 2 == 0 else None) for i in range(1000))


def test_a_bad_row_writes_nothing_of_its_statement(conn: sqlite3.Connection) -> None:
    insert_rows(conn, "t", ("id", "name"), [(5, "first")])
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(conn, "t", ("id", "name"), [(4, "a"), (5, "duplicate"), (6, "c")])
    assert conn.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [(5, "first")]
