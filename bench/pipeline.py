"""Pipeline figures: station throughput against the printers' capacity, daemon
CPU per card, and peak memory with a 100,000-job backlog on disk.

Run: .venv/bin/python bench/pipeline.py [--jobs 2000] [--printers 4] [--card-ms 50]
     [--no-single] [--no-mqtt] [--backlog 100000]

Simulated Evolis printers run as their own processes on real ptys, set to a
fixed card time; the daemon is a real `printd run` process. Capacity is
measured, not assumed: the same driver pushes pre-encoded cards straight into
one simulator, with no station around it. Targets: throughput >= 0.95 of
capacity, daemon CPU <= 2 ms a card, peak RSS <= 100 MB with 100,000 queued.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from brokers import MosquittoBroker
from stations import add_jobs, daemon, start_simulator, write_config

from drivers.base import CardArtwork, DriverOptions
from drivers.registry import open_driver
from printd.cli.run import run_event_loop
from printd.pipeline import jobflow
from printd.pipeline.artwork import parse_card
from printd.render import TemplateLibrary, render_card
from printd.serials import parse_serials
from printd.signing import Signer, public_b64
from printd.store import Store
from printd.store.db import DB_NAME

# Seconds a single-sided YMCKO card takes at speed 1 in the simulator
# (feed, five panels, eject).
CARD_S_AT_SPEED_1 = 1.0 + 5 * 2.4 + 1.0


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    cpu = ticks / os.sysconf("SC_CLK_TCK")
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def children(pid: int) -> list[int]:
    """Processes started by ``pid`` (its card-encoding workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kernel_seconds(pid: int) -> float:
    """CPU seconds a process spent in the kernel (system time), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def family_stat(pid: int) -> tuple[float, float, float, float]:
    """(CPU s, peak RSS MB) of a process and (CPU s, summed peak RSS MB) of its children."""
    cpu, peak = proc_stat(pid)
    kids = [proc_stat(child) for child in children(pid)]
    return cpu, peak, sum(k[0] for k in kids), sum(k[1] for k in kids)


def reference_ms(work: Path, cards: int = 200, rounds: int = 3) -> float:
    """This machine's speed now: CPU ms of one card's store transaction (the
    card's outcome and the next claim) run alone, without the fsync; the
    best of ``rounds``.

    A shared machine's speed drifts: the same code measured 20% slower at one
    hour than at another in one sitting. Daemon figures of two runs compare
    only where this reference was about the same.
    """
    work.mkdir(parents=True)
    serials = parse_serials([f"R-{1:06d}..R-{cards * rounds + 1:06d}"])
    with Store.open(work) as store:
        store.ledger.receive("REF", serials, "bench")
        store.ledger.load("ref", serials, "bench")
        add_jobs(store, cards * rounds + 1, prefix="ref")
        conn = store.conn
        conn.execute("PRAGMA synchronous = OFF")
        claim = jobflow.claim_next(store, "ref")
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(cards):
                assert claim is not None
                with store.transaction() as tx:
                    jobflow.record_issued_in(store, tx, claim, None)
                    claim = jobflow.claim_next_in(store, tx, "ref")
            best = min(best, (time.process_time() - started) / cards * 1000)
    return best


def _echo(inbox: int, outbox: int, count: int) -> None:
    for _ in range(count):
        os.read(inbox, 1)
        os.write(outbox, b"x")


def wakeup_us(count: int = 2000, rounds: int = 3) -> float:
    """This machine's cost of a wake-up now: CPU microseconds this process
    spends on one round trip through two pipes to another process that
    sleeps in between, best of ``rounds``.

    Every printer reply, worker answer and commit wakes a sleeping thread or
    process; on this virtual machine that cost changes with the host's load
    (a twofold change seen between two days), and the daemon's CPU a card,
    most of all with one printer alone, follows it.
    """
    best = float("inf")
    for _ in range(rounds):
        to_r, to_w = os.pipe()
        back_r, back_w = os.pipe()
        echo = multiprocessing.get_context("fork").Process(target=_echo, args=(to_r, back_w, count))
        echo.start()
        started = time.process_time()
        for _ in range(count):
            os.write(to_w, b"x")
            os.read(back_r, 1)
        best = min(best, (time.process_time() - started) / count * 1e6)
        echo.join()
        for fd in (to_r, to_w, back_r, back_w):
            os.close(fd)
    return best


def sample_artwork() -> CardArtwork:
    from stations import artwork_png

    payload = f'{{"card": {{"kind": "artwork", "front": "{artwork_png()}"}}}}'.encode()
    card, chip = parse_card(payload)
    return render_card(card, chip, TemplateLibrary())


async def capacity(pty: str, cards: int) -> float:
    """Cards a second one printer does when fed pre-encoded cards back to back.

    Run on the daemon's event loop (:func:`calibrated`), so that the printer
    alone and the station drive it alike.
    """
    async with open_driver("calibrate", "evolis", f"serial://{pty}", DriverOptions()) as driver:
        prepared = driver.prepare(sample_artwork())
        start = time.perf_counter()
        for _ in range(cards):
            await driver.print_card(prepared, None)
        return cards / (time.perf_counter() - start)


def calibrated(pty: str, cards: int = 40) -> float:
    return run_event_loop(capacity(pty, cards))


class Printed:
    """How many jobs are printed, from one read-only connection.

    Opening the store for every look runs its start-up checks (a quick_check
    reads the whole file): polled every 20 ms, that took a fifth of a core
    from the station being measured.
    """

    def __init__(self, state: Path) -> None:
        self._conn = sqlite3.connect(f"{(state / DB_NAME).as_uri()}?mode=ro", uri=True)

    def __call__(self) -> int:
        row = self._conn.execute("SELECT count(*) FROM jobs WHERE state = 'printed'").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()


def machine_busy_seconds() -> float:
    """CPU seconds all cores of this machine spent busy since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One station run's figures."""

    printers: int
    cards: int
    card_ms: float
    capacity: float  # cards a second one printer does alone
    rates: list[float]
    station_rate: float
    daemon_ms: float
    kernel_ms: float
    workers_ms: float
    workers_timed_ms: float
    sims_ms: float
    machine_busy: float  # cores busy during the run, everything on the machine
    peak_mb: float
    workers_peak_mb: float
    in_processes: bool
    mqtt: bool

    @property
    def ratio(self) -> float:
        return self.station_rate / (self.capacity * self.printers)


def throughput(work: Path, jobs: int, printers: int, speed: float, *, mqtt: bool = False) -> Run:
    """One station run; with ``mqtt``, results go to a real Mosquitto broker
    (sealed, signed, published at QoS 1 and marked sent), as in an office."""
    work.mkdir(parents=True)
    if not mqtt:
        return _throughput(work, jobs, printers, speed, None)
    with MosquittoBroker(work / "broker") as broker:
        return _throughput(work, jobs, printers, speed, broker)


def _throughput(
    work: Path, jobs: int, printers: int, speed: float, broker: MosquittoBroker | None
) -> Run:
    per_printer = jobs // printers + 20
    sims = [
        start_simulator(work, f"evolis-{n}", f"P{n}-000001..P{n}-{per_printer:06d}", speed=speed)
        for n in range(1, printers + 1)
    ]
    calib = start_simulator(work, "calibrate", "C-000001..C-000100", speed=speed)
    try:
        # Measured before and after the station run, the best rate kept: on a
        # shared machine a burst of other work only ever slows a printer down,
        # and a low capacity would flatter the station.
        rates = [calibrated(calib.pty)]
        calib.stop()
        if broker is None:
            config = write_config(work, sims)
        else:
            # The station refuses to start without the registry's key; no job
            # arrives over MQTT here, so any key will do.
            registry = Signer.generate().public_key
            config = write_config(
                work,
                sims,
                broker=(broker.host, broker.port),
                registry_keys={"registry-1": public_b64(registry)},
            )
        state = work / "state"
        with Store.open(state) as store:
            for n in range(1, printers + 1):
                serials = parse_serials([f"P{n}-000001..P{n}-{per_printer:06d}"])
                store.ledger.receive(f"BOX-{n}", serials, "bench")
                store.ledger.load(f"evolis-{n}", serials, "bench")
            add_jobs(store, jobs, urgent_every=10)
        with daemon(config, work / "daemon.log") as proc:
            printed = Printed(state)
            while printed() == 0:
                time.sleep(0.01)
            cpu0, _, kids0, _ = family_stat(proc.pid)
            sys0 = kernel_seconds(proc.pid)
            sims0 = sum(proc_stat(s.process.pid)[0] for s in sims)
            busy0 = machine_busy_seconds()
            start, first = time.perf_counter(), printed()
            while (done := printed()) < jobs:
                time.sleep(0.02)
            took = time.perf_counter() - start
            busy1 = machine_busy_seconds()
            cpu1, peak, kids1, kids_peak = family_stat(proc.pid)
            sys1 = kernel_seconds(proc.pid)
            printed.close()
            sims1 = sum(proc_stat(s.process.pid)[0] for s in sims)
        calib = start_simulator(work, "calibrate-2", "D-000001..D-000100", speed=speed)
        rates.append(calibrated(calib.pty))
        calib.stop()
        stopped = [
            json.loads(line)
            for line in (work / "daemon.log").read_text().splitlines()
            if '"station_stopped"' in line
        ][-1]
        cards = done - first
        return Run(
            printers=printers,
            cards=cards,
            card_ms=1000 / max(rates),
            capacity=max(rates),
            rates=rates,
            station_rate=cards / took,
            daemon_ms=(cpu1 - cpu0) / cards * 1000,
            kernel_ms=(sys1 - sys0) / cards * 1000,
            workers_ms=(kids1 - kids0) / cards * 1000,
            workers_timed_ms=stopped["prepare_cpu_s"] / max(stopped["cards_prepared"], 1) * 1000,
            sims_ms=(sims1 - sims0) / cards * 1000,
            machine_busy=(busy1 - busy0) / took,
            peak_mb=peak,
            workers_peak_mb=kids_peak,
            in_processes=bool(stopped.get("prepared_in_processes")),
            mqtt=broker is not None,
        )
    finally:
        for sim in sims:
            sim.stop()
        calib.stop()


def report(runs: list[Run], reference: tuple[float, float], wakeup: tuple[float, float]) -> None:
    """The runs side by side, one column each."""
    rows: list[tuple[str, list[str]]] = [
        ("printers", [str(r.printers) for r in runs]),
        ("results to an MQTT broker", ["yes" if r.mqtt else "no" for r in runs]),
        ("cards measured", [str(r.cards) for r in runs]),
        ("card time, one printer alone (ms)", [f"{r.card_ms:.1f}" for r in runs]),
        (
            "capacity before, after (cards/s)",
            [", ".join(f"{x:.1f}" for x in r.rates) for r in runs],
        ),
        ("station throughput (cards/s)", [f"{r.station_rate:.1f}" for r in runs]),
        ("of combined capacity (target >= 0.95)", [f"{r.ratio:.3f}" for r in runs]),
        ("daemon CPU a card (ms; target <= 2)", [f"{r.daemon_ms:.2f}" for r in runs]),
        ("  of which kernel (ms)", [f"{r.kernel_ms:.2f}" for r in runs]),
        ("card-encoding workers a card (ms)", [f"{r.workers_ms:.2f}" for r in runs]),
        ("  as the workers timed it (ms)", [f"{r.workers_timed_ms:.2f}" for r in runs]),
        ("simulated printers a card (ms)", [f"{r.sims_ms:.2f}" for r in runs]),
        (f"machine busy (cores of {os.cpu_count()})", [f"{r.machine_busy:.2f}" for r in runs]),
        ("daemon peak RSS (MB)", [f"{r.peak_mb:.1f}" for r in runs]),
        ("workers' summed peak RSS (MB)", [f"{r.workers_peak_mb:.1f}" for r in runs]),
    ]
    width = max(len(name) for name, _ in rows)
    cells = max(len(v) for _, values in rows for v in values)
    for name, values in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{v:>{cells}}" for v in values))
    print(
        "machine reference, before and after (ms): "
        f"{reference[0]:.3f}, {reference[1]:.3f} of CPU for one card's store transaction "
        "alone, no fsync"
    )
    print(
        "machine reference, before and after (us): "
        f"{wakeup[0]:.1f}, {wakeup[1]:.1f} of CPU for one wake-up round trip to another process"
    )
    if not all(r.in_processes for r in runs):
        print("note: cards were prepared in the daemon's threads; its CPU includes rendering")
    print(
        "The daemon's CPU is the pipeline itself; rendering and panel encoding run in its\n"
        "worker processes, and the simulators stand in for the printers' own electronics.\n"
        "All of them share this machine's cores: where the machine is near fully busy, the\n"
        "station waits for CPU, not for the printers. One printer alone shows the daemon's\n"
        "own cost between cards (the commit of each card's outcome with the next claim)."
    )


def backlog_memory(work: Path, backlog: int, printers: int, speed: float) -> None:
    work.mkdir(parents=True)
    sims = [
        start_simulator(work, f"m-{n}", f"M{n}-000001..M{n}-000300", speed=speed)
        for n in range(1, printers + 1)
    ]
    try:
        config = write_config(work, sims)
        state = work / "state"
        with Store.open(state) as store:
            for n in range(1, printers + 1):
                serials = parse_serials([f"M{n}-000001..M{n}-000300"])
                store.ledger.receive(f"BOX-{n}", serials, "bench")
                store.ledger.load(f"m-{n}", serials, "bench")
            for chunk in range(0, backlog, 10_000):
                add_jobs(store, 10_000, prefix=f"backlog-{chunk}")
        size = sum(p.stat().st_size for p in state.iterdir()) / 1e6
        with daemon(config, work / "daemon.log") as proc:
            printed = Printed(state)
            while printed() < 200:
                time.sleep(0.1)
            printed.close()
            _, peak, _, kids_peak = family_stat(proc.pid)
        print(
            f"backlog: {backlog:,} queued jobs on disk ({size:.0f} MB database); "
            f"daemon peak RSS after 200 cards: {peak:.1f} MB (target <= 100 MB); "
            f"its worker processes: {kids_peak:.1f} MB summed peak RSS"
        )
    finally:
        for sim in sims:
            sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--printers", type=int, default=4)
    parser.add_argument("--card-ms", type=float, default=50.0)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument(
        "--mqtt",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the printers with results sent to a Mosquitto broker (default: yes)",
    )
    parser.add_argument(
        "--single",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run one printer alone, with jobs/printers jobs (default: yes)",
    )
    args = parser.parse_args()
    speed = CARD_S_AT_SPEED_1 / (args.card_ms / 1000)
    runs = []
    with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
        before = reference_ms(Path(tmp) / "reference")
    wakeup_before = wakeup_us()
    with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
        runs.append(throughput(Path(tmp) / "run", args.jobs, args.printers, speed))
    if args.mqtt:
        with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
            runs.append(throughput(Path(tmp) / "mqtt", args.jobs, args.printers, speed, mqtt=True))
    if args.printers > 1 and args.single:
        with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
            runs.append(throughput(Path(tmp) / "one", args.jobs // args.printers, 1, speed))
    with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
        after = reference_ms(Path(tmp) / "reference")
    report(runs, (before, after), (wakeup_before, wakeup_us()))
    if args.backlog <= 0:
        return
    with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
        backlog_memory(Path(tmp) / "mem", args.backlog, args.printers, speed)


if __name__ == "__main__":
    main()
