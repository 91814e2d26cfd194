"""`printd status`: what the station is doing now."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from printd.cli.common import AppContext, json_option, pass_app, print_json, refusals
from printd.store import Store


def collect_status(store: Store) -> dict[str, Any]:
    rec = store.ledger.reconcile()
    return {
        "jobs": store.jobs.count_by_state(),
        "queue": store.jobs.queued_by_priority(),
        "blanks": {
            "in_stock": rec.total.in_stock,
            "loaded": rec.total.loaded,
            "issued": rec.total.issued,
            "spoiled": rec.total.spoiled,
            "balanced": rec.balanced,
        },
        "feeders": store.ledger.loaded_by_printer(),
        "outbox": store.outbox.depth(),
    }


@click.command()
@json_option
@pass_app
@refusals
def status(app: AppContext, as_json: bool) -> None:
    """Jobs by state, the queue by priority, blanks on hand and in each feeder."""
    with app.store() as store:
        data = collect_status(store)
    if as_json:
        print_json(data)
        return
    queue = data["queue"]
    app.console.print(
        f"[bold]station {app.settings.station.id}[/bold]  queue: "
        f"{queue.get('urgent', 0):,} urgent, {queue.get('normal', 0):,} normal  "
        f"outbox: {data['outbox']:,} waiting"
    )
    table = Table(title="blanks")
    for column in ("in stock", "loaded", "issued", "spoiled", "ledger"):
        table.add_column(column, justify="right")
    b = data["blanks"]
    table.add_row(
        f"{b['in_stock']:,}",
        f"{b['loaded']:,}",
        f"{b['issued']:,}",
        f"{b['spoiled']:,}",
        "[green]balanced[/green]" if b["balanced"] else "[red]NOT balanced[/red]",
    )
    app.console.print(table)
    if data["feeders"]:
        app.console.print(
            "feeders: " + ", ".join(f"{p}: {n:,}" for p, n in sorted(data["feeders"].items()))
        )
    jobs = data["jobs"]
    app.console.print(
        "jobs: " + ("  ".join(f"{s}: {n:,}" for s, n in sorted(jobs.items())) or "none yet")
    )
