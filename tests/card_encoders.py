"""Card encoders for the worker-process tests: importable by a spawned worker."""

from __future__ import annotations

import os
import signal

from drivers.base import CardArtwork, PreparedCard


def kill_own_process(card: CardArtwork) -> PreparedCard:
    """An encoder that takes its worker process down, as a crash in native code would."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process was killed")


def _cannot_load() -> None:
    raise RuntimeError("this artwork source cannot be loaded in a worker")


class UnloadableArtwork:
    """An artwork source a worker process fails to unpickle, as with a broken
    install: the worker ends as soon as it starts."""

    def __call__(self, payload: bytes) -> CardArtwork:
        raise AssertionError("never loaded")

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_cannot_load, ())
