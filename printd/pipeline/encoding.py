"""Turning a stored job into a prepared card, in a worker process or a thread.

Rendering and panel encoding are CPU work in Python, numpy and Pillow. Done in
threads of the daemon, they hold the interpreter lock that the event loop
needs to drive the printers' links, and every round trip to a printer waits
for it. So a driver family that offers a module-level ``card_encoder`` has
its cards prepared in worker processes; the event loop only sends the job's
stored payload there and gets the encoded card back.

This module is what a worker process imports: it stays small, and what a
card needs (the renderer, the driver family's encoder) comes in by unpickling
the artwork source and the encoder.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from drivers.base import CardArtwork, PreparedCard
from printd.worker_exit import exit_with_parent

# Below the event loop that drives the printers: cards are prepared ahead,
# so a card ready a little later costs nothing, while a late reply to a
# printer costs card time.
WORKER_NICE = 10

# Turns a job's stored payload into the card's artwork (parse + render).
ArtworkSource = Callable[[bytes], CardArtwork]
# A driver family's encoder: artwork in, the printer's panels out (no I/O).
CardEncoder = Callable[[CardArtwork], PreparedCard]


class CardNotPrintable(Exception):
    """The job's card cannot be rendered or encoded; the message says why."""


def prepare(
    artwork: ArtworkSource,
    encode: CardEncoder,
    payload: bytes,
    clock: Callable[[], float] = time.thread_time,
) -> tuple[PreparedCard, float]:
    """The prepared card and the CPU seconds it took (by ``clock``)."""
    started = clock()
    try:
        return encode(artwork(payload)), clock() - started
    except CardNotPrintable:
        raise
    except Exception as exc:  # a renderer or encoder bug must not stop the station
        raise CardNotPrintable(f"{type(exc).__name__}: {exc}") from None


def prepare_in_process(
    artwork: ArtworkSource, encode: CardEncoder, payload: bytes
) -> tuple[PreparedCard, float]:
    """:func:`prepare` in a worker process: a worker runs one card at a time,
    so the process's CPU clock is the card's."""
    return prepare(artwork, encode, payload, time.process_time)


def start_worker(log_level: str) -> None:
    """Worker process set-up: JSON logs like the daemon's, and exit with the daemon."""
    from printd.logs import configure_logging

    configure_logging(log_level, "json")
    exit_with_parent()
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)


def warm_up(artwork: ArtworkSource, encode: CardEncoder) -> int:
    """Nothing but unpickling the arguments: imports the renderer and encoder
    at start-up rather than during the first card."""
    return os.getpid()
