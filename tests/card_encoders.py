"""Card encoders for the worker-process tests: importable by a spawned worker."""

from __future__ import annotations

import os
import signal

from drivers.base import CardArtwork, PreparedCard


def kill_own_process(card: CardArtwork) -> PreparedCard:
    """An encoder that takes its worker process down, as a crash in native code would."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process was killed")
