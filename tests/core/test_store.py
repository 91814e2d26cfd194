"""The database file: created, migrated, locked, and never overwritten when foreign."""

import sqlite3
from pathlib import Path

import pytest
from stations import add_jobs

from printd.store import JobState, Store, StoreCorrupt, StoreError, StoreLocked
from printd.store.db import DB_NAME, check_sqlite_version
from printd.store.ledger import RESERVED_BLANK
from printd.store.schema import APPLICATION_ID, MIGRATIONS


def test_new_store_is_wal_with_full_sync_and_current_schema(tmp_path: Path) -> None:
    """A fresh state directory gets a migrated WAL database."""
    with Store.open(tmp_path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # 2 = FULL
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_every_connection_keeps_temp_data_in_memory(tmp_path: Path) -> None:
    """The printer writer's connection too: its savepoints made a temp file a card."""
    with Store.open(tmp_path) as store, store.sibling() as writer_store:
        for conn in (store.conn, writer_store.conn):
            # 2 = MEMORY
            assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2


def test_second_daemon_is_refused_while_the_first_holds_the_directory(tmp_path: Path) -> None:
    """Two daemons can never open one state directory."""
    first = Store.open(tmp_path, daemon=True)
    try:
        with pytest.raises(StoreLocked, match="another printd"):
            Store.open(tmp_path, daemon=True)
        # The technician's CLI still reads alongside the daemon.
        with Store.open(tmp_path) as cli_view:
            assert cli_view.jobs.count_by_state() == {}
    finally:
        first.close()
    Store.open(tmp_path, daemon=True).close()


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    """A daemon killed with SIGKILL does not leave a stale lock behind."""
    import subprocess
    import sys

    code = (
        "import os, signal, sys; from pathlib import Path; from printd.store import Store;"
        f"Store.open(Path({str(tmp_path)!r}), daemon=True); print('locked', flush=True);"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "locked" in proc.stdout
    assert proc.returncode == -9
    Store.open(tmp_path, daemon=True).close()


def test_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """A file that is not SQLite is named and never overwritten."""
    path = tmp_path / DB_NAME
    path.write_bytes(b"these are someone's notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match="not a SQLite database"):
        Store.open(tmp_path)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    """A SQLite file belonging to something else is not migrated into ours."""
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match="not printd's"):
        Store.open(tmp_path)
    assert path.read_bytes() == before


def test_damaged_database_is_reported(tmp_path: Path) -> None:
    """A printd database with damaged pages gives a clear error."""
    with Store.open(tmp_path) as store:
        store.ledger.receive("B", [f"S-{n:05d}" for n in range(3000)], "t")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = tmp_path / DB_NAME
    data = bytearray(path.read_bytes())
    # Scribble over the middle of the file, past the header page.
    for offset in range(len(data) // 2, len(data) // 2 + 8192):
        data[offset] = 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupt):
        Store.open(tmp_path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer printd is not opened by an older one."""
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this printd"):
        Store.open(tmp_path)


def test_cli_view_refuses_to_create_a_station(tmp_path: Path) -> None:
    """Reading commands never create an empty database by mistake."""
    with pytest.raises(StoreError, match="no printd database"):
        Store.open_existing(tmp_path / "typo")
    assert not (tmp_path / "typo" / DB_NAME).exists()


def test_other_processes_keep_seeing_the_daemons_writes(tmp_path: Path) -> None:
    """Opening the store twice in one process must not drop its SQLite locks.

    POSIX locks belong to the process; a plain open()/close() of the database
    file would release them, and the next technician command closing its own
    connection would delete the WAL under the daemon, hiding its writes.
    """
    import subprocess
    import sys
    import time

    Store.open(tmp_path).close()
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import sys, time
from pathlib import Path
from printd.metrics import StationMetrics
from printd.store import Store
state = Path({str(tmp_path)!r})
daemon = Store.open(state, daemon=True)
StationMetrics(state)            # registers its collector
Store.open(state).close()        # a second open in the same process
print("ready", flush=True)
for n in range(1, 40):
    with daemon.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)", (str(n),))
    time.sleep(0.05)
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        seen = []
        for _ in range(8):
            conn = sqlite3.connect(tmp_path / DB_NAME)
            row = conn.execute("SELECT value FROM meta WHERE key = 'probe'").fetchone()
            conn.close()
            seen.append(int(row[0]) if row else 0)
            time.sleep(0.15)
        assert seen == sorted(seen)
        assert seen[-1] >= 10, seen
        assert (tmp_path / f"{DB_NAME}-wal").exists()
    finally:
        writer.kill()
        writer.wait()


def test_upgrade_moves_job_messages_out_of_the_job_rows(tmp_path: Path) -> None:
    """A version-2 station keeps every job's message through the upgrade to version 3."""
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for number, script in enumerate(MIGRATIONS[:2], start=1):  # as printd 2 left it
        conn.executescript(
            f"BEGIN;\n{script}\nPRAGMA application_id = {APPLICATION_ID};\n"
            f"PRAGMA user_version = {number};\nCOMMIT;"
        )
    for n, payload in enumerate([b'{"job": 1}', b'{"job": 2}', None], start=1):
        conn.execute(
            "INSERT INTO jobs (job_id, state, priority, not_after, received_at, updated_at, "
            "content_hash, payload) VALUES (?, 'queued', 1, ?, ?, ?, 'h', ?)",
            (f"J{n}", *["2026-11-29T12:00:00.000Z"] * 3, payload),
        )
    conn.close()

    with Store.open(tmp_path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert store.jobs.payload("J1") == b'{"job": 1}'
        assert store.jobs.payload("J2") == b'{"job": 2}'
        assert store.jobs.payload("J3") is None
        has = [store.jobs.require(j).has_payload for j in ("J1", "J2", "J3")]
        assert has == [True, True, False]
        columns = {row[1] for row in store.conn.execute("PRAGMA table_info(jobs)")}
        assert "payload" not in columns


def test_a_printers_reserved_blank_is_found_through_its_own_index(tmp_path: Path) -> None:
    """Every claim looks for the printer's reserved blank; walking the whole
    feeder for it cost a tenth of a millisecond a card."""
    with Store.open(tmp_path) as store:
        plan = store.conn.execute(f"EXPLAIN QUERY PLAN {RESERVED_BLANK}", ("p1",)).fetchall()
        assert "USING INDEX blanks_reserved" in " ".join(str(row[-1]) for row in plan)


def test_a_transition_returns_the_job_as_stored(tmp_path: Path) -> None:
    """The record a transition hands back is built, not read back: it must equal the row."""
    with Store.open(tmp_path) as store:
        [job_id] = add_jobs(store, 1)
        steps: list[tuple[JobState, dict[str, object]]] = [
            (JobState.PRINTING, {"printer": "p1"}),
            (JobState.PRINTING, {"count_attempt": True, "note": "spoiled"}),
            (JobState.QUEUED, {"note": "retry"}),
            (JobState.PRINTING, {"printer": "p2", "blank_serial": "AB-1"}),
            (JobState.FAILED, {"reason": "jam", "detail": "2 blanks", "count_attempt": True}),
            (JobState.QUEUED, {}),
        ]
        with store.transaction() as conn:
            current = store.jobs.require(job_id, conn)
            for to, changes in steps:
                given = current if to is JobState.PRINTING else None
                current = store.jobs.transition(conn, job_id, to, "t", current=given, **changes)
                assert current == store.jobs.require(job_id, conn)
        assert current.attempts == 2
        assert (current.printer, current.reason) == ("p2", "jam")


def test_an_sqlite_too_old_is_refused_with_the_versions_named() -> None:
    """The outbox is numbered with UPDATE ... RETURNING (SQLite 3.35)."""
    check_sqlite_version(sqlite3.sqlite_version_info)  # this machine's passes
    check_sqlite_version((3, 35, 0))
    with pytest.raises(StoreError, match=r"needs SQLite 3\.35\.0 or later; .* SQLite 3\.34\.1"):
        check_sqlite_version((3, 34, 1))


def _version_4_store_with_one_reserved_and_one_issued(path: Path) -> None:
    """A database as printd left it at schema version 4: blank A1 reserved in
    p1 for job J1, blank A2 issued to job J2."""
    conn = sqlite3.connect(path / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for number, script in enumerate(MIGRATIONS[:4], start=1):
        conn.executescript(
            f"BEGIN;\n{script}\nPRAGMA application_id = {APPLICATION_ID};\n"
            f"PRAGMA user_version = {number};\nCOMMIT;"
        )
    conn.execute(
        "INSERT INTO batches (batch_id, received_at, received_by, count) "
        "VALUES ('B', '2026-11-29T12:00:00.000Z', 't', 4)"
    )
    conn.executemany(
        "INSERT INTO blanks (serial, batch_id, state, printer, feed_order, job_id, last_event) "
        "VALUES (?, 'B', ?, ?, ?, ?, 0)",
        [
            ("A1", "loaded", "p1", 1, "J1"),
            ("A2", "issued", None, None, "J2"),
            ("A3", "loaded", "p1", 2, None),
            ("A4", "in_stock", None, None, None),
        ],
    )
    conn.close()


@pytest.mark.parametrize(
    ("serial", "change", "rule"),
    [
        ("A3", "job_id = 'J3'", "a second reserved blank in one printer"),
        ("A4", "state = 'issued', job_id = 'J2'", "a second issued blank for one job"),
    ],
)
def test_the_database_itself_refuses_what_the_ledger_forbids(
    tmp_path: Path, serial: str, change: str, rule: str
) -> None:
    """The one-only rules hold even for a write that bypasses the ledger's
    code, and on a database upgraded from version 4."""
    _version_4_store_with_one_reserved_and_one_issued(tmp_path)
    with Store.open(tmp_path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            store.conn.execute(f"UPDATE blanks SET {change} WHERE serial = ?", (serial,))
        # The row is as it was: the refused write changed nothing.
        row = store.conn.execute("SELECT state, job_id FROM blanks WHERE serial = ?", (serial,))
        assert tuple(row.fetchone()) in {("loaded", None), ("in_stock", None)}, rule


def test_an_upgrade_the_stored_data_breaks_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """A version-4 ledger that already holds two issued blanks for one job
    cannot take version 5's rule: the upgrade says why and leaves the file as
    it was, still at version 4."""
    _version_4_store_with_one_reserved_and_one_issued(tmp_path)
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    conn.execute("UPDATE blanks SET state = 'issued', job_id = 'J2' WHERE serial = 'A4'")
    conn.close()
    with pytest.raises(StoreError, match="cannot be upgraded to schema version 5") as refused:
        Store.open(tmp_path)
    assert not isinstance(refused.value, StoreCorrupt)
    conn = sqlite3.connect(tmp_path / DB_NAME)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "blanks_issued" not in names
        assert "blanks_reserved" in names
    finally:
        conn.close()
