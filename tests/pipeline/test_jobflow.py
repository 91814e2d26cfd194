"""A job's way through a printer, one committed step at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from printd.pipeline import jobflow
from printd.serials import parse_serials
from printd.store import JobError, JobState, LedgerError, Store

SERIALS = parse_serials(["AB-100001..AB-100050"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path) as opened:
        opened.ledger.receive("BOX-1", SERIALS, "t")
        opened.ledger.load("p1", SERIALS[:20], "t")
        yield opened


def add_job(store: Store, job_id: str, priority: str = "normal", ttl_s: float = 3600) -> None:
    with store.transaction() as conn:
        store.jobs.accept(
            conn,
            job_id=job_id,
            priority=priority,
            not_after=datetime.now(UTC) + timedelta(seconds=ttl_s),
            payload=b'{"card": {}}',
            content_hash="h",
            key_id="k",
        )


def results(store: Store) -> list[dict[str, object]]:
    return [m.body for m in store.outbox.pending(1000) if m.topic == "results"]


def test_urgent_first_then_oldest(store: Store) -> None:
    """Claims take urgent jobs before normal ones, each oldest first."""
    for job_id, priority in (
        ("n1", "normal"),
        ("u1", "urgent"),
        ("n2", "normal"),
        ("u2", "urgent"),
    ):
        add_job(store, job_id, priority)
    order = []
    while (claim := jobflow.claim_next(store, "p1")) is not None:
        order.append(claim.job_id)
        jobflow.record_issued(store, claim, None)
    assert order == ["u1", "u2", "n1", "n2"]


def test_cards_are_prepared_ahead_in_claim_order(store: Store) -> None:
    """The ids the card preparer reads ahead come in the order claims take them."""
    for job_id, priority in (("n1", "normal"), ("u1", "urgent"), ("n2", "normal")):
        add_job(store, job_id, priority)
    assert store.jobs.queued_ids(10) == ["u1", "n1", "n2"]
    assert store.jobs.queued_ids(2) == ["u1", "n1"]
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    assert store.jobs.queued_ids(10) == ["n1", "n2"]


def test_claim_reserves_the_next_blank_in_feeder_order(store: Store) -> None:
    """The blank reserved is the one the printer feeds next."""
    add_job(store, "j1")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    assert claim.serial == SERIALS[0]
    assert store.jobs.require("j1").state is JobState.PRINTING
    assert jobflow.record_issued(store, claim, SERIALS[0]) == SERIALS[0]
    job = store.jobs.require("j1")
    assert (job.state, job.blank_serial, job.attempts) == (JobState.PRINTED, SERIALS[0], 1)
    (printed,) = results(store)
    assert {k: printed[k] for k in ("job_id", "outcome", "serial", "printer", "spoiled")} == {
        "job_id": "j1",
        "outcome": "printed",
        "serial": SERIALS[0],
        "printer": "p1",
        "spoiled": [],
    }


def test_no_blanks_no_claim(store: Store) -> None:
    """A printer without a free blank takes no job."""
    add_job(store, "j1")
    assert jobflow.claim_next(store, "p2") is None
    assert store.jobs.require("j1").state is JobState.QUEUED


def test_expired_jobs_are_reported_not_printed(store: Store) -> None:
    """A job past not_after is reported expired, and the next job is claimed instead."""
    add_job(store, "old", ttl_s=-1)
    add_job(store, "fresh")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    assert claim.job_id == "fresh"
    assert store.jobs.require("old").state is JobState.EXPIRED
    assert [r["outcome"] for r in results(store)] == ["expired"]


def test_expiry_sweep_reports_without_a_printer(store: Store) -> None:
    """Expired jobs are reported even when no printer is free."""
    add_job(store, "old", ttl_s=-1)
    assert jobflow.expire_due(store) == ["old"]


def test_spoiled_cards_retry_on_new_blanks_then_fail_with_every_reason(store: Store) -> None:
    """Each spoiled blank is recorded; after max_attempts the job fails listing them all."""
    add_job(store, "j1")
    reasons = ["jam", "print_error", "chip_error"]
    used = []
    for reason in reasons:
        claim = jobflow.claim_next(store, "p1")
        assert claim is not None
        assert claim.job_id == "j1"
        used.append(claim.serial)
        state = jobflow.record_spoiled(store, claim, reason, "", max_attempts=3)
    assert state is JobState.FAILED
    assert used == SERIALS[:3]
    (failed,) = results(store)
    assert failed["outcome"] == "failed"
    assert [s["serial"] for s in failed["spoiled"]] == used  # type: ignore[index]
    assert [s["reason"] for s in failed["spoiled"]] == reasons  # type: ignore[index]
    assert store.ledger.reconcile().total.spoiled == 3
    assert store.ledger.reconcile().balanced


def test_misfeed_spoils_every_blank_it_took(store: Store) -> None:
    """Two cards fed at once: both blanks are spoiled, the next claim skips them."""
    add_job(store, "j1")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    jobflow.record_spoiled(store, claim, "misfeed", "two cards", max_attempts=3, extra_blanks=1)
    assert store.ledger.blank(SERIALS[1])["state"] == "spoiled"
    again = jobflow.claim_next(store, "p1")
    assert again is not None
    assert again.serial == SERIALS[2]


def test_not_fed_returns_blank_and_job(store: Store) -> None:
    """A fault before feeding frees the blank and requeues the job without an attempt."""
    add_job(store, "j1")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    jobflow.record_not_fed(store, claim, "cover open")
    job = store.jobs.require("j1")
    assert (job.state, job.attempts) == (JobState.QUEUED, 0)
    assert store.ledger.next_blank("p1") == SERIALS[0]


def test_claim_holds_the_job_as_printing(store: Store) -> None:
    add_job(store, "j1")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    assert claim.job == store.jobs.require("j1")
    assert (claim.job.state, claim.job.printer) == (JobState.PRINTING, "p1")


def test_an_outcome_for_a_job_moved_since_its_claim_changes_nothing(store: Store) -> None:
    """The outcome is written against the job as claimed; a job another hand
    moved meanwhile is refused, and its blank is not issued."""
    add_job(store, "j1")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    with store.transaction() as conn:
        store.jobs.transition(conn, "j1", JobState.NEEDS_INSPECTION, "technician")
    events = store.conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
    with pytest.raises(JobError, match="j1 is needs_inspection now, no longer printing"):
        jobflow.record_issued(store, claim, claim.serial)
    assert store.jobs.require("j1").state is JobState.NEEDS_INSPECTION
    assert jobflow.reserved_blank(store, "j1") == claim.serial
    assert store.conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == events
    assert results(store) == []


def test_crash_recovery_sends_cards_in_printers_to_inspection(store: Store) -> None:
    """A job left printing by a dead process is never reprinted by itself."""
    add_job(store, "j1")
    add_job(store, "j2")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    assert jobflow.recover_after_crash(store) == ["j1"]
    assert store.jobs.require("j1").state is JobState.NEEDS_INSPECTION
    assert jobflow.inspections_on(store, "p1") == ["j1"]
    # The other job is still queued and the reserved blank stays reserved.
    assert store.jobs.require("j2").state is JobState.QUEUED
    assert jobflow.reserved_blank(store, "j1") == SERIALS[0]
    (inspection,) = results(store)
    assert inspection["outcome"] == "needs_inspection"
    assert inspection["serial"] == SERIALS[0]


def _inspected(store: Store) -> None:
    add_job(store, "j1")
    assert jobflow.claim_next(store, "p1") is not None
    jobflow.recover_after_crash(store)


def test_resolve_printed_issues_the_serial(store: Store) -> None:
    """--printed: the job is done with the serial the technician saw."""
    _inspected(store)
    assert jobflow.resolve(store, "j1", "sri", printed=SERIALS[0]) is JobState.PRINTED
    assert store.ledger.blank(SERIALS[0])["state"] == "issued"
    assert store.ledger.reconcile().balanced


def test_resolve_spoiled_requeues_on_a_new_blank(store: Store) -> None:
    """--spoiled: the blank is spoiled and the job prints again."""
    _inspected(store)
    assert jobflow.resolve(store, "j1", "sri", spoiled=SERIALS[0], reason="jam") is JobState.QUEUED
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    assert claim.serial == SERIALS[1]


def test_resolve_not_fed_releases_the_blank(store: Store) -> None:
    """--not-fed: the same blank is used again for the job."""
    _inspected(store)
    assert jobflow.resolve(store, "j1", "sri", not_fed=True) is JobState.QUEUED
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    assert claim.serial == SERIALS[0]


def test_resolve_needs_exactly_one_answer_and_changes_nothing_otherwise(store: Store) -> None:
    """Ambiguous or misplaced resolutions are refused whole."""
    _inspected(store)
    before = list(store.conn.iterdump())
    with pytest.raises(LedgerError, match="exactly one"):
        jobflow.resolve(store, "j1", "sri", printed=SERIALS[0], not_fed=True)
    with pytest.raises(LedgerError, match="never received"):
        jobflow.resolve(store, "j1", "sri", printed="ZZ-1")
    add_job(store, "j9")
    after_add = list(store.conn.iterdump())
    with pytest.raises(LedgerError, match="not needs_inspection"):
        jobflow.resolve(store, "j9", "sri", not_fed=True)
    assert list(store.conn.iterdump()) == after_add
    assert len(after_add) > len(before)


def test_retry_requeues_a_failed_job(store: Store) -> None:
    """A technician's retry gives a failed job a fresh set of attempts."""
    add_job(store, "j1")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    jobflow.record_spoiled(store, claim, "jam", "", max_attempts=1)
    assert store.jobs.require("j1").state is JobState.FAILED
    jobflow.retry(store, "j1", "sri")
    job = store.jobs.require("j1")
    assert (job.state, job.attempts) == (JobState.QUEUED, 0)


