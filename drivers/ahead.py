"""The next card's opening steps, started while the station is still busy.

After a card comes out, the station commits its outcome with the next
card's claim before a blank may be fed: that commit takes milliseconds a
card. A printer can spend them on the next card's opening steps, the ones
that cannot move a blank (Evolis: ribbon type and sequence start; Magicard:
the status check). :class:`OpeningAhead` holds that one exchange until the
next card takes it up, or until it is dropped because no card follows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from drivers.base import DriverError

T = TypeVar("T")


class OpeningAhead(Generic[T]):
    """At most one opening exchange started ahead of its card."""

    def __init__(self) -> None:
        self._task: asyncio.Task[T] | None = None

    def start(self, opening: Callable[[], Awaitable[T]]) -> None:
        """Send the opening now; a second start before it is taken sends nothing."""
        if self._task is None:
            self._task = asyncio.ensure_future(opening())

    def take(self) -> asyncio.Task[T] | None:
        """The opening started ahead, for the card that follows; None if none was."""
        task, self._task = self._task, None
        return task

    async def drop(self) -> T | None:
        """No card follows: wait for the opening's answer, if it was started.

        None when nothing was started or the printer did not answer; the
        caller undoes what the answer started.
        """
        task = self.take()
        if task is None:
            return None
        try:
            return await task
        except DriverError:
            return None

    async def cancel(self) -> None:
        """The link is closing: stop waiting for the opening's answer."""
        task = self.take()
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, DriverError):
            await task
