"""`printd blanks`: the blank ledger, for technicians and auditors."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from printd.cli.common import (
    EXIT_PROBLEM,
    AppContext,
    by_option,
    fail,
    json_option,
    pass_app,
    print_json,
    refusals,
)
from printd.serials import SerialError, describe, parse_serials
from printd.store.ledger import SHELF, Reconciliation, SpoilReason

SERIALS_HELP = (
    "Serials: ranges like AB-100001..AB-100500, single serials, or both, comma-separated."
)


def _serials(items: tuple[str, ...] | list[str]) -> list[str]:
    try:
        serials = parse_serials(items)
    except SerialError as exc:
        fail(str(exc))
    if not serials:
        fail("no serials given")
    return serials


def _serials_from(items: tuple[str, ...], from_file: Path | None) -> list[str]:
    texts = list(items)
    if from_file is not None:
        try:
            texts.extend(from_file.read_text(encoding="utf-8").splitlines())
        except OSError as exc:
            fail(f"cannot read {from_file}: {exc}")
    return _serials(texts)


from_file_option = click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also read serials from this file (one range or serial per line, e.g. a scanner export).",
)


@click.group()
def blanks() -> None:
    """The blank ledger: receive, load, spoil, count and reconcile blank cards.

    Every blank the station receives is accounted for, per batch and in total:
    received = issued + spoiled + voided + missing + in stock + loaded.
    """


@blanks.command()
@click.argument("batch")
@click.argument("serials", nargs=-1)
@from_file_option
@click.option("--note", default="", help="Delivery note, e.g. the tranche or box label.")
@by_option
@pass_app
@refusals
def receive(
    app: AppContext,
    batch: str,
    serials: tuple[str, ...],
    from_file: Path | None,
    note: str,
    by: str | None,
) -> None:
    """Take a delivered BATCH of blanks into stock.

    \b
    Example: printd blanks receive BOX-2026-07 AB-100001..AB-100500
    Refused whole if any serial is already in the ledger.
    """
    wanted = _serials_from(serials, from_file)
    with app.store(create=True) as store:
        count = store.ledger.receive(batch, wanted, app.operator(by), note)
    app.console.print(f"received batch {batch}: {describe(wanted)}; {count:,} blanks in stock")


@blanks.command()
@click.argument("printer")
@click.argument("serials", nargs=-1, required=True)
@by_option
@pass_app
@refusals
def load(app: AppContext, printer: str, serials: tuple[str, ...], by: str | None) -> None:
    """Load blanks from the shelf into PRINTER's feeder, in feeding order.

    \b
    Example: printd blanks load evolis-1 AB-100001..AB-100100
    List the serials in the order the printer will feed them (top of the stack first).
    """
    wanted = _serials(serials)
    with app.store() as store:
        store.ledger.load(printer, wanted, app.operator(by))
        total = store.ledger.loaded_count(printer)
    app.console.print(f"loaded {describe(wanted)} into {printer}; {total:,} blanks in its feeder")


@blanks.command()
@click.argument("printer")
@click.argument("serials", nargs=-1)
@by_option
@pass_app
@refusals
def unload(app: AppContext, printer: str, serials: tuple[str, ...], by: str | None) -> None:
    """Take blanks out of PRINTER's feeder back to the shelf (all, if none are named)."""
    wanted = _serials(serials) if serials else None
    with app.store() as store:
        done = store.ledger.unload(printer, wanted, app.operator(by))
    app.console.print(f"unloaded {describe(done)} from {printer} to the shelf")


@blanks.command()
@click.argument("serials", nargs=-1, required=True)
@click.option(
    "--reason",
    required=True,
    type=click.Choice([r.value for r in SpoilReason]),
    help="Why the blank cannot be used.",
)
@click.option("--detail", default="", help="What happened (required with --reason other).")
@by_option
@pass_app
@refusals
def spoil(
    app: AppContext, serials: tuple[str, ...], reason: str, detail: str, by: str | None
) -> None:
    """Record blanks as spoiled: a test print, a damaged card, a jam cleared by hand.

    Cards spoiled while printing a job are recorded by the daemon itself.
    """
    wanted = _serials(serials)
    with app.store() as store, store.transaction() as conn:
        for serial in wanted:
            store.ledger.spoil(serial, reason, app.operator(by), detail=detail, conn=conn)
    app.console.print(f"spoiled {describe(wanted)} ({reason})")


