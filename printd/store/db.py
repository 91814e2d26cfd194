"""The station's one database file: open it safely, migrate it, lock it.

SQLite in WAL mode with ``synchronous=FULL``: a committed transaction survives
a power cut. Only one daemon may use a state directory (an exclusive ``flock``
on ``printd.lock``); the technician's CLI opens the same file alongside it and
relies on SQLite's own locking.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from printd.store.schema import APPLICATION_ID, MIGRATIONS

DB_NAME = "printd.db"
LOCK_NAME = "printd.lock"
_SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(Exception):
    """The state directory or its database cannot be used as it is."""


class StoreLocked(StoreError):
    """Another daemon holds the state directory."""


class StoreCorrupt(StoreError):
    """The database file is damaged or is not printd's; it is left untouched."""


def connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a
    # transaction is exactly the block the code says it is.
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    key = path.resolve()
    _open_in_process[key] = _open_in_process.get(key, 0) + 1
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    # A savepoint's sub-journal and a sort's scratch space are small here; kept
    # in memory they cost no temp file created and unlinked per statement, as
    # the default did for every savepoint the printer writer takes.
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


# Database files this process has open through SQLite. POSIX record locks
# belong to the process: closing *any* descriptor of the file drops every lock
# the process holds on it, SQLite's included. Once SQLite has the file open,
# reading its header with a plain open()/close() would silently unlock the
# database, and another process closing its connection would then delete the
# WAL under us. So the raw header check runs only before the first connection.
_open_in_process: dict[Path, int] = {}


def _check_existing(path: Path) -> None:
    """Refuse a file that is not a printd database before SQLite touches it."""
    if _open_in_process.get(path.resolve(), 0) > 0:
        return
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header != _SQLITE_HEADER:
        raise StoreCorrupt(f"{path} is not a SQLite database; printd will not overwrite it")


def _inspect_read_only(path: Path) -> None:
    """Judge an existing file without writing a byte to it."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (app_id != 0 or tables):
            raise StoreCorrupt(
                f"{path} is a SQLite database but not printd's "
                f"(application_id {app_id:#x}); printd will not touch it"
            )
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{path} has schema version {version}, newer than this printd knows "
                f"({len(MIGRATIONS)}); upgrade printd"
            )
        problem = conn.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise StoreCorrupt(f"{path} is damaged ({problem}); restore it from a backup")
    finally:
        conn.close()


# UPDATE ... RETURNING numbers the outbox: SQLite 3.35 (2021) or later.
MIN_SQLITE = (3, 35, 0)


def check_sqlite_version(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> None:
    """Refuse an SQLite library too old for the store's statements."""
    if version < MIN_SQLITE:
        need = ".".join(map(str, MIN_SQLITE))
        have = ".".join(map(str, version))
        raise StoreError(f"printd needs SQLite {need} or later; this Python has SQLite {have}")


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating if new) and migrate the database at ``path``."""
    check_sqlite_version()
    _check_existing(path)
    try:
        if path.exists() and path.stat().st_size > 0:
            _inspect_read_only(path)
        conn = connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        try:
            _migrate(conn, version, path)
        except StoreError:
            close(conn, path)
            raise
        return conn
    except sqlite3.DatabaseError as exc:
        raise StoreCorrupt(f"{path} cannot be read as a database: {exc}") from None


def open_sibling(path: Path) -> sqlite3.Connection:
    """Another connection to a database this process has opened and migrated."""
    conn = connect(path)
    # synchronous is per connection; WAL mode is recorded in the file.
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _migrate(conn: sqlite3.Connection, version: int, path: Path) -> None:
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits on its own, so the migration and its version
        # bump go in one explicit transaction inside the script.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                f"PRAGMA application_id = {APPLICATION_ID};\n"
                f"PRAGMA user_version = {number};\nCOMMIT;"
            )
        except sqlite3.IntegrityError as exc:
            # A rule the new version adds that the stored data already breaks
            # (version 5: one reserved blank a printer, one issued blank a
            # job). The upgrade is undone whole; the file stays as it was.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(
                f"{path} cannot be upgraded to schema version {number}: its data breaks a "
                f"rule that version adds ({exc}); nothing was changed, and the printd that "
                "wrote it still opens it"
            ) from None


def close(conn: sqlite3.Connection, path: Path) -> None:
    conn.close()
    key = path.resolve()
    _open_in_process[key] = max(0, _open_in_process.get(key, 0) - 1)


class DirectoryLock:
    """An exclusive lock on a state directory, held while the daemon runs."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreLocked(
                f"another printd (pid {holder}) is using {self.path.parent}; "
                "stop it first (systemctl stop printd)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