def test_unprintable_card_fails_and_keeps_the_blank(store: Store) -> None:
    """A card that cannot be rendered fails the job; no blank is consumed."""
    add_job(store, "j1")
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    jobflow.record_unprintable(store, claim, "template missing")
    assert store.jobs.require("j1").state is JobState.FAILED
    assert store.ledger.next_blank("p1") == SERIALS[0]
    assert store.ledger.reconcile().total.spoiled == 0


def test_credit_counts_a_printing_jobs_blank_once(store: Store) -> None:
    """A job in the printer holds its reserved blank; the credit does not subtract it twice."""
    from printd.mqtt.link import store_credit

    credit = store_credit(store, max_queue=500)
    assert credit() == 20
    add_job(store, "j1")
    add_job(store, "j2")
    assert credit() == 18
    claim = jobflow.claim_next(store, "p1")
    assert claim is not None
    # 19 free blanks (one reserved for j1), one queued job still needs one.
    assert credit() == 18


def test_credit_counts_jobs_received_but_not_yet_checked(store: Store) -> None:
    """Jobs committed as received hold credit until their checks settle them."""
    from printd.mqtt.link import store_credit

    credit = store_credit(store, max_queue=10)
    assert credit() == 10  # queue room (10) is the tighter limit; 20 blanks loaded
    with store.transaction() as conn:
        store.inbox.add(conn, [b"{}", b"{}", b"{}"])
    assert credit() == 7
    add_job(store, "j1")
    assert credit() == 6
    with store.transaction() as conn:
        store.inbox.remove(conn, [row_id for row_id, _ in store.inbox.oldest(10)])
    assert credit() == 9


