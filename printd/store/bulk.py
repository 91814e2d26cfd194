"""Many rows in one statement: one wait for the interpreter lock, not one per row.

``executemany`` runs its statement once per row, and around each run the
sqlite3 module releases the interpreter lock and then waits to take it back.
On a thread beside a busy event loop (the intake thread, the store writer)
each of those waits lasts up to the switch interval: 500 inbox rows cost 0.7
to 3 s in waits alone, against 60 to 110 ms as multi-row statements
(measured with a CPU-bound thread beside, at 1 ms and 5 ms intervals).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

# SQLite's smallest compile-time limit on ? variables in one statement.
MAX_VARIABLES = 999


def insert_rows(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT every row, as few statements as the variable limit allows."""
    per_statement = MAX_VARIABLES // len(columns)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = _insert_sql(table, tuple(columns), len(chunk))
        conn.execute(sql, [value for row in chunk for value in row])


def delete_ids(conn: sqlite3.Connection, table: str, key: str, ids: Iterable[int]) -> None:
    """DELETE the rows whose ``key`` is one of ``ids``."""
    update_ids(conn, f"DELETE FROM {table}", key, ids)


def update_ids(
    conn: sqlite3.Connection,
    statement: str,
    key: str,
    ids: Iterable[int],
    params: Sequence[Any] = (),
) -> None:
    """Run ``statement`` (an UPDATE or DELETE without WHERE, its own ? bound to
    ``params``) on the rows whose ``key`` is one of ``ids``."""
    wanted = list(ids)
    per_statement = MAX_VARIABLES - len(params)
    for start in range(0, len(wanted), per_statement):
        chunk = wanted[start : start + per_statement]
        sql = f"{statement} WHERE {key} IN ({_marks(len(chunk))})"
        conn.execute(sql, [*params, *chunk])


@cache
def _insert_sql(table: str, columns: tuple[str, ...], count: int) -> str:
    row = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * count)}"


@cache
def _marks(count: int) -> str:
    return ", ".join("?" * count)