@blanks.command()
@click.argument("serials", nargs=-1, required=True)
@click.option("--detail", default="", help="Return note, e.g. the dispatch reference.")
@by_option
@pass_app
@refusals
def void(app: AppContext, serials: tuple[str, ...], detail: str, by: str | None) -> None:
    """Void blanks returned to the central office (they must be on the shelf)."""
    wanted = _serials(serials)
    with app.store() as store:
        store.ledger.void(wanted, app.operator(by), detail)
    app.console.print(f"voided {describe(wanted)}")


@blanks.command()
@click.option(
    "--shelf",
    "shelf",
    multiple=True,
    help="Serials found on the shelf (ranges allowed; repeat the option freely).",
)
@click.option(
    "--shelf-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Serials found on the shelf, one per line (a scanner export).",
)
@click.option(
    "--feeder",
    "feeders",
    multiple=True,
    metavar="PRINTER=SERIALS",
    help="Serials found in a feeder, in feeding order, e.g. evolis-1=AB-100001..AB-100050.",
)
@click.option("--dry-run", is_flag=True, help="Show the differences without recording them.")
@by_option
@json_option
@pass_app
@refusals
def count(
    app: AppContext,
    shelf: tuple[str, ...],
    shelf_file: Path | None,
    feeders: tuple[str, ...],
    dry_run: bool,
    by: str | None,
    as_json: bool,
) -> None:
    """Record a physical count of the shelf and/or feeders.

    Only the places you count are compared. Blanks expected there and not found
    are marked missing; missing blanks that turn up are found again; nothing is
    hidden: every difference is a ledger event. Exit code 1 when the count does
    not match the ledger.
    """
    counted: dict[str, list[str]] = {}
    if shelf or shelf_file:
        counted[SHELF] = _serials_from(shelf, shelf_file)
    for item in feeders:
        printer, sep, text = item.partition("=")
        if not sep or not printer:
            fail(f"--feeder {item!r}: expected PRINTER=SERIALS")
        try:
            counted[printer] = parse_serials([text])
        except SerialError as exc:
            fail(str(exc))
    if not counted:
        fail("nothing counted: give --shelf, --shelf-file or --feeder")
    with app.store() as store:
        report = store.ledger.count(counted, app.operator(by), apply=not dry_run)
    if as_json:
        print_json(
            {
                "locations": report.locations,
                "missing": report.missing,
                "found": report.found,
                "moved": report.moved,
                "unexpected": report.unexpected,
                "recorded": not dry_run,
            }
        )
    else:
        table = Table(title="Physical count" + (" (dry run, nothing recorded)" if dry_run else ""))
        numbers = ("expected", "counted", "missing", "found", "moved", "unexpected")
        table.add_column("place")
        for column in numbers:
            table.add_column(column, justify="right")
        for place, stats in report.locations.items():
            table.add_row(place, *(f"{stats[k]:,}" for k in numbers))
        app.console.print(table)
        for label, serials in (
            ("missing", report.missing),
            ("found again", report.found),
            ("moved", report.moved),
            ("unexpected (issued, spoiled, voided or unknown)", report.unexpected),
        ):
            if serials:
                app.console.print(
                    f"{label}: {', '.join(serials[:20])}" + (" ..." if len(serials) > 20 else "")
                )
    if not report.matches:
        raise SystemExit(EXIT_PROBLEM)


def reconciliation_table(rec: Reconciliation) -> Table:
    table = Table(title="Blank reconciliation")
    columns = (
        "batch",
        "received",
        "issued",
        "spoiled",
        "voided",
        "missing",
        "in stock",
        "loaded",
        "balance",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "batch" else "right")
    for row in (*rec.batches, rec.total):
        table.add_row(
            row.batch_id if row is not rec.total else "[bold]total[/bold]",
            *(
                f"{v:,}"
                for v in (
                    row.received,
                    row.issued,
                    row.spoiled,
                    row.voided,
                    row.missing,
                    row.in_stock,
                    row.loaded,
                )
            ),
            "[green]ok[/green]"
            if row.balanced
            else f"[red]{row.accounted - row.received:+,}[/red]",
        )
    return table


