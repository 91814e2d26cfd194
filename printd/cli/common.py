"""What every command shares: loading config, opening the store, output, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console

from printd.config import ConfigError, Settings, load_settings
from printd.store import JobError, LedgerError, Store, StoreError

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_PROBLEM = 1  # the command ran and found a problem (unbalanced, chain broken)
EXIT_USAGE = 2  # bad arguments (click's own code)
EXIT_CONFIG = 3  # the configuration cannot be used
EXIT_STORE = 4  # the state directory or database cannot be used
EXIT_REFUSED = 5  # the operation was refused; nothing changed

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class AppContext:
    config_path: Path | None
    _settings: Settings | None = None
    console: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                for line in exc.lines:
                    self.err.print(f"printd: {line}", markup=False)
                raise SystemExit(EXIT_CONFIG) from None
        return self._settings

    def operator(self, by: str | None) -> str:
        return by or self.settings.station.operator

    @contextmanager
    def store(self, *, create: bool = False) -> Iterator[Store]:
        """The station's store; only receiving the first batch may create it."""
        state_dir = self.settings.station.state_dir
        try:
            store = Store.open(state_dir) if create else Store.open_existing(state_dir)
        except StoreError as exc:
            fail(str(exc), EXIT_STORE)
        try:
            yield store
        finally:
            store.close()


pass_app = click.make_pass_decorator(AppContext)


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    Console(stderr=True, highlight=False).print(f"printd: {message}", markup=False)
    raise SystemExit(code)


def refusals(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the store's refusals into one clear line and a trusted exit code."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (LedgerError, JobError) as exc:
            fail(f"{exc} (nothing was changed)", EXIT_REFUSED)
        except StoreError as exc:
            fail(str(exc), EXIT_STORE)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
by_option = click.option(
    "--by",
    metavar="NAME",
    help="Who does this, for the audit trail (default: the configured station operator).",
)
