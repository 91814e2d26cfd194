"""Start a simulated printer as its own process and talk to it.

Used by `printd demo`, the tests and the benchmarks: the simulator lives in
a separate process so it survives the daemon being killed, exactly like a
real printer, and its control socket answers for its bins and faults.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.control import ControlClient

START_TIMEOUT_S = 30.0


class SimulatorStartError(RuntimeError):
    """The simulator process did not come up."""


@dataclass
class SimulatorProcess:
    name: str
    process: subprocess.Popen[str]
    pty: str
    control: ControlClient

    @classmethod
    def start(
        cls,
        workdir: Path,
        name: str,
        blanks: str,
        *,
        family: str = "evolis",
        speed: float = 500.0,
        ribbon: int = 100_000,
        extra: tuple[str, ...] = (),
    ) -> SimulatorProcess:
        address = f"unix:{workdir / f'{name}.sock'}"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "printd",
                "sim",
                family,
                "--speed",
                str(speed),
                "--blanks",
                blanks,
                "--control",
                address,
                "--ribbon",
                str(ribbon),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if process.stdout is None:  # pragma: no cover - PIPE always gives a stream
            raise SimulatorStartError("no stdout from the simulator")
        pty = process.stdout.readline().strip().removeprefix("pty: ")
        process.stdout.readline()  # "control: ADDRESS"
        if not pty.startswith("/dev/"):
            process.kill()
            raise SimulatorStartError(f"simulator {name} did not start (said {pty!r})")
        return cls(name, process, pty, ControlClient(address))

    def state(self) -> dict[str, Any]:
        return self.control.state()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
