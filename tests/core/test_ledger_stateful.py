"""Random sequences of every ledger operation, crashes included, keep the books."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from stations import accept_job

from printd.store import LedgerError, Store
from printd.store.ledger import SHELF, BlankState

PRINTERS = ("p1", "p2")

# A child process that starts a ledger operation and is SIGKILLed by its own
# hand in the middle of the transaction, after some rows were written.
CRASHER = r"""
import os, signal, sys
from pathlib import Path
from printd.store import Store
from printd.store.ledger import Ledger

real_append = Ledger._append
def append_then_die(self, conn, events, by):
    real_append(self, conn, events, by)
    os.kill(os.getpid(), signal.SIGKILL)
Ledger._append = append_then_die

store = Store.open(Path(sys.argv[1]), daemon=True)
op = sys.argv[2]
if op == "receive":
    store.ledger.receive(sys.argv[3], sys.argv[4].split(","), "crasher")
elif op == "load":
    store.ledger.load(sys.argv[3], sys.argv[4].split(","), "crasher")
elif op == "void":
    store.ledger.void(sys.argv[4].split(","), "crasher")
"""


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="ledger-sm-"))
        self.store = Store.open(self.dir)
        self.next_serial = 1
        self.next_batch = 1
        self.next_job = 1
        # Our own model of where each blank is.
        self.model: dict[str, str] = {}
        # Blanks reserved for a card still in its printer, by printer.
        self.held: dict[str, tuple[str, str]] = {}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _serials(self, state: str, printer: str | None = None) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT serial FROM blanks WHERE state = ? AND (? IS NULL OR printer = ?) "
            "AND job_id IS NULL ORDER BY serial",
            (state, printer, printer),
        )
        return [r[0] for r in rows]

    @rule(size=st.integers(1, 30))
    def receive(self, size: int) -> None:
        serials = [f"S-{n:06d}" for n in range(self.next_serial, self.next_serial + size)]
        self.store.ledger.receive(f"B{self.next_batch}", serials, "t")
        self.next_batch += 1
        self.next_serial += size
        self.model.update(dict.fromkeys(serials, "in_stock"))

    @rule(overlap=st.integers(1, 5))
    def receive_overlapping_is_refused(self, overlap: int) -> None:
        known = sorted(self.model)[:overlap]
        if not known:
            return
        try:
            self.store.ledger.receive(f"X{self.next_batch}", [*known, "NEW-1"], "t")
        except LedgerError:
            return
        raise AssertionError("an overlapping batch was accepted")

    @rule(printer=st.sampled_from(PRINTERS), n=st.integers(1, 10))
    def load(self, printer: str, n: int) -> None:
        serials = self._serials("in_stock")[:n]
        if serials:
            self.store.ledger.load(printer, serials, "t")
            self.model.update(dict.fromkeys(serials, "loaded"))

    @rule(printer=st.sampled_from(PRINTERS))
    def unload_all(self, printer: str) -> None:
        if printer in self.held:
            before = self._serials("loaded", printer)
            try:
                self.store.ledger.unload(printer, None, "t")
            except LedgerError:
                assert self._serials("loaded", printer) == before
                return
            raise AssertionError("a feeder holding a reserved blank was unloaded")
        done = self.store.ledger.unload(printer, None, "t")
        self.model.update(dict.fromkeys(done, "in_stock"))

    @rule(printer=st.sampled_from(PRINTERS), outcome=st.sampled_from(["issue", "spoil", "release"]))
    def print_one(self, printer: str, outcome: str) -> None:
        if printer in self.held or not self._serials("loaded", printer):
            return
        with self.store.transaction() as conn:
            serial, job_id = self._reserve(conn, printer)
            self._settle(conn, serial, job_id, outcome)

    @rule(printer=st.sampled_from(PRINTERS))
    def reserve_and_hold(self, printer: str) -> None:
        """A card stays in its printer across other operations, its blank reserved."""
        if printer in self.held or not self._serials("loaded", printer):
            return
        with self.store.transaction() as conn:
            self.held[printer] = self._reserve(conn, printer)

    @rule(printer=st.sampled_from(PRINTERS), outcome=st.sampled_from(["issue", "spoil", "release"]))
    def settle_held(self, printer: str, outcome: str) -> None:
        if printer not in self.held:
            return
        serial, job_id = self.held.pop(printer)
        with self.store.transaction() as conn:
            self._settle(conn, serial, job_id, outcome)

    def _reserve(self, conn: sqlite3.Connection, printer: str) -> tuple[str, str]:
        job_id = f"J{self.next_job}"
        self.next_job += 1
        accept_job(self.store, conn, job_id)
        return self.store.ledger.reserve(conn, printer, job_id, "station"), job_id

    def _settle(self, conn: sqlite3.Connection, serial: str, job_id: str, outcome: str) -> None:
        if outcome == "issue":
            self.store.ledger.issue(conn, serial, job_id, "station")
            self.model[serial] = "issued"
        elif outcome == "spoil":
            self.store.ledger.spoil(serial, "print_error", "station", job_id=job_id, conn=conn)
            self.model[serial] = "spoiled"
        else:
            self.store.ledger.release(conn, serial, "station")

    @rule(n=st.integers(1, 5))
    def void(self, n: int) -> None:
        serials = self._serials("in_stock")[:n]
        if serials:
            self.store.ledger.void(serials, "t")
            self.model.update(dict.fromkeys(serials, "voided"))

    @rule(drop=st.integers(0, 3), data=st.data())
    def count_shelf(self, drop: int, data: st.DataObject) -> None:
        shelf = self._serials("in_stock") + self._serials("missing")
        removed = shelf[:drop]
        counted = shelf[drop:]
        self.store.ledger.count({SHELF: counted}, "auditor")
        for serial in counted:
            self.model[serial] = "in_stock"
        for serial in removed:
            self.model[serial] = "missing"

    @precondition(lambda self: self.crashes < 3)
    @rule(op=st.sampled_from(["receive", "load", "void"]))
    def crash_mid_transaction(self, op: str) -> None:
        """A process killed inside a transaction leaves no trace of it."""
        self.crashes += 1
        self.store.close()
        if op == "receive":
            target, serials = f"C{self.next_batch}", [f"C-{self.next_serial:06d}"]
            self.next_batch += 1
            self.next_serial += 1
        else:
            target, serials = "p1", self._serials_raw("in_stock")[:3]
            if not serials:
                serials = ["none"]
        proc = subprocess.run(
            [sys.executable, "-c", CRASHER, str(self.dir), op, target, ",".join(serials)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert proc.returncode in (-9, 1), proc.stderr
        self.store = Store.open(self.dir)

    crashes = 0

    def _serials_raw(self, state: str) -> list[str]:
        return [s for s, where in sorted(self.model.items()) if where == state]

    @invariant()
    def books_balance(self) -> None:
        rec = self.store.ledger.reconcile()
        assert rec.balanced, rec.problems
        assert rec.total.received == len(self.model)

    @invariant()
    def chain_is_intact(self) -> None:
        result = self.store.ledger.verify()
        assert result.ok, result.problem

    @invariant()
    def model_matches(self) -> None:
        for state in BlankState:
            assert set(self._serials_any(state.value)) == {
                s for s, where in self.model.items() if where == state.value
            }

    @invariant()
    def loaded_counts_match(self) -> None:
        """loaded_count, read from two indexes, equals a plain count of the table."""
        plain = (
            "SELECT count(*) FROM blanks NOT INDEXED WHERE state = 'loaded' AND job_id IS NULL "
            "AND (?1 IS NULL OR printer = ?1)"
        )
        for printer in (None, *PRINTERS):
            expected = self.store.conn.execute(plain, (printer,)).fetchone()[0]
            assert self.store.ledger.loaded_count(printer) == expected, printer
        loaded = sum(1 for where in self.model.values() if where == "loaded")
        assert self.store.ledger.loaded_count() == loaded - len(self.held)

    def _serials_any(self, state: str) -> list[str]:
        rows = self.store.conn.execute("SELECT serial FROM blanks WHERE state = ?", (state,))
        return [r[0] for r in rows]


LedgerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase
