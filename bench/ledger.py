"""Ledger figures: receive a 10,000-serial batch; reconcile and verify at 1,000,000.

Run: .venv/bin/python bench/ledger.py   (targets: receive <= 1 s,
reconcile <= 1 s, verify <= 5 s on a station PC)
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from printd.serials import parse_serials
from printd.store import Store

BOXES = 100  # 100 boxes of 10,000 = 1,000,000 blanks and ledger events


def timed(label: str, func, target: float) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    func()
    took = time.perf_counter() - start
    verdict = "ok" if took <= target else "OVER TARGET"
    print(f"{label:<48} {took * 1000:9.1f} ms   (target {target * 1000:.0f} ms: {verdict})")
    return took


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
        state = Path(tmp)
        store = Store.open(state)
        boxes = [parse_serials([f"B{n:03d}-000001..B{n:03d}-010000"]) for n in range(BOXES)]
        timed(
            "receive one batch of 10,000 serials",
            lambda: store.ledger.receive("BOX-000", boxes[0], "bench"),
            1.0,
        )
        start = time.perf_counter()
        for n in range(1, BOXES):
            store.ledger.receive(f"BOX-{n:03d}", boxes[n], "bench")
        fill = time.perf_counter() - start
        print(f"{'(fill to 1,000,000 blanks)':<48} {fill:9.1f} s")
        store.ledger.load("p1", boxes[1][:500], "bench")
        timed("reconcile over 1,000,000 blanks", store.ledger.reconcile, 1.0)
        result = store.ledger.verify()
        assert result.ok, result.problem
        timed(f"verify chain of {result.events:,} events", store.ledger.verify, 5.0)
        store.close()
        # A technician's command opens the database cold, in a new process.
        cold = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time,sys; t=time.perf_counter(); from pathlib import Path;"
                "from printd.store import Store; s=Store.open_existing(Path(sys.argv[1]));"
                "r=s.ledger.reconcile(); print(time.perf_counter()-t)",
                str(state),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        print(
            f"{'cold CLI: open + reconcile (new process)':<48} {float(cold.stdout) * 1000:9.1f} ms"
        )
        size = sum(p.stat().st_size for p in state.iterdir()) / 1e6
        print(f"{'database size at 1,000,000 blanks':<48} {size:9.1f} MB")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'peak RSS of this benchmark':<48} {peak:9.1f} MB")


if __name__ == "__main__":
    main()
