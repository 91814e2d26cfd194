"""Every printd command in docs/*.md runs, in document order, against a real station.

A ```console block holds commands (lines starting ``$ ``) and sample output
(not checked). Each command must exit 0, or the code its trailing comment
states (``# exit 1``). A block preceded by ``<!-- docs-test: NAME -->`` first
runs the hook NAME, which sets up what the text describes (a jammed printer,
a card left in a printer by a power cut, a failed job). ``/etc/printd/`` in a
command is the test station's configuration directory. ```sh blocks are for
root-only system commands that cannot run here; the repository files they
name must exist (the unit itself is checked by tests/ops/test_systemd.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from brokers import MosquittoBroker
from stations import SimPrinter, add_jobs, start_simulator

from printd.pipeline import jobflow
from printd.signing import Signer, public_b64
from printd.store import Store
from printd.store.clock import stamp

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
HOOK = re.compile(r"<!--\s*docs-test:\s*([\w-]+)\s*-->")
EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
REPO_PATH = re.compile(r"(?<![\w/])((?:systemd|docs)/[\w.-]+(?:/[\w.-]+)*)")
PRINTERS = {"evolis-1": "AB-100001..AB-100200", "evolis-2": "AB-100201..AB-100400"}


@dataclass
class Block:
    lang: str
    lines: list[str]
    hook: str | None = None


@dataclass
class Command:
    argv: list[str]
    expect: int
    hook: str | None = None
    line: str = ""


def parse_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    hook: str | None = None
    current: Block | None = None
    for line in text.splitlines():
        if current is not None:
            if line.startswith("```"):
                blocks.append(current)
                current = None
            else:
                current.lines.append(line)
            continue
        if match := HOOK.search(line):
            hook = match.group(1)
        elif line.startswith("```"):
            current = Block(line[3:].strip(), [], hook)
            hook = None
        elif line.strip():
            hook = None  # prose between the comment and the block detaches the hook
    return blocks


def console_commands(text: str) -> list[Command]:
    commands = []
    for block in parse_blocks(text):
        if block.lang != "console":
            continue
        hook = block.hook
        for line in block.lines:
            if not line.startswith("$ "):
                continue
            command = line[2:]
            expect = 0
            if match := EXIT.search(command):
                expect = int(match.group(1))
                command = command[: match.start()]
            commands.append(Command(shlex.split(command), expect, hook, line))
            hook = None
    return commands


def test_the_parser_reads_hooks_commands_and_exit_codes() -> None:
    """Hooks attach to the next block's first command; '# exit N' sets the expected code."""
    text = (
        "text\n<!-- docs-test: jam -->\n```console\n$ printd status\nsample\n"
        "$ printd blanks verify  # exit 1\n```\n```sh\nsystemctl start printd\n```\n"
    )
    commands = console_commands(text)
    assert [c.argv for c in commands] == [["printd", "status"], ["printd", "blanks", "verify"]]
    assert [c.hook for c in commands] == ["jam", None]
    assert [c.expect for c in commands] == [0, 1]


