"""`printd doctor`: check the station end to end and say what to do about each problem."""

from __future__ import annotations

import click
from rich.text import Text

from printd import doctor as checks
from printd.cli.common import AppContext, json_option, pass_app, print_json

STYLES = {checks.Level.OK: "green", checks.Level.WARN: "yellow", checks.Level.FAIL: "bold red"}


@click.command()
@json_option
@click.option("--strict", is_flag=True, help="Warnings fail too (exit code 1).")
@click.option(
    "--timeout",
    "timeout_s",
    default=checks.DEFAULT_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(0.1, 120),
    help="Seconds to wait for the broker and for each printer.",
)
@pass_app
def doctor(app: AppContext, as_json: bool, strict: bool, timeout_s: float) -> None:
    """Check config, keys, state directory and disk, database and ledger, broker,
    printers and clock; print ok / warn / fail and what to do.

    \b
    Exit code: 0 when nothing failed (warnings are printed but pass),
    1 when a check failed (or, with --strict, warned).
    Nothing is changed. While no daemon runs, doctor asks each printer itself;
    while one runs, it shows what the daemon last saw.
    """
    results = checks.run_checks(app.config_path, timeout_s)
    code = checks.exit_code(results, strict)
    if as_json:
        print_json(
            {
                "ok": code == 0,
                "summary": checks.summary(results),
                "checks": [r.as_dict() for r in results],
            }
        )
        raise SystemExit(code)
    width = max(len(r.check) for r in results)
    for r in results:
        line = Text(f"{r.level.value:<5} ", style=STYLES[r.level])
        line.append(f"{r.check:<{width}}  {r.message}")
        app.console.print(line, soft_wrap=True)
        if r.fix:
            app.console.print(Text(f"{'':<5} {'':<{width}}  -> {r.fix}"), soft_wrap=True)
    counts = checks.summary(results)
    app.console.print(
        f"\n{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed", markup=False
    )
    raise SystemExit(code)
