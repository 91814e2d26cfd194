"""kill -9 of the daemon at random moments across a few hundred jobs.

The simulated printers run in their own processes and survive each kill.
After each restart, a technician (this test) looks at what came out of each
printer and resolves the cards that need inspection with the real CLI. At the
end: every job ended exactly once, no job has two issued blanks, the ledger
balances and its chain is intact, and the printers' output and reject bins
match the ledger blank for blank.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

from stations import (
    SimPrinter,
    add_jobs,
    daemon,
    printd_cli,
    start_simulator,
    wait_for,
    write_config,
)

from printd.pipeline import jobflow
from printd.serials import parse_serials
from printd.store import JobState, Store

JOBS = 240
RANGES = {"evolis-1": "AB-100001..AB-100400", "evolis-2": "AB-200001..AB-200400"}
TERMINAL = {"printed", "failed"}


def _counts(state: Path) -> dict[str, int]:
    with Store.open(state) as store:
        return store.jobs.count_by_state()


def _resolve_inspections(config: Path, state: Path, sims: dict[str, SimPrinter]) -> int:
    """What a technician does: look in the printer, say what came out."""
    with Store.open(state) as store:
        pending = [
            (job.job_id, job.printer, jobflow.reserved_blank(store, job.job_id))
            for job in store.jobs.in_state(JobState.NEEDS_INSPECTION)
        ]
    for job_id, printer, serial in pending:
        assert printer is not None
        assert serial is not None
        sim = sims[printer]
        snapshot = sim.state()
        if snapshot["card"] is not None and snapshot["card"]["serial"] == serial:
            assert sim.control.remove_card() == serial
            snapshot = sim.state()
        if serial in {c["serial"] for c in snapshot["output"]}:
            args = ["--printed", serial]
        elif serial in {c["serial"] for c in snapshot["reject"]}:
            args = ["--spoiled", serial, "--reason", "print_error"]
        else:
            assert serial in snapshot["feeder"], (serial, snapshot["card"])
            args = ["--not-fed"]
        result = printd_cli(config, "jobs", "resolve", job_id, *args, "--by", "Sri")
        assert result.returncode == 0, result.stderr
    return len(pending)


def test_kill_9_at_random_moments_loses_nothing_and_prints_nothing_twice(tmp_path: Path) -> None:
    """Random SIGKILLs across a run: each job ends once, the ledger matches the bins."""
    rng = random.Random(20261129)
    sims = {
        name: start_simulator(tmp_path, name, blanks, speed=300) for name, blanks in RANGES.items()
    }
    try:
        config = write_config(tmp_path, list(sims.values()), resume="auto")
        state = tmp_path / "state"
        with Store.open(state) as store:
            for name, blanks in RANGES.items():
                serials = parse_serials([blanks])
                store.ledger.receive(f"BOX-{name}", serials, "test")
                store.ledger.load(name, serials, "test")
            add_jobs(store, JOBS, urgent_every=7)

        kills = inspections = 0
        log = tmp_path / "daemon.log"
        while kills < 12:
            before = _counts(state).get("printed", 0)
            starts = _starts(log)
            with daemon(config, log) as proc:
                wait_for(lambda s=starts: _starts(log) > s, 30, "the daemon to start")
                inspections += _resolve_inspections(config, state, sims)
                # Wait for progress, then kill somewhere inside the next card.
                wait_for(
                    lambda b=before: _counts(state).get("printed", 0) > b or _done(state),
                    60,
                    "progress after restart",
                )
                if _done(state):
                    break
                time.sleep(rng.uniform(0.0, 0.25))
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                kills += 1
        with daemon(config, log):
            wait_for(lambda: _settle(config, state, sims), 240, "every job finished")

        with Store.open(state) as store:
            counts = store.jobs.count_by_state()
            assert set(counts) <= TERMINAL, counts
            assert sum(counts.values()) == JOBS
            rec = store.ledger.reconcile()
            assert rec.balanced, rec.problems
            assert store.ledger.verify().ok
            issued_rows = store.conn.execute(
                "SELECT job_id, serial FROM blanks WHERE state = 'issued'"
            ).fetchall()
            spoiled = {
                r[0]
                for r in store.conn.execute("SELECT serial FROM blanks WHERE state = 'spoiled'")
            }
            per_job = Counter(r[0] for r in issued_rows)
            assert max(per_job.values()) == 1, "a job has two issued blanks"
            assert len(per_job) == counts.get("printed", 0)
            results = [m.body for m in store.outbox.pending(100_000) if m.topic == "results"]
        # A job ends with printed or failed, or with a technician's finding that
        # the card came out printed (inspection_resolved, resolution printed).
        endings = Counter(
            r["job_id"]
            for r in results
            if r["outcome"] in TERMINAL
            or (r["outcome"] == "inspection_resolved" and r["resolution"] == "printed")
        )
        assert len(endings) == JOBS
        assert set(endings.values()) == {1}, "a job was reported finished twice"
        out_bins = [c["serial"] for s in sims.values() for c in s.state()["output"]]
        reject_bins = [c["serial"] for s in sims.values() for c in s.state()["reject"]]
        assert len(out_bins) == len(set(out_bins))
        assert set(out_bins) == {r[1] for r in issued_rows}
        assert set(reject_bins) == spoiled
        assert kills >= 5, f"only {kills} kills happened"
        print(f"kills: {kills}, inspections resolved: {inspections}, final states: {counts}")
    finally:
        for sim in sims.values():
            sim.stop()


def _done(state: Path) -> bool:
    counts = _counts(state)
    return sum(counts.get(s, 0) for s in TERMINAL) == JOBS


def _starts(log: Path) -> int:
    """How many times the daemon has finished starting (it recovers before that)."""
    if not log.exists():
        return 0
    return log.read_text().count('"station_started"')


def _settle(config: Path, state: Path, sims: dict[str, SimPrinter]) -> bool:
    _resolve_inspections(config, state, sims)
    return _done(state)
