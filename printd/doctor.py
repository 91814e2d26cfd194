"""`printd doctor`: is this station fit to run, and if not, what to do about it.

Each check is a small function returning :class:`CheckResult` (ok / warn /
fail, what was found, what to do). :func:`run_checks` runs them all in order;
a check that needs something an earlier one could not provide (the config,
the database) says so instead of failing on its own.

Doctor changes nothing. It reads the database read-only, connects to the
broker under its own client id with a clean session (never the station's
id: that would take over the daemon's session and could discard its queued
jobs) and talks to a printer only when no daemon holds the state directory.

Clock skew: MQTT carries no time and Mosquitto publishes none, so the clock
compared is the *registry's*: every job carries ``issued_at``, stamped by the
registry, and the station records ``received_at`` by its own clock. A job
cannot arrive before it was issued, so ``issued_at - received_at`` > 0 means
the station's clock is behind the registry's by at least that much (its
expiry checks then accept jobs the registry considers expired, and refuse
nothing). A clock running ahead shows up as fresh jobs rejected ``expired``;
doctor counts those too.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import json
import os
import shutil
import sqlite3
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from printd.config import ConfigError, Settings, load_settings
from printd.store.db import DB_NAME, LOCK_NAME
from printd.store.ledger import Ledger
from printd.store.schema import APPLICATION_ID, MIGRATIONS

DISK_WARN_BYTES = 1_000_000_000
DISK_FAIL_BYTES = 100_000_000
CLOCK_WARN_S = 60.0
CLOCK_FAIL_S = 600.0
# Jobs rejected as expired within this window hint at a clock running ahead.
EXPIRED_LOOKBACK = timedelta(days=1)
DEFAULT_TIMEOUT_S = 5.0


class Level(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    level: Level
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "level": self.level.value,
            "message": self.message,
            "fix": self.fix,
        }


def ok(check: str, message: str) -> CheckResult:
    return CheckResult(check, Level.OK, message)


def warn(check: str, message: str, fix: str) -> CheckResult:
    return CheckResult(check, Level.WARN, message, fix)


def failed(check: str, message: str, fix: str) -> CheckResult:
    return CheckResult(check, Level.FAIL, message, fix)


# ------------------------------------------------------------------ config


def check_config(path: Path | None) -> tuple[CheckResult, Settings | None]:
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return (
            failed(
                "config",
                "; ".join(exc.lines),
                "fix the file (docs/printd.example.toml explains every key), then "
                "`printd config check FILE`",
            ),
            None,
        )
    enabled = sum(p.enabled for p in settings.printers)
    return (
        ok(
            "config",
            f"station {settings.station.id}: {len(settings.printers)} printer(s), "
            f"{enabled} enabled",
        ),
        settings,
    )


def check_printer_entries(settings: Settings) -> CheckResult:
    """Each printer's URL parses and its driver is installed."""
    from drivers.registry import UnknownDriver, driver_class
    from drivers.url import PrinterUrlError, parse_printer_url

    if not settings.printers:
        return warn(
            "printer entries",
            "no printers configured: nothing will print",
            "add a [[printers]] table per printer (name, driver, url)",
        )
    problems = []
    for printer in settings.printers:
        try:
            parse_printer_url(printer.url)
        except PrinterUrlError as exc:
            problems.append(f"{printer.name}: url {printer.url!r}: {exc}")
        try:
            driver_class(printer.driver)
        except UnknownDriver as exc:
            problems.append(f"{printer.name}: {exc}")
    if problems:
        return failed(
            "printer entries",
            "; ".join(problems),
            "correct the [[printers]] entries (url: serial:///dev/ttyUSB0, usb://VID:PID, "
            "sim://NAME; driver: an installed one)",
        )
    return ok("printer entries", ", ".join(f"{p.name} ({p.driver})" for p in settings.printers))


# ------------------------------------------------------------------ keys