@dataclass
class DocStation:
    workdir: Path
    config: Path
    sims: list[SimPrinter]
    hooks: dict[str, Callable[[], None]] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    def run(self, command: Command) -> subprocess.CompletedProcess[str]:
        etc = f"{self.workdir}/etc/printd/"
        args = [a.replace("/etc/printd/", etc) for a in command.argv[1:]]
        return subprocess.run(
            [sys.executable, "-m", "printd", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.workdir,
            env={**os.environ, "PRINTD_CONFIG": str(self.config), "COLUMNS": "200"},
            timeout=60,
        )


@pytest.fixture
def doc_station(tmp_path: Path, broker: MosquittoBroker) -> Iterator[DocStation]:
    """Two simulated Evolis printers on ptys with their feeders filled, a real
    broker, and a config in <dir>/etc/printd/ (no station key yet)."""
    sims = [start_simulator(tmp_path, name, blanks) for name, blanks in PRINTERS.items()]
    etc = tmp_path / "etc" / "printd"
    etc.mkdir(parents=True)
    registry = Signer.generate("registry-2026")
    lines = [
        "[station]",
        'id = "ngawi-01"',
        f'state_dir = "{tmp_path / "state"}"',
        'operator = "Sri Wahyuni"',
        "[mqtt]",
        f'host = "{broker.host}"',
        f"port = {broker.port}",
        "[signing]",
        f'station_key_file = "{etc / "station.key"}"',
        "[signing.registry_keys]",
        f'"registry-2026" = "{public_b64(registry.public_key)}"',
    ]
    for sim in sims:
        lines += ["[[printers]]", f'name = "{sim.name}"', f'url = "serial://{sim.pty}"']
        lines += ["timeout_s = 3"]
    config = etc / "printd.toml"
    config.write_text("\n".join(lines) + "\n")
    try:
        yield DocStation(tmp_path, config, sims)
    finally:
        for sim in sims:
            sim.stop()


def install_operations_hooks(station: DocStation) -> None:
    """The situations operations.md describes, made the way printd meets them."""

    def jam() -> None:
        # What the daemon's worker writes when its printer reports a jam.
        with Store.open(station.state_dir) as store, store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO printers (name, mode, state, detail, ribbon_left, "
                "updated_at) VALUES ('evolis-1', 'active', 'card_jam', "
                "'card jammed inside', 243, ?)",
                (stamp(),),
            )

    def power_cut() -> None:
        # A card was in evolis-1 when the power went; start-up recovery finds it.
        with Store.open(station.state_dir) as store:
            add_jobs(store, 1, prefix="KTP-3521")
            assert jobflow.claim_next(store, "evolis-1") is not None
            assert jobflow.recover_after_crash(store) == ["KTP-3521-00000"]

    def failed_job() -> None:
        # The only attempt allowed spoiled its blank on evolis-2.
        with Store.open(station.state_dir) as store:
            add_jobs(store, 1, prefix="KTP-3522")
            claim = jobflow.claim_next(store, "evolis-2")
            assert claim is not None
            jobflow.record_spoiled(store, claim, "print_error", "smeared colour panel", 1)

    station.hooks.update({"jam": jam, "power-cut": power_cut, "failed-job": failed_job})


def run_document(station: DocStation, name: str) -> int:
    commands = console_commands((DOCS / name).read_text())
    assert commands, f"{name} has no console commands"
    for command in commands:
        assert command.argv[0] == "printd", f"{name}: not a printd command: {command.line}"
        if command.hook is not None:
            assert command.hook in station.hooks, f"{name}: unknown docs-test hook {command.hook}"
            station.hooks[command.hook]()
        done = station.run(command)
        assert done.returncode == command.expect, (
            f"{name}: `{command.line}` exited {done.returncode}, expected {command.expect}\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return len(commands)


def test_install_md_commands_run(doc_station: DocStation) -> None:
    """install.md: key generation, config check, config show and doctor all succeed."""
    assert run_document(doc_station, "install.md") >= 5
    assert (doc_station.workdir / "etc" / "printd" / "station.key").exists()


def test_operations_md_commands_run(doc_station: DocStation) -> None:
    """operations.md: a day at the station, from receiving a box to the audit export."""
    Signer.generate().write(doc_station.workdir / "etc" / "printd" / "station.key")
    install_operations_hooks(doc_station)
    assert run_document(doc_station, "operations.md") >= 25
    with Store.open(doc_station.state_dir) as store:
        assert store.ledger.reconcile().balanced
        assert store.ledger.verify().ok
    assert (doc_station.workdir / "ledger-2026-07.csv").stat().st_size > 0
    assert (doc_station.workdir / "preview-KTP-3522" / "front.png").exists()


@pytest.mark.parametrize("name", sorted(p.name for p in DOCS.glob("*.md")))
def test_files_named_in_sh_blocks_exist(name: str) -> None:
    """Every repository file an sh block copies or names (systemd/..., docs/...) exists."""
    for block in parse_blocks((DOCS / name).read_text()):
        if block.lang != "sh":
            continue
        for line in block.lines:
            for path in REPO_PATH.findall(line):
                assert (ROOT / path).exists(), f"{name}: `{line}` names {path}, not in the repo"


@pytest.mark.parametrize("name", sorted(p.name for p in DOCS.glob("*.md")))
def test_console_blocks_hold_only_printd_commands(name: str) -> None:
    """System commands (apt-get, systemctl, ...) belong in sh blocks, not console ones."""
    for command in console_commands((DOCS / name).read_text()):
        assert command.argv[0] == "printd", f"{name}: {command.line}"
