"""`printd jobs`: see and steer print jobs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from printd import reports
from printd.cli.common import (
    AppContext,
    by_option,
    fail,
    json_option,
    pass_app,
    print_json,
    refusals,
)
from printd.pipeline import jobflow
from printd.pipeline.artwork import parse_card
from printd.pipeline.cards import CardNotPrintable
from printd.render import RenderError, TemplateError, TemplateLibrary, render_card, write_preview
from printd.store import JobRecord, JobState
from printd.store.clock import stamp
from printd.store.ledger import SpoilReason


def _job_dict(job: JobRecord) -> dict[str, object]:
    return {
        "job_id": job.job_id,
        "state": job.state.value,
        "priority": job.priority,
        "not_after": stamp(job.not_after),
        "received_at": stamp(job.received_at),
        "updated_at": stamp(job.updated_at),
        "printer": job.printer,
        "attempts": job.attempts,
        "blank_serial": job.blank_serial,
        "reason": job.reason,
        "payload_kept": job.has_payload,
    }


@click.group()
def jobs() -> None:
    """Print jobs: list, inspect, cancel, retry, resolve after inspection."""


@jobs.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in JobState]),
    help="Only jobs in this state (repeatable).",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@json_option
@pass_app
@refusals
def list_jobs(app: AppContext, states: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Jobs in queue order: urgent first, then oldest first."""
    with app.store() as store:
        found = store.jobs.listing(tuple(JobState(s) for s in states), limit=limit)
        totals = store.jobs.count_by_state()
    if as_json:
        print_json({"jobs": [_job_dict(j) for j in found], "totals": totals})
        return
    table = Table(title="Jobs")
    for column in ("job", "state", "priority", "printer", "attempts", "blank", "received"):
        table.add_column(column)
    for job in found:
        table.add_row(
            job.job_id,
            job.state.value,
            job.priority,
            job.printer or "-",
            str(job.attempts),
            job.blank_serial or "-",
            stamp(job.received_at),
        )
    app.console.print(table)
    app.console.print(
        "  ".join(f"{state}: {number:,}" for state, number in sorted(totals.items())) or "no jobs"
    )


@jobs.command()
@click.argument("job_id")
@json_option
@pass_app
@refusals
def show(app: AppContext, job_id: str, as_json: bool) -> None:
    """One job: its state, the blanks it used and its history."""
    with app.store() as store:
        job = store.jobs.get(job_id)
        if job is None:
            fail(f"no job {job_id}")
        blanks = store.ledger.job_blanks(job_id)
        history = store.jobs.history(job_id)
    data = _job_dict(job) | {
        "blanks": blanks,
        "history": [
            {
                "at": h.at,
                "state": h.to_state,
                "printer": h.printer,
                "blank_serial": h.blank_serial,
                "note": h.note,
            }
            for h in history
        ],
    }
    if as_json:
        print_json(data)
        return
    app.console.print(f"job {job.job_id}: [bold]{job.state.value}[/bold] ({job.priority})")
    for key in ("not_after", "received_at", "printer", "attempts", "blank_serial", "reason"):
        if data[key] is not None:
            app.console.print(f"  {key.replace('_', ' ')}: {data[key]}", markup=False)
    if blanks:
        app.console.print("  blanks:")
        for blank in blanks:
            why = f" ({blank['reason']} {blank['detail']})".rstrip() if blank["reason"] else ""
            app.console.print(f"    {blank['serial']} {blank['outcome']}{why}", markup=False)
    table = Table(title="history")
    for column in ("when", "state", "printer", "blank", "note"):
        table.add_column(column)
    for h in history:
        table.add_row(h.at, h.to_state, h.printer or "-", h.blank_serial or "-", h.note or "-")
    app.console.print(table)


@jobs.command()
@click.argument("job_ids", nargs=-1, required=True)
@click.option("--reason", default="cancelled by technician", help="Told to the registry.")
@by_option
@pass_app
@refusals
def cancel(app: AppContext, job_ids: tuple[str, ...], reason: str, by: str | None) -> None:
    """Cancel queued jobs; the registry is told. A card already in a printer cannot be cancelled."""
    who = app.operator(by)
    with app.store() as store, store.transaction() as conn:
        for job_id in job_ids:
            store.jobs.transition(
                conn, job_id, JobState.CANCELLED, who, expect=JobState.QUEUED, reason=reason
            )
            reports.result(store, conn, job_id, "cancelled", reason=reason)
    app.console.print(f"cancelled {len(job_ids)} job(s)")


@jobs.command()
@click.argument("job_id")
@click.option("--printed", metavar="SERIAL", help="The card came out good, on this blank.")
@click.option("--spoiled", metavar="SERIAL", help="This blank came out spoiled (give --reason).")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in SpoilReason]),
    default=SpoilReason.PRINT_ERROR.value,
    show_default=True,
    help="Why the blank is spoiled (with --spoiled).",
)
@click.option("--detail", default="", help="What you saw (with --spoiled).")
@click.option("--not-fed", is_flag=True, help="No card left the feeder.")
@by_option
@pass_app
@refusals
def resolve(
    app: AppContext,
    job_id: str,
    printed: str | None,
    spoiled: str | None,
    reason: str,
    detail: str,
    not_fed: bool,
    by: str | None,
) -> None:
    """Say what came out of the printer for a card that needs inspection.

    \b
    After a crash or power cut, a card that was inside a printer is never
    printed again by itself. Look in the output tray and the reject bin, then:
      --printed SERIAL   the card is good: the job is done
      --spoiled SERIAL   the card is spoiled: the job prints again on a new blank
      --not-fed          no card came out: the job prints again
    """
    with app.store() as store:
        state = jobflow.resolve(
            store,
            job_id,
            app.operator(by),
            printed=printed,
            spoiled=spoiled,
            reason=reason,
            detail=detail,
            not_fed=not_fed,
            max_attempts=app.settings.station.max_attempts,
        )
    app.console.print(f"job {job_id}: {state.value}")


@jobs.command()
@click.argument("job_ids", nargs=-1, required=True)
@by_option
@pass_app
@refusals
def retry(app: AppContext, job_ids: tuple[str, ...], by: str | None) -> None:
    """Put failed jobs back in the queue for a fresh set of attempts."""
    with app.store() as store:
        for job_id in job_ids:
            jobflow.retry(store, job_id, app.operator(by))
    app.console.print(f"{len(job_ids)} job(s) back in the queue")


@jobs.command()
@click.argument("job_id")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the PNG files (created if missing).",
)
@pass_app
@refusals
def preview(app: AppContext, job_id: str, out: Path) -> None:
    """Write what will be printed for JOB_ID: each side and each panel as PNG.

    Files: front.png (composite), front-color.png, front-k.png (resin black),
    front-overlay.png (white = overlay, black = clear window), and the same for
    the back. They hold the citizen's photo and data: delete them after use.
    A job's preview is no longer possible once its payload is purged.
    """
    with app.store() as store:
        job = store.jobs.get(job_id)
        if job is None:
            fail(f"no job {job_id}")
        payload = store.jobs.payload(job_id)
    if payload is None:
        fail(f"job {job_id} has no payload any more (purged after its retention window)")
    try:
        templates = TemplateLibrary.from_settings(app.settings)
        card, chip = parse_card(payload)
        files = write_preview(render_card(card, chip, templates), out)
    except (CardNotPrintable, RenderError, TemplateError) as exc:
        fail(f"job {job_id} cannot be rendered: {exc}")
    except OSError as exc:
        fail(f"cannot write to {out}: {exc}")
    for path in files:
        app.console.print(str(path), markup=False)
