"""The blank ledger: where every blank card the station ever received went.

A blank changes state only through an event appended here, in the same
transaction that updates its row in ``blanks``. Each event is hash-chained to
the one before it (sha256 over the previous hash and the event's canonical
bytes), and the chain's head is kept in ``meta``, so an edited, deleted or
truncated event is found by :meth:`Ledger.verify`.

Invariant, per batch and in total, at every commit:
``received = issued + spoiled + voided + missing + in_stock + loaded``.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from drivers.base import SpoilReason as _DriverSpoilReason
from printd.serials import SerialError, check_serial
from printd.store.clock import stamp
from printd.store.db import transaction

GENESIS = "0" * 64
_FIELD_SEP = "\x1f"


class BlankState(enum.StrEnum):
    IN_STOCK = "in_stock"
    LOADED = "loaded"
    ISSUED = "issued"
    SPOILED = "spoiled"
    VOIDED = "voided"
    MISSING = "missing"


class EventKind(enum.StrEnum):
    RECEIVE = "receive"
    LOAD = "load"
    UNLOAD = "unload"
    RESERVE = "reserve"
    RELEASE = "release"
    ISSUE = "issue"
    SPOIL = "spoil"
    VOID = "void"
    MISSING = "missing"
    FOUND = "found"
    MOVE = "move"


# The ledger and the drivers speak of spoiled blanks with one vocabulary.
SpoilReason = _DriverSpoilReason

SHELF = "shelf"


# A printer's reserved blank, if any: found through the blanks_reserved index.
RESERVED_BLANK = (
    "SELECT serial FROM blanks WHERE printer = ? AND state = 'loaded' AND job_id IS NOT NULL"
)


class LedgerError(Exception):
    """An operation the ledger refuses; nothing was changed."""


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    seq: int
    at: str
    kind: str
    serial: str
    batch_id: str
    from_state: str
    to_state: str
    printer: str
    job_id: str
    by: str
    reason: str
    detail: str
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LedgerEvent:
        return cls(*(row[name] for name in _EVENT_COLUMNS))


_EVENT_COLUMNS = (
    "seq",
    "at",
    "kind",
    "serial",
    "batch_id",
    "from_state",
    "to_state",
    "printer",
    "job_id",
    "by",
    "reason",
    "detail",
    "prev_hash",
    "hash",
)


def event_hash(prev_hash: str, fields: Sequence[object]) -> str:
    """sha256 over the previous hash and the event's canonical bytes.

    Canonical bytes: the event's fields in schema order (seq .. detail) joined
    by the unit separator. Text fields can hold no control characters
    (:func:`clean_text`), so the join is unambiguous.
    """
    canonical = _FIELD_SEP.join(str(value) for value in fields)
    return hashlib.sha256(f"{prev_hash}{_FIELD_SEP}{canonical}".encode()).hexdigest()


def clean_text(value: str, what: str, limit: int = 200) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise LedgerError(f"{what} may not contain control characters")
    if len(value) > limit:
        raise LedgerError(f"{what} is longer than {limit} characters")
    return value


@dataclass(slots=True)
class _Pending:
    kind: EventKind
    serial: str
    batch_id: str
    from_state: str
    to_state: str
    printer: str = ""
    job_id: str = ""
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BatchBalance:
    batch_id: str
    received: int
    issued: int = 0
    spoiled: int = 0
    voided: int = 0
    missing: int = 0
    in_stock: int = 0
    loaded: int = 0

    @property
    def accounted(self) -> int:
        return self.issued + self.spoiled + self.voided + self.missing + self.in_stock + self.loaded

    @property
    def balanced(self) -> bool:
        return self.received == self.accounted


@dataclass(frozen=True, slots=True)
class Reconciliation:
    batches: tuple[BatchBalance, ...]
    total: BatchBalance
    problems: tuple[str, ...] = ()

    @property
    def balanced(self) -> bool:
        return not self.problems and self.total.balanced and all(b.balanced for b in self.batches)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(slots=True)
class CountReport:
    """What a physical count found, per location; recorded, never hidden."""

    locations: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not (self.missing or self.found or self.moved or self.unexpected)


class Ledger:
    """Operations on blanks. Every method either commits whole or changes nothing."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # ---- plumbing ---------------------------------------------------------

    @contextmanager
    def _tx(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        if conn is not None:
            yield conn
        else:
            with transaction(self._conn) as own:
                yield own

    def _head(self, conn: sqlite3.Connection) -> tuple[int, str]:
        """The chain's last sequence number and hash."""
        head = conn.execute(
            "SELECT value FROM meta WHERE key IN ('ledger_head_seq', 'ledger_head_hash') "
            "ORDER BY key DESC"
        ).fetchall()
        return int(head[0][0]), str(head[1][0])

    def _append(
        self,
        conn: sqlite3.Connection,
        events: Sequence[_Pending],
        by: str,
        head: tuple[int, str],
    ) -> None:
        """Append events to the chain and apply them to the blanks projection.

        ``head`` is the chain's head as the caller read it in this transaction,
        to number the blanks' ``last_event`` before the events are written.
        """
        if not events:
            return
        by = clean_text(by, "name", 100)
        if not by.strip():
            raise LedgerError("every ledger event needs a name (--by)")
        seq, prev = head
        at = stamp()
        rows = []
        for event in events:
            seq += 1
            fields = (
                seq,
                at,
                event.kind.value,
                event.serial,
                event.batch_id,
                event.from_state,
                event.to_state,
                event.printer,
                event.job_id,
                by,
                event.reason,
                event.detail,
            )
            digest = event_hash(prev, fields)
            rows.append((*fields, prev, digest))
            prev = digest
        conn.executemany(
            "INSERT INTO ledger (seq, at, kind, serial, batch_id, from_state, to_state, printer, "
            "job_id, by, reason, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.execute(
            "UPDATE meta SET value = CASE key WHEN 'ledger_head_seq' THEN ? ELSE ? END "
            "WHERE key IN ('ledger_head_seq', 'ledger_head_hash')",
            (str(seq), prev),
        )

    def _blank(self, conn: sqlite3.Connection, serial: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM blanks WHERE serial = ?", (serial,)).fetchone()
        if row is None:
            raise LedgerError(f"blank {serial} is not in the ledger (never received)")
        return row  # type: ignore[no-any-return]

    def _blanks(self, conn: sqlite3.Connection, serials: Sequence[str]) -> list[sqlite3.Row]:
        rows = []
        for serial in serials:
            rows.append(self._blank(conn, serial))
        return rows

    @staticmethod
    def _require(row: sqlite3.Row, allowed: Iterable[BlankState], action: str) -> None:
        allowed = tuple(allowed)
        if row["state"] not in allowed:
            where = f" in {row['printer']}" if row["printer"] else ""
            needed = " or ".join(state.value for state in allowed)
            raise LedgerError(
                f"cannot {action} {row['serial']}: it is {row['state']}{where}, not {needed}"
            )

    # ---- receiving and moving stock ----------------------------------------

    def receive(self, batch_id: str, serials: Sequence[str], by: str, note: str = "") -> int:
        """Take a batch into stock; refused whole if any serial is already known."""
        batch_id = clean_text(batch_id.strip(), "batch id", 64)
        by = clean_text(by, "name")
        note = clean_text(note, "note")
        if not batch_id:
            raise LedgerError("a batch needs an id")
        if not serials:
            raise LedgerError(f"batch {batch_id} has no serials")
        try:
            for serial in serials:
                check_serial(serial)
        except SerialError as exc:
            raise LedgerError(str(exc)) from None
        with self._tx(None) as conn:
            if conn.execute("SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)).fetchone():
                raise LedgerError(f"batch {batch_id} was already received")
            conn.execute(
                "INSERT INTO batches (batch_id, received_at, received_by, count, note) "
                "VALUES (?, ?, ?, ?, ?)",
                (batch_id, stamp(), by, len(serials), note),
            )
            head = self._head(conn)
            first = head[0] + 1
            try:
                conn.executemany(
                    "INSERT INTO blanks (serial, batch_id, state, last_event) VALUES (?, ?, ?, ?)",
                    (
                        (serial, batch_id, BlankState.IN_STOCK.value, first + n)
                        for n, serial in enumerate(serials)
                    ),
                )
            except sqlite3.IntegrityError:
                known = self._known(conn, serials)
                if not known:
                    raise LedgerError(f"batch {batch_id} refused: a serial repeats") from None
                shown = ", ".join(known[:5]) + (" ..." if len(known) > 5 else "")
                raise LedgerError(
                    f"batch {batch_id} refused: {len(known)} serial(s) already in the ledger "
                    f"({shown})"
                ) from None
            self._append(
                conn,
                [
                    _Pending(EventKind.RECEIVE, s, batch_id, "", BlankState.IN_STOCK.value)
                    for s in serials
                ],
                by,
                head,
            )
        return len(serials)

    def _known(self, conn: sqlite3.Connection, serials: Sequence[str]) -> list[str]:
        # The failed INSERT statement was rolled back on its own, so any row
        # found now belongs to an earlier batch.
        found = []
        for serial in serials:
            row = conn.execute("SELECT batch_id FROM blanks WHERE serial = ?", (serial,)).fetchone()
            if row is not None:
                found.append(serial)
        return found

    def load(self, printer: str, serials: Sequence[str], by: str) -> None:
        """Put blanks from the shelf into a printer's feeder, in feeding order."""
        printer = clean_text(printer, "printer", 64)
        with self._tx(None) as conn:
            rows = self._blanks(conn, serials)
            for row in rows:
                self._require(row, [BlankState.IN_STOCK], "load")
            self._load_rows(conn, printer, rows, EventKind.LOAD, by)

    def _load_rows(
        self,
        conn: sqlite3.Connection,
        printer: str,
        rows: Sequence[sqlite3.Row],
        kind: EventKind,
        by: str,
        reason: str = "",
    ) -> None:
        top = conn.execute(
            "SELECT coalesce(max(feed_order), 0) FROM blanks WHERE printer = ?", (printer,)
        ).fetchone()[0]
        head = self._head(conn)
        first = head[0] + 1
        conn.executemany(
            "UPDATE blanks SET state = 'loaded', printer = ?, feed_order = ?, job_id = NULL, "
            "last_event = ? WHERE serial = ?",
            [(printer, top + n + 1, first + n, row["serial"]) for n, row in enumerate(rows)],
        )
        self._append(
            conn,
            [
                _Pending(
                    kind, r["serial"], r["batch_id"], r["state"], "loaded", printer, "", reason
                )
                for r in rows
            ],
            by,
            head,
        )

    def unload(self, printer: str, serials: Sequence[str] | None, by: str) -> list[str]:
        """Take blanks out of a feeder back to the shelf (all of them when none named)."""
        with self._tx(None) as conn:
            if serials is None:
                serials = self.feeder(printer, conn)
            rows = self._blanks(conn, serials)
            for row in rows:
                self._require(row, [BlankState.LOADED], "unload")
                if row["printer"] != printer:
                    raise LedgerError(
                        f"{row['serial']} is loaded in {row['printer']}, not {printer}"
                    )
                if row["job_id"]:
                    raise LedgerError(
                        f"{row['serial']} is reserved for a card being printed; wait or pause "
                        f"{printer} first"
                    )
            self._to_shelf(conn, rows, EventKind.UNLOAD, by)
        return list(serials)

    def _to_shelf(
        self,
        conn: sqlite3.Connection,
        rows: Sequence[sqlite3.Row],
        kind: EventKind,
        by: str,
        reason: str = "",
    ) -> None:
        head = self._head(conn)
        first = head[0] + 1
        conn.executemany(
            "UPDATE blanks SET state = 'in_stock', printer = NULL, feed_order = NULL, "
            "job_id = NULL, last_event = ? WHERE serial = ?",
            [(first + n, row["serial"]) for n, row in enumerate(rows)],
        )
        self._append(
            conn,
            [
                _Pending(
                    kind,
                    r["serial"],
                    r["batch_id"],
                    r["state"],
                    "in_stock",
                    r["printer"] or "",
                    "",
                    reason,
                )
                for r in rows
            ],
            by,
            head,
        )

    # ---- printing -----------------------------------------------------------

    def feeder(self, printer: str, conn: sqlite3.Connection | None = None) -> list[str]:
        """Serials in a printer's feeder, next to feed first."""
        cur = (conn or self._conn).execute(
            "SELECT serial FROM blanks WHERE printer = ? AND state = 'loaded' ORDER BY feed_order",
            (printer,),
        )
        return [row[0] for row in cur]

    def next_blank(self, printer: str, conn: sqlite3.Connection | None = None) -> str | None:
        """The serial of the blank the printer feeds next, if it has a free one."""
        row = self.next_blank_row(printer, conn)
        return None if row is None else str(row["serial"])

    def next_blank_row(
        self, printer: str, conn: sqlite3.Connection | None = None
    ) -> sqlite3.Row | None:
        """The whole row of the blank the printer feeds next, if it has a free one."""
        row: sqlite3.Row | None = (
            (conn or self._conn)
            .execute(
                "SELECT * FROM blanks WHERE printer = ? AND state = 'loaded' "
                "AND job_id IS NULL ORDER BY feed_order LIMIT 1",
                (printer,),
            )
            .fetchone()
        )
        return row

    def reserve(
        self,
        conn: sqlite3.Connection,
        printer: str,
        job_id: str,
        by: str,
        *,
        next_blank: sqlite3.Row | None = None,
    ) -> str:
        """Set aside the blank the printer will feed next for this job.

        ``next_blank``: what :meth:`next_blank_row` returned earlier in this
        transaction, when the caller has just asked. A printer that already
        has a blank reserved is refused (the database's ``blanks_reserved``
        index holds that rule, so no look-up comes first).
        """
        row = next_blank or self.next_blank_row(printer, conn)
        if row is None:
            raise LedgerError(f"{printer} has no blanks loaded")
        try:
            self._set(
                conn, row, EventKind.RESERVE, BlankState.LOADED, by, job_id=job_id, keep_place=True
            )
        except sqlite3.IntegrityError:
            # The blanks_reserved index: one reserved blank a printer.
            held = conn.execute(RESERVED_BLANK, (printer,)).fetchone()
            if held is None:
                raise  # another constraint: not ours to explain
            raise LedgerError(f"{printer} already has blank {held[0]} reserved") from None
        return str(row["serial"])

    def release(self, conn: sqlite3.Connection, serial: str, by: str, reason: str = "") -> None:
        """A reserved blank was not fed: it stays in the feeder, free again."""
        row = self._blank(conn, serial)
        if row["state"] != BlankState.LOADED or not row["job_id"]:
            raise LedgerError(f"{serial} is not reserved")
        self._set(
            conn,
            row,
            EventKind.RELEASE,
            BlankState.LOADED,
            by,
            job_id="",
            keep_place=True,
            reason=reason,
        )

    def issue(self, conn: sqlite3.Connection, serial: str, job_id: str, by: str) -> None:
        """The card came out printed: the blank is issued to this job."""
        row = self._blank(conn, serial)
        if row["state"] != BlankState.LOADED:
            self._require(row, [BlankState.LOADED], "issue")
        if row["job_id"] not in (None, job_id):
            raise LedgerError(f"{serial} is reserved for another job")
        try:
            self._set(conn, row, EventKind.ISSUE, BlankState.ISSUED, by, job_id=job_id)
        except sqlite3.IntegrityError:
            # The blanks_issued index: one issued blank a job.
            already = conn.execute(
                "SELECT serial FROM blanks WHERE job_id = ? AND state = 'issued'", (job_id,)
            ).fetchone()
            if already is None:
                raise  # another constraint: not ours to explain
            raise LedgerError(
                f"job already has blank {already[0]} issued; a reprint is a new job"
            ) from None

    def spoil(
        self,
        serial: str,
        reason: SpoilReason | str,
        by: str,
        *,
        detail: str = "",
        job_id: str = "",
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """A blank is unusable (print error, jam, damaged on the shelf, ...)."""
        try:
            reason = SpoilReason(reason)
        except ValueError:
            names = ", ".join(r.value for r in SpoilReason)
            raise LedgerError(f"unknown spoil reason {reason!r}; one of: {names}") from None
        detail = clean_text(detail, "detail")
        if reason is SpoilReason.OTHER and not detail.strip():
            raise LedgerError("spoil reason 'other' needs a description (--detail)")
        with self._tx(conn) as c:
            row = self._blank(c, serial)
            self._require(row, [BlankState.LOADED, BlankState.IN_STOCK], "spoil")
            if row["job_id"] and job_id and row["job_id"] != job_id:
                raise LedgerError(f"{serial} is reserved for another job")
            if row["job_id"] and not job_id:
                raise LedgerError(f"{serial} is reserved for a card being printed")
            self._set(
                c,
                row,
                EventKind.SPOIL,
                BlankState.SPOILED,
                by,
                job_id=job_id or row["job_id"] or "",
                reason=reason.value,
                detail=detail,
            )

    def void(self, serials: Sequence[str], by: str, detail: str = "") -> None:
        """Blanks returned to the central office; they leave stock for good."""
        detail = clean_text(detail, "detail")
        with self._tx(None) as conn:
            rows = self._blanks(conn, serials)
            for row in rows:
                self._require(row, [BlankState.IN_STOCK], "void")
            for row in rows:
                self._set(conn, row, EventKind.VOID, BlankState.VOIDED, by, detail=detail)

    def _set(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        kind: EventKind,
        to: BlankState,
        by: str,
        *,
        job_id: str | None = None,
        keep_place: bool = False,
        reason: str = "",
        detail: str = "",
    ) -> None:
        head = self._head(conn)
        seq = head[0] + 1
        printer = row["printer"] if keep_place else None
        order = row["feed_order"] if keep_place else None
        new_job = row["job_id"] if job_id is None else (job_id or None)
        conn.execute(
            "UPDATE blanks SET state = ?, printer = ?, feed_order = ?, job_id = ?, last_event = ? "
            "WHERE serial = ?",
            (to.value, printer, order, new_job, seq, row["serial"]),
        )
        self._append(
            conn,
            [
                _Pending(
                    kind,
                    row["serial"],
                    row["batch_id"],
                    row["state"],
                    to.value,
                    row["printer"] or "",
                    new_job or row["job_id"] or "",
                    reason,
                    detail,
                )
            ],
            by,
            head,
        )

    # ---- counting -----------------------------------------------------------

    def count(
        self,
        counted: Mapping[str, Sequence[str]],
        by: str,
        *,
        apply: bool = True,
    ) -> CountReport:
        """Compare a physical count with the ledger and record the differences.

        ``counted`` maps a location (``"shelf"`` or a printer name) to the
        serials found there, feeders in feeding order. Only the locations
        counted are judged. A blank expected there and not found is marked
        missing; a missing blank that turns up is found; a blank recorded in
        another counted-or-not location is moved where it was seen; a serial
        that is issued, spoiled, voided or unknown is reported as unexpected.
        """
        report = CountReport()
        with self._tx(None) as conn:
            seen: dict[str, str] = {}
            for location, serials in counted.items():
                for serial in serials:
                    if serial in seen:
                        raise LedgerError(f"{serial} was counted in {seen[serial]} and {location}")
                    seen[serial] = location
            for location, serials in counted.items():
                if location == SHELF:
                    expected_rows = conn.execute(
                        "SELECT * FROM blanks WHERE state = 'in_stock'"
                    ).fetchall()
                else:
                    expected_rows = conn.execute(
                        "SELECT * FROM blanks WHERE state = 'loaded' AND printer = ? "
                        "ORDER BY feed_order",
                        (location,),
                    ).fetchall()
                    reserved = [r["serial"] for r in expected_rows if r["job_id"]]
                    if reserved:
                        raise LedgerError(
                            f"{location} is printing (blank {reserved[0]} reserved); pause it "
                            "and let the card finish before counting its feeder"
                        )
                expected = {r["serial"] for r in expected_rows}
                counted_set = set(serials)
                stats = {
                    "expected": len(expected),
                    "counted": len(serials),
                    "missing": 0,
                    "found": 0,
                    "moved": 0,
                    "unexpected": 0,
                }
                for row in expected_rows:
                    if row["serial"] not in counted_set and row["serial"] not in seen:
                        report.missing.append(row["serial"])
                        stats["missing"] += 1
                        if apply:
                            self._set(
                                conn,
                                row,
                                EventKind.MISSING,
                                BlankState.MISSING,
                                by,
                                reason="physical count",
                                detail=f"not found in {location}",
                            )
                for serial in serials:
                    if serial in expected:
                        continue
                    row = conn.execute(
                        "SELECT * FROM blanks WHERE serial = ?", (serial,)
                    ).fetchone()
                    if (
                        row is None
                        or row["state"] in ("issued", "spoiled", "voided")
                        or row["job_id"]
                    ):
                        report.unexpected.append(serial)
                        stats["unexpected"] += 1
                        continue
                    kind = EventKind.FOUND if row["state"] == "missing" else EventKind.MOVE
                    (report.found if kind is EventKind.FOUND else report.moved).append(serial)
                    stats["found" if kind is EventKind.FOUND else "moved"] += 1
                    if apply:
                        if location == SHELF:
                            self._to_shelf(conn, [row], kind, by, "physical count")
                        else:
                            self._load_rows(conn, location, [row], kind, by, "physical count")
                report.locations[location] = stats
                if apply:
                    conn.execute(
                        "INSERT INTO counts (at, by, location, expected, counted, missing, found, "
                        "unknown) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            stamp(),
                            by,
                            location,
                            stats["expected"],
                            stats["counted"],
                            stats["missing"],
                            stats["found"] + stats["moved"],
                            stats["unexpected"],
                        ),
                    )
        return report

    # ---- reading ------------------------------------------------------------

    def loaded_count(self, printer: str | None = None) -> int:
        """Blanks in feeders not yet reserved for a card."""
        # Counted as (blanks in feeders) - (reserved blanks), from two small
        # indexes: a blank has a printer exactly while it is loaded. Filtering
        # the blanks table on state walked every blank in the storeroom (2.3 ms
        # with 50,000 in stock), and the credit is looked at after every flush.
        if printer is None:
            cur = self._conn.execute(
                "SELECT (SELECT count(*) FROM blanks INDEXED BY blanks_feeder "
                "WHERE printer IS NOT NULL) - (SELECT count(*) FROM blanks "
                "INDEXED BY blanks_reserved WHERE state = 'loaded' AND job_id IS NOT NULL)"
            )
        else:
            cur = self._conn.execute(
                "SELECT (SELECT count(*) FROM blanks INDEXED BY blanks_feeder "
                "WHERE printer = ?1) - (SELECT count(*) FROM blanks INDEXED BY blanks_reserved "
                "WHERE printer = ?1 AND state = 'loaded' AND job_id IS NOT NULL)",
                (printer,),
            )
        return int(cur.fetchone()[0])

    def loaded_by_printer(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT printer, count(*) FROM blanks WHERE state = 'loaded' GROUP BY printer"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def reconcile(self) -> Reconciliation:
        """The invariant per batch and in total, from the blanks and the batches."""
        counts: dict[str, dict[str, int]] = {}
        for batch_id, state, number in self._conn.execute(
            "SELECT batch_id, state, count(*) FROM blanks GROUP BY batch_id, state"
        ):
            counts.setdefault(batch_id, {})[state] = number
        problems = []
        known_states = {s.value for s in BlankState}
        balances = []
        for batch_id, received in self._conn.execute(
            "SELECT batch_id, count FROM batches ORDER BY received_at, batch_id"
        ):
            by_state = counts.pop(batch_id, {})
            odd = set(by_state) - known_states
            if odd:
                problems.append(f"batch {batch_id}: blanks in unknown state(s) {sorted(odd)}")
            balances.append(
                BatchBalance(batch_id, received, **{s: by_state.get(s, 0) for s in known_states})
            )
        for batch_id in counts:
            problems.append(f"blanks belong to batch {batch_id}, which was never received")
        total = BatchBalance(
            "total",
            sum(b.received for b in balances),
            **{s: sum(getattr(b, s) for b in balances) for s in known_states},
        )
        problems.extend(
            f"batch {b.batch_id}: received {b.received} but {b.accounted} accounted for"
            for b in balances
            if not b.balanced
        )
        return Reconciliation(tuple(balances), total, tuple(problems))

    def verify(self) -> VerifyResult:
        """Walk the hash chain; name the first event that does not fit."""
        prev = GENESIS
        expected_seq = 0
        sha256 = hashlib.sha256
        sep = _FIELD_SEP
        cur = self._conn.cursor()
        cur.row_factory = None  # plain tuples: this loop runs a million times
        cur.execute(
            "SELECT seq, at, kind, serial, batch_id, from_state, to_state, printer, job_id, by, "
            "reason, detail, prev_hash, hash FROM ledger ORDER BY seq"
        )
        while chunk := cur.fetchmany(20_000):
            for row in chunk:
                expected_seq += 1
                seq = row[0]
                if seq != expected_seq:
                    return VerifyResult(
                        expected_seq - 1,
                        expected_seq,
                        f"event {expected_seq} is missing (next is {seq})",
                    )
                if row[12] != prev:
                    return VerifyResult(
                        seq - 1, seq, f"event {seq} does not link to event {seq - 1}"
                    )
                # Same bytes as event_hash(), inlined for speed.
                text = sep.join((prev, str(seq), *row[1:12]))
                digest = sha256(text.encode()).hexdigest()
                if digest != row[13]:
                    return VerifyResult(seq - 1, seq, f"event {seq} was altered (hash mismatch)")
                prev = digest
        head_seq = int(self._meta("ledger_head_seq"))
        head_hash = self._meta("ledger_head_hash")
        if head_seq != expected_seq or head_hash != prev:
            return VerifyResult(
                expected_seq,
                expected_seq + 1,
                f"the ledger ends at event {expected_seq} but its head says {head_seq}: "
                "events were removed from the end",
            )
        return VerifyResult(expected_seq)

    def _meta(self, key: str) -> str:
        return str(self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def history(self, serial: str) -> list[LedgerEvent]:
        rows = self._conn.execute(
            "SELECT * FROM ledger WHERE serial = ? ORDER BY seq", (serial,)
        ).fetchall()
        return [LedgerEvent.from_row(r) for r in rows]

    def job_blanks(
        self, job_id: str, conn: sqlite3.Connection | None = None
    ) -> list[dict[str, str]]:
        """Every blank issued to or spoiled for a job, with the reason of each spoil."""
        rows = (conn or self._conn).execute(
            "SELECT serial, kind, reason, detail, printer FROM ledger WHERE job_id = ? "
            "AND kind IN ('issue', 'spoil') ORDER BY seq",
            (job_id,),
        )
        return [
            {
                "serial": r[0],
                "outcome": "issued" if r[1] == "issue" else "spoiled",
                "reason": r[2],
                "detail": r[3],
                "printer": r[4],
            }
            for r in rows
        ]

    def blank(self, serial: str) -> sqlite3.Row | None:
        return self._conn.execute(  # type: ignore[no-any-return]
            "SELECT * FROM blanks WHERE serial = ?", (serial,)
        ).fetchone()

    def export_csv(self, out: TextIO) -> int:
        """Write every ledger event as CSV for auditors; returns the number written."""
        writer = csv.writer(out)
        writer.writerow(_EVENT_COLUMNS)
        written = 0
        cur = self._conn.execute(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM ledger ORDER BY seq")
        while rows := cur.fetchmany(10_000):
            writer.writerows(tuple(r) for r in rows)
            written += len(rows)
        return written
