"""Workers of a daemon killed with SIGKILL leave with it: the check pool (forkserver)
and the card-encoding workers (spawned)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import alive

CHILD = """
import asyncio, multiprocessing as mp, time
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor
from drivers.evolis.driver import prepare_card
from printd.pipeline.artwork import ArtworkRenderer
from printd.pipeline.card_workers import CardWorkers
from printd.worker_exit import exit_with_parent

async def card_workers() -> CardWorkers:
    # A warm-up reads no job, so the database need not exist.
    cards = CardWorkers(2, ArtworkRenderer(None), Path("no-such.db"), "warning")
    await cards.warm(prepare_card)
    return cards

if __name__ == "__main__":
    checks = ProcessPoolExecutor(
        2, mp_context=mp.get_context("forkserver"), initializer=exit_with_parent
    )
    for future in [checks.submit(time.sleep, 0.3) for _ in range(4)]:
        future.result()
    loop = asyncio.new_event_loop()
    cards = loop.run_until_complete(card_workers())
    print("ready", flush=True)
    time.sleep(600)
"""


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_workers_exit_when_the_daemon_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "daemon_with_pools.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers: set[int] = set()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        workers = _descendants(proc.pid)
        # two fork-server workers, two spawned ones, the fork server, resource trackers
        assert len(workers) >= 5
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.1)
        assert [pid for pid in workers if alive(pid)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers | _descendants(proc.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
