"""`printd doctor` against real parts: a station directory with a real SQLite file,
a real Mosquitto (running, stopped, TLS), simulated printers on real ptys and a
real daemon process. Each bad case fails the right check and says what to do."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from brokers import MosquittoBroker
from stations import SimPrinter, daemon, printd_cli, start_simulator, wait_for, write_config

from printd import doctor
from printd.config import load_settings
from printd.serials import parse_serials
from printd.signing import Signer, public_b64
from printd.store import Store

BLANKS = "AB-100001..AB-100020"


def run_doctor(config: Path, *args: str) -> tuple[int, dict[str, dict[str, str]]]:
    done = printd_cli(config, "doctor", "--json", "--timeout", "3", *args)
    data = json.loads(done.stdout)
    return done.returncode, {c["check"]: c for c in data["checks"]}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimPrinter]:
    printer = start_simulator(tmp_path, "evolis-1", BLANKS)
    yield printer
    printer.stop()


def registry_keys() -> dict[str, str]:
    key = Signer.generate("registry-2026")
    return {key.key_id: public_b64(key.public_key)}


def station(tmp_path: Path, sims: list[SimPrinter], broker: MosquittoBroker | None) -> Path:
    """A config and a station directory with a received and loaded box of blanks."""
    config = write_config(
        tmp_path,
        sims,
        broker=(broker.host, broker.port) if broker else None,
        registry_keys=registry_keys(),
    )
    with Store.open(tmp_path / "state") as store:
        serials = parse_serials([BLANKS])
        store.ledger.receive("BOX-2026-07", serials, "t")
        store.ledger.load("evolis-1", serials, "t")
    return config


def test_a_healthy_station_passes_every_check(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """Config, keys, directory, disk, database, ledger, broker, printer, clock: all ok, exit 0."""
    config = station(tmp_path, [sim], broker)
    code, checks = run_doctor(config)
    assert code == 0, checks
    assert {c["level"] for c in checks.values()} == {"ok"}, checks
    assert set(checks) >= {
        "config",
        "printer entries",
        "station key",
        "registry keys",
        "state directory",
        "disk",
        "database",
        "ledger chain",
        "ledger balance",
        "jobs",
        "clock",
        "broker",
        "printer evolis-1",
    }
    assert "asked the printer" in checks["printer evolis-1"]["message"]
    assert "received 20" in checks["ledger balance"]["message"]


def test_the_text_output_names_each_check_with_its_level(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """Without --json each check is one line starting ok / warn / fail, then a summary."""
    config = station(tmp_path, [sim], broker)
    done = printd_cli(config, "doctor")
    assert done.returncode == 0, done.stdout
    assert "ok    broker" in done.stdout
    assert "fail" not in done.stdout.split("\n\n")[0]
    assert "0 failed" in done.stdout


def test_a_stopped_broker_fails_the_broker_check(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """With the broker down, only the broker check fails, naming the address and what to do."""
    config = station(tmp_path, [sim], broker)
    broker.stop()
    code, checks = run_doctor(config)
    assert code == 1
    assert checks["broker"]["level"] == "fail"
    assert f"{broker.host}:{broker.port}" in checks["broker"]["message"]
    assert "mqtt.host" in checks["broker"]["fix"]
    assert [n for n, c in checks.items() if c["level"] != "ok"] == ["broker"]


async def test_tls_broker_needs_the_client_certificate(
    tmp_path: Path, tls_broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the CA and client certificate the TLS connect succeeds; without the
    certificate the broker refuses and the fix points at [mqtt.tls]."""
    assert tls_broker.tls is not None
    config = write_config(
        tmp_path, [], broker=(tls_broker.host, tls_broker.port), registry_keys=registry_keys()
    )
    monkeypatch.setenv("PRINTD_MQTT__TLS__ENABLED", "true")
    monkeypatch.setenv("PRINTD_MQTT__TLS__CA_FILE", str(tls_broker.tls.ca_file))
    monkeypatch.setenv("PRINTD_MQTT__TLS__CERT_FILE", str(tls_broker.tls.client_cert_file))
    monkeypatch.setenv("PRINTD_MQTT__TLS__KEY_FILE", str(tls_broker.tls.client_key_file))
    result = await doctor.check_broker(load_settings(config), timeout_s=3)
    assert result.level is doctor.Level.OK, result
    assert "TLS" in result.message

    monkeypatch.delenv("PRINTD_MQTT__TLS__CERT_FILE")
    monkeypatch.delenv("PRINTD_MQTT__TLS__KEY_FILE")
    result = await doctor.check_broker(load_settings(config), timeout_s=3)
    assert result.level is doctor.Level.FAIL, result
    assert "[mqtt.tls]" in result.fix or "mqtt.host" in result.fix

    monkeypatch.setenv("PRINTD_MQTT__TLS__CA_FILE", str(tmp_path / "nowhere.pem"))
    result = await doctor.check_broker(load_settings(config), timeout_s=3)
    assert result.level is doctor.Level.FAIL
    assert "ca_file" in result.message
    assert "does not exist" in result.message


