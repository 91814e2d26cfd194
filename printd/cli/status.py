"""`printd status`: what the station is doing now, once or live."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from printd import reports
from printd.cli.common import AppContext, json_option, pass_app, print_json, refusals
from printd.store import Store
from printd.supplies import supply_warnings


def collect_status(store: Store, low_stock_threshold: int = 50) -> dict[str, Any]:
    rec = store.ledger.reconcile()
    printers = [dict(row) for row in store.conn.execute("SELECT * FROM printers ORDER BY name")]
    return {
        "jobs": store.jobs.count_by_state(),
        "queue": store.jobs.queued_by_priority(),
        "blanks": {
            "in_stock": rec.total.in_stock,
            "loaded": rec.total.loaded,
            "issued": rec.total.issued,
            "spoiled": rec.total.spoiled,
            "missing": rec.total.missing,
            "balanced": rec.balanced,
        },
        "feeders": store.ledger.loaded_by_printer(),
        "printers": printers,
        "outbox": store.outbox.depth(),
        "unchecked": store.inbox.count(),
        "events": reports.recent_events(store, 8),
        "warnings": [
            {"code": w.code, "message": w.message, "printer": w.printer}
            for w in supply_warnings(store, low_stock_threshold)
        ],
    }


def render_status(station_id: str, data: dict[str, Any]) -> Group:
    queue = data["queue"]
    jobs = data["jobs"]
    done = jobs.get("printed", 0)
    total = sum(jobs.values()) - jobs.get("rejected", 0)
    head = Text.from_markup(
        f"[bold]station {station_id}[/bold]  queue: [bold]{queue.get('urgent', 0):,}[/bold] "
        f"urgent, {queue.get('normal', 0):,} normal  printed {done:,} of {total:,}  "
        f"outbox: {data['outbox']:,} waiting"
        + (f"  received, being checked: {data['unchecked']:,}" if data["unchecked"] else "")
    )
    printers = Table(title="printers", expand=False)
    for column in ("printer", "mode", "state", "blanks", "ribbon left", "detail"):
        printers.add_column(column)
    for p in data["printers"]:
        printers.add_row(
            p["name"],
            p["mode"],
            p["state"],
            f"{data['feeders'].get(p['name'], 0):,}",
            "-" if p["ribbon_left"] is None else str(p["ribbon_left"]),
            p["detail"] or "",
        )
    b = data["blanks"]
    blanks = Table(title="blanks")
    for column in ("in stock", "loaded", "issued", "spoiled", "missing", "ledger"):
        blanks.add_column(column, justify="right")
    blanks.add_row(
        f"{b['in_stock']:,}",
        f"{b['loaded']:,}",
        f"{b['issued']:,}",
        f"{b['spoiled']:,}",
        f"{b['missing']:,}",
        "[green]balanced[/green]" if b["balanced"] else "[red]NOT balanced[/red]",
    )
    states = Text("jobs: " + ("  ".join(f"{s} {n:,}" for s, n in sorted(jobs.items())) or "none"))
    events = Table(title="last events")
    for column in ("when", "event", "printer", "message"):
        events.add_column(column)
    for e in data["events"]:
        style = {"error": "red", "warning": "yellow"}.get(e["severity"], "")
        events.add_row(e["at"], Text(e["event"], style=style), e["printer"] or "", e["message"])
    warnings = [Text(f"warning: {w['message']}", style="bold yellow") for w in data["warnings"]]
    return Group(head, *warnings, printers, blanks, states, events)


@click.command()
@json_option
@click.option("--watch", is_flag=True, help="Keep the view up to date until Ctrl-C.")
@click.option(
    "--interval", default=1.0, show_default=True, type=click.FloatRange(0.1, 60), help="Seconds."
)
@click.option("--iterations", type=click.IntRange(1), hidden=True)
@pass_app
@refusals
def status(
    app: AppContext, as_json: bool, watch: bool, interval: float, iterations: int | None
) -> None:
    """Printers, supplies, the queue by priority, blanks per printer, the last events."""
    station_id = app.settings.station.id
    threshold = app.settings.station.low_stock_threshold
    with app.store() as store:
        if as_json:
            print_json(collect_status(store, threshold))
            return
        if not watch:
            app.console.print(render_status(station_id, collect_status(store, threshold)))
            return
        shown = 0
        with Live(console=app.console, auto_refresh=False) as live:
            try:
                while iterations is None or shown < iterations:
                    live.update(
                        render_status(station_id, collect_status(store, threshold)), refresh=True
                    )
                    shown += 1
                    if iterations is None or shown < iterations:
                        time.sleep(interval)
            except KeyboardInterrupt:
                pass