def check_station_key(settings: Settings) -> CheckResult:
    from printd.signing import KeyFileError, Signer

    path = settings.signing.station_key_file
    try:
        signer = Signer.from_file(path)
    except KeyFileError as exc:
        if not settings.mqtt.enabled:
            return ok("station key", f"not needed (MQTT is off): {exc}")
        return failed(
            "station key",
            str(exc),
            f"create it with `printd keys generate --out {path}` (as root, then "
            f"`chown root:printd {path}` and `chmod 0640 {path}`) and register its public key "
            "with the registry",
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o007:
        return warn(
            "station key",
            f"{path} (key id {signer.key_id}) is readable by every user (mode {mode:04o})",
            f"chmod 0640 {path}",
        )
    return ok("station key", f"{path}: key id {signer.key_id}")


def check_registry_keys(settings: Settings) -> CheckResult:
    from printd.signing import KeyFileError, SigningError, Verifier

    keys = settings.signing.registry_keys
    if not keys:
        if not settings.mqtt.enabled:
            return ok("registry keys", "none (MQTT is off)")
        return failed(
            "registry keys",
            "signing.registry_keys is empty: every job would be rejected",
            'add the registry\'s public key under [signing.registry_keys] as "KEY-ID" = "BASE64"',
        )
    bad = []
    for key_id, text in keys.items():
        try:
            Verifier.from_b64({key_id: text})
        except (KeyFileError, SigningError, ValueError) as exc:
            bad.append(f"{key_id}: {exc}")
    if bad:
        return failed(
            "registry keys",
            "; ".join(bad),
            "copy each key again exactly as the registry publishes it "
            "(raw 32-byte Ed25519, base64)",
        )
    return ok("registry keys", ", ".join(sorted(keys)))


# ------------------------------------------------------------------ state directory


def check_state_dir(settings: Settings) -> CheckResult:
    state_dir = settings.station.state_dir
    if not state_dir.exists():
        return warn(
            "state directory",
            f"{state_dir} does not exist yet",
            "it is created at the first start (systemd: StateDirectory=printd); "
            f"or create it: install -d -o printd -g printd -m 0750 {state_dir}",
        )
    if not state_dir.is_dir():
        return failed(
            "state directory",
            f"{state_dir} is not a directory",
            "set station.state_dir to a directory",
        )
    if not os.access(state_dir, os.W_OK | os.X_OK):
        return failed(
            "state directory",
            f"{state_dir} is not writable by this user",
            f"run doctor as the daemon's user (sudo -u printd printd doctor) or "
            f"chown -R printd:printd {state_dir}",
        )
    return ok("state directory", f"{state_dir} is writable")


def _existing_parent(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_disk(
    settings: Settings,
    *,
    warn_below: int = DISK_WARN_BYTES,
    fail_below: int = DISK_FAIL_BYTES,
) -> CheckResult:
    where = _existing_parent(settings.station.state_dir)
    free = shutil.disk_usage(where).free
    text = f"{free / 1e9:.1f} GB free on the state directory's file system ({where})"
    fix = (
        "free space on that file system (old logs: journalctl --vacuum-size=200M); "
        "a full disk stops the station from accepting jobs"
    )
    if free < fail_below:
        return failed("disk", text + f", below {fail_below / 1e6:.0f} MB", fix)
    if free < warn_below:
        return warn("disk", text + f", below {warn_below / 1e9:.1f} GB", fix)
    return ok("disk", text)


# ------------------------------------------------------------------ database


def open_read_only(state_dir: Path) -> sqlite3.Connection | None:
    """The station database for reading only, or None when there is none yet."""
    path = state_dir / DB_NAME
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10.0)
    conn.row_factory = sqlite3.Row
    return conn


RESTORE_FIX = (
    "stop the daemon (systemctl stop printd), keep a copy of the state directory for the "
    "auditors, restore printd.db from the last backup and call your support"
)


def check_database(conn: sqlite3.Connection | None, state_dir: Path) -> CheckResult:
    if conn is None:
        return warn(
            "database",
            f"no database in {state_dir} yet",
            "it is created at the first start (`systemctl start printd`); if the station "
            "ran before, station.state_dir points to the wrong place",
        )
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        problem = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return failed("database", f"{state_dir / DB_NAME} cannot be read: {exc}", RESTORE_FIX)
    if app_id != APPLICATION_ID:
        return failed(
            "database",
            f"{state_dir / DB_NAME} is not a printd database (application_id {app_id:#x})",
            "check station.state_dir; printd never touches a database that is not its own",
        )
    if problem != "ok":
        return failed("database", f"integrity check failed: {problem}", RESTORE_FIX)
    if version > len(MIGRATIONS):
        return failed(
            "database",
            f"schema version {version} is newer than this printd ({len(MIGRATIONS)})",
            "upgrade printd to the version that last ran on this station",
        )
    return ok("database", f"integrity ok (schema version {version})")


def check_ledger_chain(conn: sqlite3.Connection) -> CheckResult:
    result = Ledger(conn).verify()
    if not result.ok:
        return failed(
            "ledger chain",
            f"the hash chain is broken: {result.problem}",
            "do not change anything; run `printd blanks verify` and "
            "`printd blanks export --out ledger.csv` and give both to the auditors; " + RESTORE_FIX,
        )
    return ok("ledger chain", f"{result.events:,} event(s), chain intact")


def check_ledger_balance(conn: sqlite3.Connection) -> CheckResult:
    rec = Ledger(conn).reconcile()
    if not rec.balanced:
        return failed(
            "ledger balance",
            "; ".join(rec.problems),
            "run `printd blanks reconcile` for the batch figures, count the blanks "
            "(`printd blanks count --shelf ... --feeder PRINTER=...`) and report the difference",
        )
    t = rec.total
    return ok(
        "ledger balance",
        f"received {t.received:,} = issued {t.issued:,} + spoiled {t.spoiled:,} + voided "
        f"{t.voided:,} + missing {t.missing:,} + in stock {t.in_stock:,} + loaded {t.loaded:,}",
    )


def check_jobs(conn: sqlite3.Connection) -> CheckResult:
    """Jobs waiting on a technician."""
    rows = conn.execute(
        "SELECT state, count(*) FROM jobs WHERE state IN ('needs_inspection', 'failed') "
        "GROUP BY state"
    ).fetchall()
    counts = {str(r[0]): int(r[1]) for r in rows}
    if not counts:
        return ok("jobs", "no job waits on a technician")
    parts = [f"{n:,} {state.replace('_', ' ')}" for state, n in sorted(counts.items())]
    fixes = []
    if counts.get("needs_inspection"):
        fixes.append(
            "look in the printers' output and reject bins, then `printd jobs resolve JOB "
            "--printed SERIAL | --spoiled SERIAL | --not-fed` "
            "(list: printd jobs list --state needs_inspection)"
        )
    if counts.get("failed"):
        fixes.append(
            "fix the cause, then `printd jobs retry JOB` (list: printd jobs list --state failed)"
        )
    return warn("jobs", ", ".join(parts), "; ".join(fixes))


def _parse_stamp(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_clock(conn: sqlite3.Connection, now: datetime | None = None) -> CheckResult:
    """The station clock against the registry's, through the newest job still held."""
    now = now or datetime.now(UTC)
    row = conn.execute(
        "SELECT job_id, received_at, p.payload FROM jobs JOIN job_payloads p ON p.id = jobs.id "
        "WHERE state != 'rejected' ORDER BY jobs.id DESC LIMIT 1"
    ).fetchone()
    since = (now - EXPIRED_LOOKBACK).strftime("%Y-%m-%dT%H:%M:%S")
    expired = int(
        conn.execute(
            "SELECT count(*) FROM jobs WHERE state = 'rejected' AND reason = 'expired' "
            "AND received_at >= ?",
            (since,),
        ).fetchone()[0]
    )
    fix = "turn on time synchronisation: timedatectl set-ntp true (and check `timedatectl`)"
    behind = None
    if row is not None:
        try:
            issued = _parse_stamp(str(json.loads(bytes(row["payload"]))["issued_at"]))
        except (ValueError, KeyError, TypeError):
            issued = None
        if issued is not None:
            behind = (issued - _parse_stamp(str(row["received_at"]))).total_seconds()
            # The newest job cannot have been issued after this moment either.
            behind = max(behind, (issued - now).total_seconds())
    if behind is not None and behind >= CLOCK_FAIL_S:
        return failed(
            "clock",
            f"this station's clock is at least {behind:.0f} s behind the registry's "
            f"(job {row['job_id']} was issued after it arrived)",
            fix,
        )
    if behind is not None and behind >= CLOCK_WARN_S:
        return warn(
            "clock",
            f"this station's clock is at least {behind:.0f} s behind the registry's",
            fix,
        )
    if expired:
        return warn(
            "clock",
            f"{expired} job(s) rejected as expired in the last day: the station's clock may "
            "be ahead of the registry's",
            fix + "; ask the registry whether the jobs were really expired",
        )
    if behind is None:
        return ok("clock", "no job to compare with yet (the registry's issued_at is the reference)")
    return ok("clock", "not behind the registry's (newest job's issued_at vs its arrival)")


# ------------------------------------------------------------------ broker


def _tls_context_problem(settings: Settings) -> str | None:
    tls = settings.mqtt.tls
    for name in ("ca_file", "cert_file", "key_file"):
        path: Path | None = getattr(tls, name)
        if path is not None and not path.is_file():
            return f"mqtt.tls.{name} {path} does not exist"
    return None


async def check_broker(settings: Settings, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """A real MQTT connect with the configured address, TLS and credentials."""
    import aiomqtt

    from printd.mqtt.link import tls_parameters

    mqtt = settings.mqtt
    where = f"{mqtt.host}:{mqtt.port}"
    if not mqtt.enabled:
        return ok("broker", "MQTT is off (mqtt.enabled = false): no registry link")
    if mqtt.tls.enabled:
        problem = _tls_context_problem(settings)
        if problem:
            return failed("broker", problem, "put the file there or correct [mqtt.tls]")
    tls_params = tls_parameters(mqtt)
    client = aiomqtt.Client(
        mqtt.host,
        mqtt.port,
        # Never the station's own id: connecting as it would end the daemon's session.
        identifier=f"{settings.client_id}-doctor",
        username=mqtt.username,
        password=mqtt.password.get_secret_value() if mqtt.password else None,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=True,
        tls_params=tls_params,
        tls_insecure=(mqtt.tls.insecure_skip_verify or None) if mqtt.tls.enabled else None,
        timeout=timeout_s,
    )
    scheme = "TLS" if mqtt.tls.enabled else "plain TCP"
    try:
        async with asyncio.timeout(timeout_s + 1):
            async with client:
                pass
    except TimeoutError:
        return failed(
            "broker",
            f"no answer from {where} within {timeout_s:g} s",
            "check mqtt.host/port, the network link and any firewall; jobs wait at the "
            "registry meanwhile, nothing is lost",
        )
    except aiomqtt.MqttError as exc:
        return failed("broker", f"cannot connect to {where} ({scheme}): {exc}", _broker_fix(exc))
    except (OSError, ssl.SSLError) as exc:
        return failed("broker", f"cannot connect to {where} ({scheme}): {exc}", _broker_fix(exc))
    return ok("broker", f"connected to {where} ({scheme})")


def _broker_fix(exc: BaseException) -> str:
    text = str(exc).lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return (
            "check [mqtt.tls]: ca_file must be the CA that signed the broker's certificate, "
            "cert_file/key_file the station's client certificate the broker expects"
        )
    if "not authori" in text or "bad user" in text or "password" in text:
        return "check mqtt.username / mqtt.password (PRINTD_MQTT__PASSWORD) with the registry"
    return (
        "check mqtt.host/port and that the broker runs; the station keeps working offline "
        "and catches up when the link returns"
    )


# ------------------------------------------------------------------ printers

FAULT_FIXES = {
    "cover_open": "close the printer's cover",
    "card_jam": "open the printer, take the jammed card out (record it: printd blanks spoil "
    "SERIAL --reason jam), close it",
    "ribbon_low": "have a new ribbon ready",
    "ribbon_out": "change the ribbon",
    "feeder_empty": "load blanks (printd blanks load PRINTER SERIALS, then put them in)",
    "reject_bin_full": "empty the reject bin (each card there is spoiled: check the ledger)",
    "offline": "check the printer's power and cable, and the url in the config",
    "error": "look at the printer's display; switch it off and on if it stays",
}
GOOD_STATES = {"ready", "busy", "printing", "idle"}
NEEDS_RESUME = {"cover_open", "card_jam", "ribbon_out", "reject_bin_full", "error"}


def _state_result(name: str, state: str, detail: str, source: str) -> CheckResult:
    check = f"printer {name}"
    text = f"{state}{': ' + detail if detail else ''} ({source})"
    if state in GOOD_STATES:
        return ok(check, text)
    if state == "unknown":
        return warn(check, text, "the daemon has not reached it yet; check again in a minute")
    fix = FAULT_FIXES.get(state, "look at the printer")
    resume = f", then `printd printers resume {name}`" if state in NEEDS_RESUME else ""
    if state == "offline":
        return failed(check, text, fix)
    return warn(check, text, fix + resume)


@contextlib.contextmanager
def daemon_absent(state_dir: Path) -> Iterator[bool]:
    """Hold the state directory's lock while printers are probed: True if no daemon runs.

    A daemon starting meanwhile finds the lock taken, exits, and systemd starts it
    again a few seconds later; two programs never talk to one printer at once.
    """
    path = state_dir / LOCK_NAME
    if not path.exists():
        yield True
        return
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def printers_from_daemon(conn: sqlite3.Connection | None, settings: Settings) -> list[CheckResult]:
    """What the running daemon last wrote about each printer."""
    rows = {}
    if conn is not None:
        rows = {
            str(r["name"]): r
            for r in conn.execute("SELECT name, mode, state, detail, updated_at FROM printers")
        }
    results = []
    for printer in settings.printers:
        if not printer.enabled:
            results.append(ok(f"printer {printer.name}", "disabled in the config"))
            continue
        row = rows.get(printer.name)
        if row is None:
            results.append(_state_result(printer.name, "unknown", "", "the daemon runs"))
            continue
        source = f"reported by the running daemon at {row['updated_at']}"
        if row["mode"] != "active":
            source += f", {row['mode']}"
        results.append(_state_result(printer.name, str(row["state"]), str(row["detail"]), source))
    return results


async def probe_printer(name: str, driver: str, url: str, timeout_s: float) -> CheckResult:
    """Open the printer like the daemon does and ask for its status."""
    from drivers.base import DriverError, DriverOptions
    from drivers.registry import open_driver
    from drivers.url import PrinterUrlError

    check = f"printer {name}"
    try:
        async with asyncio.timeout(timeout_s * 2 + 1):
            async with open_driver(name, driver, url, DriverOptions(timeout_s=timeout_s)) as drv:
                status = await drv.status()
                model = drv.capabilities.model
    except TimeoutError:
        return failed(check, f"no answer from {url}", FAULT_FIXES["offline"])
    except (DriverError, PrinterUrlError, OSError) as exc:
        return failed(
            check,
            f"cannot open {url}: {exc}",
            FAULT_FIXES["offline"] + "; for a USB or serial device also the udev rules "
            "and the printd user's groups (docs/install.md)",
        )
    detail = status.message or ""
    if status.ribbon_prints_left is not None:
        detail = f"ribbon {status.ribbon_prints_left} left" + (f"; {detail}" if detail else "")
    detail = f"{model}, {detail}" if detail else model
    states = {status.state.value, *(f.value for f in status.faults)}
    worst = next((s for s in FAULT_FIXES if s in states), status.state.value)
    return _state_result(name, worst, detail, "asked the printer")


async def check_printers(
    settings: Settings, conn: sqlite3.Connection | None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[CheckResult]:
    state_dir = settings.station.state_dir
    with daemon_absent(state_dir) as absent:
        if not absent:
            return printers_from_daemon(conn, settings)
        results: dict[str, CheckResult] = {}
        probes = []
        for printer in settings.printers:
            if not printer.enabled:
                results[printer.name] = ok(f"printer {printer.name}", "disabled in the config")
            else:
                probes.append(printer)
        found = await asyncio.gather(
            *(probe_printer(p.name, p.driver, p.url, timeout_s) for p in probes)
        )
        results.update({p.name: r for p, r in zip(probes, found, strict=True)})
        return [results[p.name] for p in settings.printers]


# ------------------------------------------------------------------ all of it


def run_checks(config_path: Path | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[CheckResult]:
    """Every check, in the order a technician would fix things."""
    config_result, settings = check_config(config_path)
    results = [config_result]
    if settings is None:
        return results
    results += [
        check_printer_entries(settings),
        check_station_key(settings),
        check_registry_keys(settings),
        check_state_dir(settings),
        check_disk(settings),
    ]
    state_dir = settings.station.state_dir
    try:
        conn = open_read_only(state_dir)
    except sqlite3.Error as exc:
        conn = None
        results.append(failed("database", f"cannot open: {exc}", RESTORE_FIX))
    else:
        results.append(check_database(conn, state_dir))
    database_ok = conn is not None and results[-1].level is Level.OK
    try:
        if database_ok and conn is not None:
            results += [
                check_ledger_chain(conn),
                check_ledger_balance(conn),
                check_jobs(conn),
                check_clock(conn),
            ]
        results += asyncio.run(_network_checks(settings, conn if database_ok else None, timeout_s))
    finally:
        if conn is not None:
            conn.close()
    return results


async def _network_checks(
    settings: Settings, conn: sqlite3.Connection | None, timeout_s: float
) -> list[CheckResult]:
    broker, printers = await asyncio.gather(
        check_broker(settings, timeout_s), check_printers(settings, conn, timeout_s)
    )
    return [broker, *printers]


def exit_code(results: list[CheckResult], strict: bool = False) -> int:
    """0: nothing failed (warnings allowed unless strict); 1: something failed."""
    bad = {Level.FAIL, Level.WARN} if strict else {Level.FAIL}
    return 1 if any(r.level in bad for r in results) else 0


def summary(results: list[CheckResult]) -> dict[str, Any]:
    return {level.value: sum(r.level is level for r in results) for level in Level}