def test_credit_stops_counting_early_yet_equals_the_plain_formula(store: Store) -> None:
    """Counts stop at the bound that decides the credit; the answer is unchanged."""
    from printd.mqtt.link import store_credit

    def plain(max_queue: int) -> int:
        unchecked = store.inbox.count()
        active = store.jobs.active_count() + unchecked
        queued = store.jobs.queued_count() + unchecked
        return max(0, min(max_queue - active, store.ledger.loaded_count() - queued))

    seen = set()
    for step in range(30):
        add_job(store, f"j{step}")
        if step % 4 == 0:
            claim = jobflow.claim_next(store, "p1")
            assert claim is not None
            jobflow.record_issued(store, claim, None)
        if step % 7 == 0:
            with store.transaction() as conn:
                store.inbox.add(conn, [b"{}"])
        for max_queue in (1, 5, 12, 25, 500):
            expected = plain(max_queue)
            assert store_credit(store, max_queue)() == expected, (step, max_queue)
            seen.add(expected > 0)
    assert seen == {True, False}  # both sides of every early stop were walked


def test_bounded_job_counts(store: Store) -> None:
    for n in range(5):
        add_job(store, f"j{n}")
    assert jobflow.claim_next(store, "p1") is not None
    assert store.jobs.queued_count() == 4
    assert store.jobs.queued_count(up_to=3) == 3
    assert store.jobs.queued_count(up_to=9) == 4
    assert store.jobs.active_count() == 5
    assert store.jobs.active_count(up_to=2) == 2
    assert store.jobs.active_count(up_to=-1) == 0
