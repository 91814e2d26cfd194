"""`printd printers`: see the printers and pause, resume or drain one."""

from __future__ import annotations

import click
from rich.table import Table

from printd.cli.common import (
    AppContext,
    by_option,
    fail,
    json_option,
    pass_app,
    print_json,
    refusals,
)
from printd.store.clock import stamp


@click.group()
def printers() -> None:
    """The station's printers: state, blanks in each feeder, pause/resume/drain."""


@printers.command("list")
@json_option
@pass_app
@refusals
def list_printers(app: AppContext, as_json: bool) -> None:
    """Each configured printer: mode, state, blanks loaded, ribbon prints left."""
    with app.store() as store:
        seen = {row["name"]: dict(row) for row in store.conn.execute("SELECT * FROM printers")}
        loaded = store.ledger.loaded_by_printer()
    rows = []
    for config in app.settings.printers:
        row = seen.get(config.name, {})
        rows.append(
            {
                "name": config.name,
                "driver": config.driver,
                "url": config.url,
                "enabled": config.enabled,
                "mode": row.get("mode", "active"),
                "state": row.get("state", "unknown"),
                "detail": row.get("detail", ""),
                "blanks_loaded": loaded.get(config.name, 0),
                "ribbon_left": row.get("ribbon_left"),
                "updated_at": row.get("updated_at"),
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table(title="Printers")
    for column in ("printer", "driver", "mode", "state", "blanks", "ribbon left", "detail"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["name"],
            r["driver"],
            r["mode"] if r["enabled"] else "disabled",
            r["state"],
            f"{r['blanks_loaded']:,}",
            "-" if r["ribbon_left"] is None else str(r["ribbon_left"]),
            r["detail"] or "",
        )
    app.console.print(table)


def _request(app: AppContext, printer: str, action: str, by: str | None) -> None:
    names = {p.name for p in app.settings.printers}
    if printer not in names:
        known = ", ".join(sorted(names)) or "none"
        fail(f"no printer {printer!r} in the configuration (have: {known})")
    with app.store() as store, store.transaction() as conn:
        conn.execute(
            "INSERT INTO printer_requests (printer, action, by, at) VALUES (?, ?, ?, ?)",
            (printer, action, app.operator(by), stamp()),
        )
    app.console.print(
        f"{action} requested for {printer}; the running daemon applies it within a second"
    )


@printers.command()
@click.argument("printer")
@by_option
@pass_app
@refusals
def pause(app: AppContext, printer: str, by: str | None) -> None:
    """Stop giving PRINTER new cards (a card already inside finishes)."""
    _request(app, printer, "pause", by)


@printers.command()
@click.argument("printer")
@by_option
@pass_app
@refusals
def resume(app: AppContext, printer: str, by: str | None) -> None:
    """Let PRINTER print again, after a pause or once a fault (jam, ribbon, cover) is fixed."""
    _request(app, printer, "resume", by)


@printers.command()
@click.argument("printer")
@by_option
@pass_app
@refusals
def drain(app: AppContext, printer: str, by: str | None) -> None:
    """Finish the card in PRINTER, then pause it (before maintenance or unloading)."""
    _request(app, printer, "drain", by)
