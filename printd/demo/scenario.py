"""The demo's story: a morning at the Ngawi registry office's print station.

Two simulated Evolis printers (driven by the real driver over ptys), a
delivery of blanks, 40 signed e-KTP jobs from the registry (some urgent),
a card jam on one printer that the technician clears, and the link to the
registry's broker dropping for a few seconds in the middle. At the end:
every job's result and the blank reconciliation.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from printd.cli.blanks import reconciliation_table
from printd.demo.broker import DemoBroker
from printd.demo.proxy import TcpProxy
from printd.signing import Signer, public_b64
from printd.store import Store
from simulators.process import SimulatorProcess
from simulators.registry import JobFactory, RegistrySimulator, Report, is_final, printed

PRINTERS = {"evolis-1": "AB-100001..AB-100025", "evolis-2": "AB-100026..AB-100050"}
DELIVERY = "AB-100001..AB-100060"
STATION = "ngawi-01"
# Simulated card time: a dual-sided e-KTP takes ~26 s on a desktop printer.
SPEED = 30.0


@dataclass
class Story:
    """What the audience sees scroll by."""

    lines: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(f"{time.strftime('%H:%M:%S')}  {text}")


def write_config(
    workdir: Path,
    broker: DemoBroker,
    link_port: int,
    registry: Signer,
    sims: list[SimulatorProcess],
) -> Path:
    key = workdir / "station.key"
    Signer.generate().write(key)
    lines = [
        "[station]",
        f'id = "{STATION}"',
        f'state_dir = "{workdir / "state"}"',
        'operator = "Sri (demo technician)"',
        'resume = "manual"',
        "low_stock_threshold = 20",
        "[mqtt]",
        f'host = "{broker.host}"',
        # Through the demo's proxy: the station's own network link, which the
        # story cuts for a few seconds.
        f"port = {link_port}",
        f'protocol = "{broker.protocol}"',
        "reconnect_min_s = 0.5",
        "reconnect_max_s = 2",
        "[signing]",
        f'station_key_file = "{key}"',
        "[signing.registry_keys]",
        f'"{registry.key_id}" = "{public_b64(registry.public_key)}"',
        "[logging]",
        'format = "json"',
    ]
    for sim in sims:
        lines += [
            "[[printers]]",
            f'name = "{sim.name}"',
            'driver = "evolis"',
            f'url = "serial://{sim.pty}"',
        ]
    path = workdir / "printd.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def printd_cmd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printd", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def start_daemon(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "printd", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def progress_view(
    store: Store, total: int, broker: DemoBroker, link_up: bool, story: Story
) -> Group:
    counts = store.jobs.count_by_state()
    printed_count = counts.get("printed", 0)
    head = Text.from_markup(
        f"[bold]printd demo[/bold]  station {STATION}  broker: {broker.kind}  "
        f"link: {'up' if link_up else '[red]DOWN[/red]'}  "
        f"printed [bold]{printed_count}[/bold] of {total}  "
        f"queued {counts.get('queued', 0)}  outbox {store.outbox.depth()}"
    )
    printers = Table(title="printers")
    for column in ("printer", "mode", "state", "blanks", "detail"):
        printers.add_column(column)
    loaded = store.ledger.loaded_by_printer()
    for row in store.conn.execute("SELECT name, mode, state, detail FROM printers ORDER BY name"):
        printers.add_row(row[0], row[1], row[2], str(loaded.get(row[0], 0)), row[3] or "")
    story_text = Text("\n".join(story.lines[-10:]))
    return Group(head, printers, story_text)


async def wait_until(predicate: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.2)
    return predicate()


async def run_demo(workdir: Path, jobs: int, console: Console, broker_kind: str = "auto") -> bool:
    story = Story()
    broker = DemoBroker(workdir / "broker", broker_kind)
    broker.start()
    story.say(f"broker: {broker.kind} on 127.0.0.1:{broker.port} (MQTT {broker.protocol})")
    sims = [
        SimulatorProcess.start(workdir, name, blanks, speed=SPEED)
        for name, blanks in PRINTERS.items()
    ]
    registry_key = Signer.generate("registry-demo")
    proxy = TcpProxy(broker.host, broker.port)
    await proxy.__aenter__()
    config = write_config(workdir, broker, proxy.port, registry_key, sims)
    story.say("technician receives a box of 60 blanks and loads 25 into each printer")
    for args in (
        ("blanks", "receive", "BOX-2026-07", DELIVERY, "--note", "tranche 2, box 7"),
        ("blanks", "load", "evolis-1", PRINTERS["evolis-1"]),
        ("blanks", "load", "evolis-2", PRINTERS["evolis-2"]),
    ):
        result = printd_cmd(config, *args)
        if result.returncode != 0:
            raise RuntimeError(f"printd {' '.join(args)}: {result.stderr.strip()}")
    daemon = start_daemon(config, workdir / "daemon.log")
    story.say("printd run: station started with two Evolis printers over ptys")
    station_key = Signer.from_file(workdir / "station.key")
    factory = JobFactory(registry_key, seed=2026, urgent_ratio=0.2)
    batch = factory.many(jobs)
    ids = [job_id for job_id, _ in batch]
    urgent = sum(json.loads(p)["priority"] == "urgent" for _, p in batch)
    store = Store.open(workdir / "state")
    report: Report | None = None
    link_up = [True]
    try:
        async with RegistrySimulator(
            broker.host,
            broker.port,
            station_keys={station_key.key_id: station_key.public_key},
            resend_after_s=8.0,
            protocol=broker.protocol,
        ) as registry:
            registry.submit(batch, station=STATION)
            story.say(
                f"registry sends {jobs} signed e-KTP jobs ({urgent} urgent), "
                "as the station's credit allows"
            )
            with Live(
                progress_view(store, jobs, broker, link_up[0], story),
                console=console,
                refresh_per_second=4,
                transient=False,
            ) as live:

                def refresh() -> bool:
                    live.update(progress_view(store, jobs, broker, link_up[0], story))
                    return False

                def printed_count() -> int:
                    refresh()
                    return store.jobs.count_by_state().get("printed", 0)

                await wait_until(lambda: printed_count() >= max(2, jobs // 7), 120)
                sims[0].control.inject("jam")
                story.say("evolis-1: a card jams (the blank is spoiled, the printer pauses)")
                await wait_until(
                    lambda: bool(refresh()) or _printer_mode(store, "evolis-1") == "paused", 60
                )
                await asyncio.sleep(2)
                sims[0].control.clear("jam")
                story.say(
                    "technician pulls the jammed card and runs: printd printers resume evolis-1"
                )
                printd_cmd(config, "printers", "resume", "evolis-1")
                await wait_until(lambda: printed_count() >= jobs // 2, 180)
                proxy.refuse = True
                proxy.cut()
                link_up[0] = False
                story.say(
                    "the station's network link drops; printing goes on, results wait in the outbox"
                )
                await wait_until(lambda: bool(refresh()), 6)
                proxy.refuse = False
                link_up[0] = True
                story.say(
                    "the link is back: the outbox drains in order, the registry "
                    "re-sends what it had no receipt for"
                )
                await wait_until(lambda: bool(refresh()) or registry.all_final(ids), 300)
                await wait_until(lambda: bool(refresh()) or store.outbox.depth() == 0, 30)
                story.say("every job has its final result")
                refresh()
            console.print()
            report = registry.report(ids)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        for sim in sims:
            sim.stop()
        await proxy.__aexit__()
        broker.stop()
    rec = store.ledger.reconcile()
    _summary(console, store, report, ids)
    console.print(reconciliation_table(rec))
    store.close()
    ok = report is not None and report.ok and rec.balanced
    console.print(
        (
            "[green]demo finished: every job answered once, every blank accounted for[/green]"
            if ok
            else "[red]demo finished with problems (see above)[/red]"
        )
        + f"\nstation files (config, database, logs) are in {workdir}"
    )
    return ok


def _printer_mode(store: Store, name: str) -> str | None:
    row = store.conn.execute("SELECT mode FROM printers WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _summary(console: Console, store: Store, report: Report | None, ids: list[str]) -> None:
    if report is None:
        console.print("[red]the registry simulator did not finish[/red]")
        return
    table = Table(title="Results the registry received")
    for column in ("outcome", "jobs"):
        table.add_column(column)
    outcomes: Counter[str] = Counter()
    for job_id in ids:
        finals = [r for r in report.results.get(job_id, []) if is_final(r)]
        outcomes[
            "printed"
            if finals and printed(finals[0])
            else (finals[0]["outcome"] if finals else "no result")
        ] += 1
    for outcome, number in sorted(outcomes.items()):
        table.add_row(outcome, str(number))
    console.print(table)
    spoiled = store.conn.execute(
        "SELECT serial, reason, job_id FROM ledger WHERE kind = 'spoil' ORDER BY seq"
    ).fetchall()
    for serial, reason, job_id in spoiled:
        console.print(f"spoiled blank {serial}: {reason} (job {job_id}), recorded in the ledger")
    console.print(
        f"registry: {len(report.accepted)} accepted, {len(report.rejected)} rejected, "
        f"{report.duplicates_dropped} duplicate deliveries dropped by sequence number"
    )
    for problem in report.problems:
        console.print(f"[red]problem: {problem}[/red]")
