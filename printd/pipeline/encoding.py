"""Turning a stored job into a prepared card, in a worker process or a thread.

Rendering and panel encoding are CPU work in Python, numpy and Pillow. Done in
threads of the daemon, they hold the interpreter lock that the event loop
needs to drive the printers' links, and every round trip to a printer waits
for it. So a driver family that offers a module-level ``card_encoder`` has
its cards prepared in worker processes; the event loop only sends the job's
id there and gets the encoded card back (:mod:`printd.pipeline.card_workers`).
A worker reads the job's stored message itself, on a read-only connection of
its own: a message with its photos is tens of kilobytes, which the event loop
would otherwise read from the database and copy down the pipe for every card.

This module is what a worker process imports: it stays small, and what a
card needs (the renderer, the driver family's encoder) comes in by unpickling
the artwork source and the encoder.

Between the daemon and a worker, each message is a frame: its length as four
bytes (network order), then a pickle. A request is ``(encoder, job_id)``;
the reply ``("ok", (card, cpu_s))``, ``("unprintable", message)``, or for a
request with no job (a warm-up: the encoder imported) ``("ready", pid)``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.base import CardArtwork, PreparedCard
from printd.store.jobs import payload_of
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
    run_when_idle()


def run_when_idle() -> None:
    """Take only the CPU time nothing else on the PC wants (Linux's SCHED_IDLE).

    At nice 10 a worker that woke still took a core from the daemon or from
    a simulated printer's process: bench/pipeline.py ran four printers at
    0.96 to 0.97 of their capacity, and at 0.99 with the workers at
    SCHED_IDLE. A card is prepared ahead, while the printer prints the card
    before it; should other programs keep every core busy, a card is late
    and its printer waits for it, and nothing is lost. Where the policy
    does not exist, the worker runs at nice 10.
    """
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    if hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


FRAME_HEADER = struct.Struct("!I")


def frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME_HEADER.pack(len(data)) + data


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or None at end of file (the daemon is gone)."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


PAYLOAD_GONE = "the job's payload is gone (purged)"


class StoredPayloads:
    """Jobs' messages read from the station's database by a worker process.

    The connection is read-only and the worker's own: in WAL mode it never
    blocks the daemon's writes, and the daemon's connections are untouched.
    """

    def __init__(self, database: Path) -> None:
        self._database = database
        self._conn: sqlite3.Connection | None = None

    def __call__(self, job_id: str) -> bytes:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    f"{self._database.as_uri()}?mode=ro", uri=True, timeout=30.0
                )
            payload = payload_of(self._conn, job_id)
        except sqlite3.Error as exc:
            raise CardNotPrintable(f"the station's database could not be read: {exc}") from None
        if payload is None:
            raise CardNotPrintable(PAYLOAD_GONE)
        return payload

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _answer(
    artwork: ArtworkSource, payloads: StoredPayloads, request: tuple[CardEncoder, str | None]
) -> Any:
    encode, job_id = request
    if job_id is None:
        return ("ready", os.getpid())
    try:
        return ("ok", prepare_in_process(artwork, encode, payloads(job_id)))
    except CardNotPrintable as exc:
        return ("unprintable", str(exc))


def serve(
    requests: Any, replies: Any, artwork: ArtworkSource, log_level: str, database: Path
) -> None:
    """A worker process's life: answer requests one at a time until the
    daemon closes its end (or dies: then the pipe ends as well)."""
    start_worker(log_level)
    payloads = StoredPayloads(database)
    inbox, outbox = requests.fileno(), replies.fileno()
    try:
        while (header := _read_exactly(inbox, FRAME_HEADER.size)) is not None:
            body = _read_exactly(inbox, FRAME_HEADER.unpack(header)[0])
            if body is None:
                return
            # From the daemon that started this process, over its own pipe.
            request = pickle.loads(body)  # noqa: S301
            _write_all(outbox, frame(_answer(artwork, payloads, request)))
    finally:
        payloads.close()
