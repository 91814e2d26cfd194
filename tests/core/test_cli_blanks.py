"""The technician's blank commands: clear refusals, trusted exit codes, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from printd.cli import cli
from printd.store.db import DB_NAME

from .conftest import snapshot


@pytest.fixture
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("PRINTD_STATION__STATE_DIR", str(state))
    monkeypatch.setenv("PRINTD_STATION__OPERATOR", "Sri Wahyuni")
    monkeypatch.delenv("PRINTD_CONFIG", raising=False)
    runner = CliRunner()
    for args in (
        ["blanks", "receive", "BOX-1", "AB-100001..AB-100100", "--note", "tranche 2"],
        ["blanks", "load", "evolis-1", "AB-100001..AB-100020"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return state


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_everyday_flow_and_json_reads(station: Path) -> None:
    """Receive, load, spoil, void, then reconcile and history read back as JSON."""
    assert run("blanks", "spoil", "AB-100021", "--reason", "damaged", "--by", "Budi")[0] == 0
    assert run("blanks", "void", "AB-100090..AB-100100")[0] == 0
    code, out = run("blanks", "reconcile", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["balanced"] is True
    assert data["total"] == {
        "batch_id": "total",
        "received": 100,
        "issued": 0,
        "spoiled": 1,
        "voided": 11,
        "missing": 0,
        "in_stock": 68,
        "loaded": 20,
        "balanced": True,
    }
    code, out = run("blanks", "history", "AB-100021", "--json")
    events = json.loads(out)["events"]
    assert [e["kind"] for e in events] == ["receive", "spoil"]
    assert events[0]["by"] == "Sri Wahyuni"
    assert events[1]["by"] == "Budi"
    code, out = run("blanks", "verify", "--json")
    assert json.loads(out) == {"ok": True, "events": 132, "first_bad_event": None, "problem": None}


def test_count_with_differences_exits_one_and_records_them(station: Path) -> None:
    """A count that does not match is recorded and signalled to scripts."""
    code, out = run("blanks", "count", "--feeder", "evolis-1=AB-100001..AB-100019", "--json")
    assert code == 1
    assert json.loads(out)["missing"] == ["AB-100020"]
    code, out = run("blanks", "history", "AB-100020", "--json")
    assert json.loads(out)["state"] == "missing"


def test_export_csv_file(station: Path, tmp_path: Path) -> None:
    """The auditors' export writes every event."""
    out = tmp_path / "ledger.csv"
    code, _ = run("blanks", "export", "--out", str(out))
    assert code == 0
    assert len(out.read_text().strip().splitlines()) == 1 + 120


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["blanks", "receive", "BOX-2", "AB-100050..AB-100150"], 5, "already in the ledger"),
        (["blanks", "receive", "BOX-1", "ZZ-1"], 5, "already received"),
        (["blanks", "receive", "BOX-3", "AB-5..AB-1"], 5, "comes after"),
        (["blanks", "receive", "BOX-3"], 5, "no serials given"),
        (["blanks", "load", "evolis-1", "AB-999999"], 5, "never received"),
        (["blanks", "load", "evolis-1", "AB-100001"], 5, "it is loaded"),
        (["blanks", "unload", "evolis-2", "AB-100001"], 5, "not evolis-2"),
        (["blanks", "spoil", "AB-100030", "--reason", "other"], 5, "needs a description"),
        (["blanks", "spoil", "AB-100030", "--reason", "lost"], 2, "Invalid value for '--reason'"),
        (["blanks", "spoil", "AB-100030"], 2, "Missing option '--reason'"),
        (["blanks", "void", "AB-100001"], 5, "not in_stock"),
        (["blanks", "count"], 5, "nothing counted"),
        (["blanks", "count", "--feeder", "evolis-1"], 5, "expected PRINTER=SERIALS"),
        (["blanks", "count", "--shelf", "AB-1..AB-0"], 5, "comes after"),
        (["blanks", "history", "NOPE-1"], 5, "never received"),
        (["blanks", "receive", "BOX-4", "--from-file", "/nonexistent/file"], 5, "cannot read"),
        (["blanks", "frobnicate"], 2, "No such command"),
        (["jobs", "cancel", "no-such-job"], 5, "no job no-such-job"),
        (["jobs", "show", "no-such-job"], 5, "no job no-such-job"),
        (["jobs", "list", "--state", "lost"], 2, "Invalid value for '--state'"),
    ],
)
def test_bad_input_is_refused_clearly_and_changes_nothing(
    station: Path, args: list[str], code: int, message: str
) -> None:
    """Every refusal: one clear line, a non-zero exit, the database row-for-row unchanged."""
    before = snapshot(station / DB_NAME)
    exit_code, output = run(*args)
    assert exit_code == code, output
    assert message in output
    assert snapshot(station / DB_NAME) == before


def test_reading_commands_do_not_create_a_station(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A mistyped state directory is reported, not silently created."""
    monkeypatch.setenv("PRINTD_STATION__STATE_DIR", str(tmp_path / "typo"))
    code, out = run("blanks", "reconcile")
    assert code == 4
    assert "no printd database" in out
    assert not (tmp_path / "typo" / DB_NAME).exists()


def test_corrupt_config_stops_every_command(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A bad config file stops a command before it touches anything."""
    bad = tmp_path / "printd.toml"
    bad.write_text("[station]\nmax_attempts = 0\n")
    monkeypatch.setenv("PRINTD_CONFIG", str(bad))
    code, out = run("blanks", "reconcile")
    assert code == 3
    assert "station.max_attempts = 0" in out