def test_a_missing_station_key_fails_with_how_to_create_it(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """No key file: the station key check fails and gives the `printd keys generate` command."""
    config = station(tmp_path, [sim], broker)
    (tmp_path / "station.key").unlink()
    code, checks = run_doctor(config)
    assert code == 1
    assert checks["station key"]["level"] == "fail"
    assert "printd keys generate --out" in checks["station key"]["fix"]
    assert checks["broker"]["level"] == "ok"


def test_a_bad_registry_key_fails(tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter) -> None:
    """A registry key that is not base64 Ed25519 fails the registry keys check, naming its id."""
    config = station(tmp_path, [sim], broker)
    text = config.read_text()
    config.write_text(
        text.replace("[signing.registry_keys]", '[signing.registry_keys]\n"old" = "xyz"')
    )
    code, checks = run_doctor(config)
    assert code == 1
    assert checks["registry keys"]["level"] == "fail"
    assert checks["registry keys"]["message"].startswith("old:")


def test_an_altered_ledger_row_breaks_the_chain_check(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """A ledger event edited behind printd's back fails the chain check, naming the event."""
    config = station(tmp_path, [sim], broker)
    conn = sqlite3.connect(tmp_path / "state" / "printd.db", isolation_level=None)
    conn.execute("DROP TRIGGER ledger_no_update")
    conn.execute("UPDATE ledger SET serial = 'AB-999999' WHERE seq = 3")
    conn.close()
    code, checks = run_doctor(config)
    assert code == 1
    chain = checks["ledger chain"]
    assert chain["level"] == "fail"
    assert "event 3 was altered" in chain["message"]
    assert "printd blanks verify" in chain["fix"]
    assert checks["database"]["level"] == "ok"


def test_an_unbalanced_ledger_fails_the_balance_check(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """A batch whose blanks do not add up fails the balance check, with the count to do."""
    config = station(tmp_path, [sim], broker)
    conn = sqlite3.connect(tmp_path / "state" / "printd.db", isolation_level=None)
    conn.execute("UPDATE batches SET count = count + 1")
    conn.close()
    code, checks = run_doctor(config)
    assert code == 1
    assert checks["ledger balance"]["level"] == "fail"
    assert "received 21 but 20 accounted for" in checks["ledger balance"]["message"]
    assert "printd blanks count" in checks["ledger balance"]["fix"]


def test_a_damaged_database_fails_and_skips_the_ledger_checks(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """Garbage in the database file fails the database check with how to restore it."""
    config = station(tmp_path, [sim], broker)
    path = tmp_path / "state" / "printd.db"
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    data[4096:8192] = b"\xa5" * 4096
    path.write_bytes(bytes(data))
    code, checks = run_doctor(config)
    assert code == 1
    assert checks["database"]["level"] == "fail"
    assert "backup" in checks["database"]["fix"]
    assert "ledger chain" not in checks


def test_a_printer_with_its_cover_open_warns_with_what_to_do(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """A printer reporting its cover open: a warning that says to close it and resume."""
    config = station(tmp_path, [sim], broker)
    sim.control.inject("cover-open")
    code, checks = run_doctor(config)
    printer = checks["printer evolis-1"]
    assert printer["level"] == "warn", printer
    assert printer["message"].startswith("cover_open")
    assert "close the printer's cover" in printer["fix"]
    assert "printd printers resume evolis-1" in printer["fix"]
    assert code == 0
    strict_code, _ = run_doctor(config, "--strict")
    assert strict_code == 1


def test_an_unreachable_printer_fails(tmp_path: Path, broker: MosquittoBroker) -> None:
    """A printer whose device does not exist fails with what to check."""
    gone = SimPrinter("evolis-1", None, "/dev/pts/99999", None)  # type: ignore[arg-type]
    config = station(tmp_path, [gone], broker)
    code, checks = run_doctor(config)
    assert code == 1
    printer = checks["printer evolis-1"]
    assert printer["level"] == "fail"
    assert "/dev/pts/99999" in printer["message"]
    assert "cable" in printer["fix"]


def test_while_the_daemon_runs_doctor_reports_its_view_of_the_printers(
    tmp_path: Path, broker: MosquittoBroker, sim: SimPrinter
) -> None:
    """The daemon holds the state directory: doctor leaves the printer alone and shows
    the state the daemon wrote."""
    config = station(tmp_path, [sim], broker)
    with daemon(config, tmp_path / "daemon.log") as process:

        def reported() -> bool:
            with Store.open(tmp_path / "state") as store:
                row = store.conn.execute(
                    "SELECT state FROM printers WHERE name = 'evolis-1'"
                ).fetchone()
            return row is not None and row[0] == "idle"

        wait_for(reported, 30, "the daemon to report evolis-1")
        code, checks = run_doctor(config)
        assert process.poll() is None
    printer = checks["printer evolis-1"]
    assert printer["level"] == "ok", printer
    assert "reported by the running daemon" in printer["message"]
    assert code == 0, checks


def _job_payload(issued_at: datetime) -> bytes:
    return json.dumps({"issued_at": issued_at.isoformat()}).encode()


def test_a_clock_behind_the_registry_fails_the_clock_check(tmp_path: Path) -> None:
    """A job issued eleven minutes after it arrived by the station's clock: the clock is behind."""
    with Store.open(tmp_path / "state") as store, store.transaction() as conn:
        store.jobs.accept(
            conn,
            job_id="job-1",
            priority="normal",
            not_after=datetime.now(UTC) + timedelta(days=1),
            payload=_job_payload(datetime.now(UTC) + timedelta(minutes=11)),
            content_hash="h",
            key_id="k",
        )
    conn = doctor.open_read_only(tmp_path / "state")
    assert conn is not None
    result = doctor.check_clock(conn)
    assert result.level is doctor.Level.FAIL, result
    assert "behind the registry" in result.message
    assert "timedatectl" in result.fix
    conn.close()


def test_an_in_step_clock_passes_and_expired_rejections_warn(tmp_path: Path) -> None:
    """A job issued before it arrived is fine; fresh jobs rejected as expired raise a warning."""
    with Store.open(tmp_path / "state") as store, store.transaction() as conn:
        store.jobs.accept(
            conn,
            job_id="job-1",
            priority="normal",
            not_after=datetime.now(UTC) + timedelta(days=1),
            payload=_job_payload(datetime.now(UTC) - timedelta(seconds=5)),
            content_hash="h",
            key_id="k",
        )
    conn = doctor.open_read_only(tmp_path / "state")
    assert conn is not None
    assert doctor.check_clock(conn).level is doctor.Level.OK
    conn.close()
    with Store.open(tmp_path / "state") as store, store.transaction() as conn:
        store.jobs.reject(conn, job_id="job-2", content_hash="h2", reason="expired", message="x")
    conn = doctor.open_read_only(tmp_path / "state")
    assert conn is not None
    result = doctor.check_clock(conn)
    assert result.level is doctor.Level.WARN
    assert "rejected as expired" in result.message
    conn.close()


def test_free_disk_below_the_thresholds_warns_then_fails(tmp_path: Path) -> None:
    """Free space is measured on the state directory's file system against the thresholds."""
    settings = load_settings(None, station={"state_dir": tmp_path / "state"})
    huge = 10**18
    assert doctor.check_disk(settings).level is doctor.Level.OK
    assert doctor.check_disk(settings, warn_below=huge, fail_below=1).level is doctor.Level.WARN
    result = doctor.check_disk(settings, warn_below=huge, fail_below=huge)
    assert result.level is doctor.Level.FAIL
    assert "free space" in result.fix


def test_a_fresh_station_only_warns_and_strict_makes_warnings_fail(tmp_path: Path) -> None:
    """Before the first start: no state directory, no database: warnings, exit 0; --strict: 1."""
    config = write_config(tmp_path, [])
    code, checks = run_doctor(config)
    assert code == 0, checks
    assert checks["state directory"]["level"] == "warn"
    assert checks["database"]["level"] == "warn"
    assert checks["broker"]["level"] == "ok"  # MQTT is off in this config
    assert not (tmp_path / "state").exists(), "doctor must not create anything"
    code, _ = run_doctor(config, "--strict")
    assert code == 1


def test_a_config_that_does_not_load_fails_alone(tmp_path: Path) -> None:
    """A broken config: one failed check quoting the problem, exit 1."""
    config = tmp_path / "printd.toml"
    config.write_text("[station]\nmax_queue = 0\n")
    code, checks = run_doctor(config)
    assert code == 1
    assert list(checks) == ["config"]
    assert "station.max_queue" in checks["config"]["message"]


def test_jobs_waiting_on_a_technician_warn(tmp_path: Path) -> None:
    """A job needing inspection is listed with the resolve command."""
    with Store.open(tmp_path / "state") as store, store.transaction() as conn:
        store.jobs.accept(
            conn,
            job_id="job-1",
            priority="normal",
            not_after=datetime.now(UTC) + timedelta(days=1),
            payload=b"{}",
            content_hash="h",
            key_id="k",
        )
        conn.execute("UPDATE jobs SET state = 'needs_inspection'")
    conn = doctor.open_read_only(tmp_path / "state")
    assert conn is not None
    result = doctor.check_jobs(conn)
    conn.close()
    assert result.level is doctor.Level.WARN
    assert "1 needs inspection" in result.message
    assert "printd jobs resolve" in result.fix