@blanks.command()
@json_option
@pass_app
@refusals
def reconcile(app: AppContext, as_json: bool) -> None:
    """Check received = issued + spoiled + voided + missing + in stock + loaded.

    Per batch and in total. Exit code 1 when anything does not balance.
    """
    with app.store() as store:
        rec = store.ledger.reconcile()
    if as_json:
        print_json(
            {
                "balanced": rec.balanced,
                "problems": list(rec.problems),
                "batches": [_balance(b) for b in rec.batches],
                "total": _balance(rec.total),
            }
        )
    else:
        app.console.print(reconciliation_table(rec))
        for problem in rec.problems:
            app.err.print(f"printd: {problem}", markup=False)
        if rec.balanced:
            app.console.print("every blank is accounted for")
    if not rec.balanced:
        raise SystemExit(EXIT_PROBLEM)


def _balance(b: object) -> dict[str, object]:
    fields = (
        "batch_id",
        "received",
        "issued",
        "spoiled",
        "voided",
        "missing",
        "in_stock",
        "loaded",
        "balanced",
    )
    return {name: getattr(b, name) for name in fields}


@blanks.command()
@json_option
@pass_app
@refusals
def verify(app: AppContext, as_json: bool) -> None:
    """Check the ledger's hash chain; name the first event that was altered or removed.

    Exit code 1 when the chain is broken.
    """
    with app.store() as store:
        result = store.ledger.verify()
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "events": result.events,
                "first_bad_event": result.first_bad_seq,
                "problem": result.problem,
            }
        )
    elif result.ok:
        app.console.print(f"ledger chain intact: {result.events:,} events")
    else:
        app.err.print(f"printd: ledger chain broken: {result.problem}", markup=False)
    if not result.ok:
        raise SystemExit(EXIT_PROBLEM)


@blanks.command()
@click.argument("serial")
@json_option
@pass_app
@refusals
def history(app: AppContext, serial: str, as_json: bool) -> None:
    """Every event of one blank, oldest first: who, when, what, why."""
    with app.store() as store:
        events = store.ledger.history(serial)
        current = store.ledger.blank(serial)
    if current is None:
        fail(f"blank {serial} is not in the ledger (never received)")
    if as_json:
        print_json(
            {
                "serial": serial,
                "state": current["state"],
                "printer": current["printer"],
                "job_id": current["job_id"],
                "events": [
                    {
                        k: getattr(e, k)
                        for k in (
                            "seq",
                            "at",
                            "kind",
                            "from_state",
                            "to_state",
                            "printer",
                            "job_id",
                            "by",
                            "reason",
                            "detail",
                        )
                    }
                    for e in events
                ],
            }
        )
        return
    where = f" in {current['printer']}" if current["printer"] else ""
    app.console.print(
        f"{serial}: {current['state']}{where} (batch {current['batch_id']})", markup=False
    )
    table = Table()
    for column in ("#", "when", "event", "from", "to", "printer", "job", "by", "reason"):
        table.add_column(column)
    for e in events:
        why = " ".join(part for part in (e.reason, e.detail) if part)
        table.add_row(
            str(e.seq),
            e.at,
            e.kind,
            e.from_state or "-",
            e.to_state,
            e.printer or "-",
            e.job_id or "-",
            e.by,
            why or "-",
        )
    app.console.print(table)


@blanks.command()
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CSV here (default: standard output).",
)
@pass_app
@refusals
def export(app: AppContext, out: Path | None) -> None:
    """Write the whole ledger as CSV for auditors (with each event's chain hash)."""
    with app.store() as store:
        if out is None:
            store.ledger.export_csv(sys.stdout)
            return
        try:
            with out.open("w", encoding="utf-8", newline="") as handle:
                written = store.ledger.export_csv(handle)
        except OSError as exc:
            fail(f"cannot write {out}: {exc}")
    app.err.print(f"wrote {written:,} ledger events to {out}", markup=False)
