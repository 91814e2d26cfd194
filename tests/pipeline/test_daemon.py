"""The daemon against simulated printers in their own processes, over real ptys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from stations import (
    SimPrinter,
    add_jobs,
    daemon,
    printd_cli,
    start_simulator,
    wait_for,
    write_config,
)

from printd.serials import parse_serials
from printd.store import JobState, Store

P1 = "AB-100001..AB-100060"
P2 = "AB-200001..AB-200060"


@pytest.fixture
def printers(tmp_path: Path) -> Iterator[list[SimPrinter]]:
    sims = [start_simulator(tmp_path, "evolis-1", P1), start_simulator(tmp_path, "evolis-2", P2)]
    yield sims
    for sim in sims:
        sim.stop()


def prepare_station(tmp_path: Path, printers: list[SimPrinter], **station: object) -> Path:
    config = write_config(tmp_path, printers, **station)
    with Store.open(tmp_path / "state") as store:
        store.ledger.receive("BOX-1", parse_serials([P1]), "test")
        store.ledger.receive("BOX-2", parse_serials([P2]), "test")
        store.ledger.load("evolis-1", parse_serials([P1]), "test")
        store.ledger.load("evolis-2", parse_serials([P2]), "test")
    return config


def finished(state_dir: Path, total: int) -> bool:
    with Store.open(state_dir) as store:
        counts = store.jobs.count_by_state()
    return counts.get("printed", 0) + counts.get("failed", 0) == total


def test_two_printers_print_every_job_once_and_the_ledger_matches_the_bins(
    tmp_path: Path, printers: list[SimPrinter]
) -> None:
    """Jobs spread over both printers; every issued serial is a card in an output bin."""
    config = prepare_station(tmp_path, printers)
    with Store.open(tmp_path / "state") as store:
        add_jobs(store, 30, urgent_every=5)
    with daemon(config, tmp_path / "daemon.log") as proc:
        wait_for(lambda: finished(tmp_path / "state", 30), 120, "30 jobs printed")
        assert proc.poll() is None
    loops = [
        json.loads(line)["implementation"]
        for line in (tmp_path / "daemon.log").read_text().splitlines()
        if '"event_loop"' in line
    ]
    assert loops == ["uvloop"]
    with Store.open(tmp_path / "state") as store:
        jobs = store.jobs.listing(limit=100)
        assert {j.state for j in jobs} == {JobState.PRINTED}
        issued = {j.blank_serial for j in jobs}
        assert len(issued) == 30
        assert {j.printer for j in jobs} == {"evolis-1", "evolis-2"}
        assert store.ledger.reconcile().balanced
        assert store.ledger.verify().ok
    out = {c["serial"] for p in printers for c in p.state()["output"]}
    assert out == issued
    assert all(not p.state()["reject"] for p in printers)


def test_jam_pauses_the_printer_until_the_technician_resumes_it(
    tmp_path: Path, printers: list[SimPrinter]
) -> None:
    """A jam spoils the blank, pauses that printer, and the job prints on the other one."""
    config = prepare_station(tmp_path, printers[:1] + printers[1:], resume="manual")
    printers[0].control.inject("jam")
    printers[1].control.inject("cover-open")
    with Store.open(tmp_path / "state") as store:
        add_jobs(store, 4)
    with daemon(config, tmp_path / "daemon.log"):

        def printer_modes() -> dict[str, str]:
            result = printd_cli(config, "printers", "list", "--json")
            return {p["name"]: (p["mode"], p["state"]) for p in json.loads(result.stdout)}

        wait_for(lambda: printer_modes().get("evolis-1") == ("paused", "fault"), 30, "jam fault")
        with Store.open(tmp_path / "state") as store:
            spoiled = [b for b in store.ledger.job_blanks("job-00000") if b["outcome"] == "spoiled"]
            assert [(b["serial"], b["reason"]) for b in spoiled] == [("AB-100001", "jam")]
        # The technician clears the jam and the cover, then resumes both printers.
        printers[0].control.clear("jam")
        printers[1].control.clear("cover-open")
        for name in ("evolis-1", "evolis-2"):
            assert printd_cli(config, "printers", "resume", name).returncode == 0
        wait_for(lambda: finished(tmp_path / "state", 4), 60, "4 jobs printed after resume")
        events = json.loads(printd_cli(config, "status", "--json").stdout)["events"]
        assert {"printer_fault", "printer_active"} <= {e["event"] for e in events}
    rejected = [c["serial"] for c in printers[0].state()["reject"]]
    assert rejected == ["AB-100001"]
    with Store.open(tmp_path / "state") as store:
        assert store.ledger.reconcile().balanced


def test_sigterm_lets_the_card_in_the_printer_finish(
    tmp_path: Path, printers: list[SimPrinter]
) -> None:
    """A graceful stop leaves no job printing: the card inside finishes first."""
    config = prepare_station(tmp_path, printers)
    with Store.open(tmp_path / "state") as store:
        add_jobs(store, 200)
    with daemon(config, tmp_path / "daemon.log") as proc:
        wait_for(lambda: finished_count(tmp_path / "state") >= 4, 60, "some cards printed")
    assert proc.returncode == 0
    with Store.open(tmp_path / "state") as store:
        counts = store.jobs.count_by_state()
        assert counts.get("printing", 0) == 0
        assert counts.get("needs_inspection", 0) == 0
        printed = counts["printed"]
    assert sum(len(p.state()["output"]) for p in printers) == printed
    assert all(p.state()["card"] is None for p in printers)


def finished_count(state_dir: Path) -> int:
    with Store.open(state_dir) as store:
        return store.jobs.count_by_state().get("printed", 0)
