"""Versioned schema migrations, applied in order at start-up.

Each entry moves the database from ``user_version`` N to N+1 in one
transaction. Never edit a released migration: add a new one.
"""

from __future__ import annotations

# 'prnt' as a 32-bit integer: marks a file as a printd database.
APPLICATION_ID = 0x70726E74

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, blanks ledger, outbox
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,            -- arrival order: oldest first within a priority
        job_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,         -- 0 urgent, 1 normal
        not_after TEXT NOT NULL,
        received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        key_id TEXT NOT NULL DEFAULT '',
        payload BLOB,                      -- NULL once purged
        receipt TEXT,                      -- JSON, the first receipt, answered to re-sends
        printer TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        blank_serial TEXT,
        reason TEXT,
        detail TEXT,
        finished_at TEXT,
        purged_at TEXT
    );
    CREATE INDEX jobs_queue ON jobs (state, priority, id);

    CREATE TABLE job_history (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        at TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        by TEXT NOT NULL,
        printer TEXT,
        blank_serial TEXT,
        note TEXT
    );
    CREATE INDEX job_history_job ON job_history (job_id, id);

    CREATE TABLE batches (
        batch_id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL,
        received_by TEXT NOT NULL,
        count INTEGER NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;

    -- The current state of each blank: a projection of the ledger, updated in
    -- the same transaction as the event that changes it.
    CREATE TABLE blanks (
        serial TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL REFERENCES batches (batch_id),
        state TEXT NOT NULL,
        printer TEXT,
        feed_order INTEGER,
        job_id TEXT,
        last_event INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX blanks_batch_state ON blanks (batch_id, state);
    CREATE INDEX blanks_feeder ON blanks (printer, feed_order) WHERE printer IS NOT NULL;

    -- Append-only: every change of a blank's state, hash-chained.
    CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        serial TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        printer TEXT NOT NULL DEFAULT '',
        job_id TEXT NOT NULL DEFAULT '',
        by TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX ledger_serial ON ledger (serial, seq);
    CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the blank ledger is append-only'); END;
    CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the blank ledger is append-only'); END;

    CREATE TABLE counts (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        by TEXT NOT NULL,
        location TEXT NOT NULL,            -- 'shelf' or a printer name
        expected INTEGER NOT NULL,
        counted INTEGER NOT NULL,
        missing INTEGER NOT NULL,
        found INTEGER NOT NULL,
        unknown INTEGER NOT NULL
    );

    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,           -- per-station sequence, gapless
        topic TEXT NOT NULL,
        body TEXT NOT NULL,
        retain INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );

    -- Technician requests to the running daemon (pause, resume, drain).
    CREATE TABLE printer_requests (
        id INTEGER PRIMARY KEY,
        printer TEXT NOT NULL,
        action TEXT NOT NULL,
        by TEXT NOT NULL,
        at TEXT NOT NULL,
        done_at TEXT
    );

    CREATE TABLE printers (
        name TEXT PRIMARY KEY,
        mode TEXT NOT NULL DEFAULT 'active',  -- active, paused, draining
        state TEXT NOT NULL DEFAULT 'unknown',
        detail TEXT NOT NULL DEFAULT '',
        ribbon_left INTEGER,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;

    INSERT INTO meta (key, value) VALUES
        ('ledger_head_seq', '0'),
        ('ledger_head_hash', '0000000000000000000000000000000000000000000000000000000000000000'),
        ('outbox_seq', '0');
    """,
    # 2: what the station tells the technician (the last events in `printd status`)
    """
    CREATE TABLE station_events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        severity TEXT NOT NULL,
        event TEXT NOT NULL,
        printer TEXT,
        job_id TEXT,
        message TEXT NOT NULL
    );
    -- The outbox sequence of a job's latest result: its payload may be purged
    -- only once that result has left the outbox.
    ALTER TABLE jobs ADD COLUMN result_seq INTEGER;
    -- A job's blanks are looked up for every result it reports.
    CREATE INDEX ledger_job ON ledger (job_id);
    CREATE INDEX blanks_job ON blanks (job_id) WHERE job_id IS NOT NULL;
    """,
    # 3: job messages committed as received, waiting for their checks; job
    # messages kept apart from the job rows
    """
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,            -- arrival order
        received_at TEXT NOT NULL,
        payload BLOB NOT NULL              -- the message as the broker delivered it
    );

    -- SQLite rewrites a whole row on every UPDATE, overflow pages included:
    -- with the ~28 KB message inside the job row, each state change of a job
    -- wrote 28 KB. Here it is written once and deleted once (when purged).
    CREATE TABLE job_payloads (
        id INTEGER PRIMARY KEY REFERENCES jobs (id),
        payload BLOB NOT NULL
    );
    INSERT INTO job_payloads (id, payload)
        SELECT id, payload FROM jobs WHERE payload IS NOT NULL;
    ALTER TABLE jobs DROP COLUMN payload;

    -- Sent messages are kept a while (mqtt.keep_sent_h), so a registry that
    -- finds a gap can ask for them again (command resend).
    ALTER TABLE outbox ADD COLUMN sent_at TEXT;
    CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
    """,
    # 4: a printer's reserved blank, looked up at every claim
    """
    -- At most one row a printer. Without it the check walked every blank
    -- loaded in the printer's feeder: 107 us a card with 300 loaded, 9 with it.
    CREATE INDEX blanks_reserved ON blanks (printer)
        WHERE state = 'loaded' AND job_id IS NOT NULL;
    """,
    # 5: the ledger's two one-only rules kept by the database itself
    """
    -- A printer has at most one reserved blank: the card it is printing.
    DROP INDEX blanks_reserved;
    CREATE UNIQUE INDEX blanks_reserved ON blanks (printer)
        WHERE state = 'loaded' AND job_id IS NOT NULL;
    -- A job has at most one issued blank: a reprint is a new job.
    CREATE UNIQUE INDEX blanks_issued ON blanks (job_id) WHERE state = 'issued';
    """,
)
