"""Logging: JSON lines for journald, readable lines on a terminal.

Lines about a job or a blank carry ``job_id``, ``printer`` and
``blank_serial`` as fields, never inside the message text. Personal data
(names, ID numbers, addresses, photos, raw payloads) must never reach a log
line: code passes only ids, and :func:`redact_personal_data` is the safety
net that blanks any field whose name says it may hold such data.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

# Field names that may carry a citizen's data. Values under these keys are
# replaced, whatever code put them there.
PERSONAL_KEYS = frozenset(
    {
        "payload",
        "raw",
        "body",
        "card",
        "fields",
        "images",
        "photo",
        "signature_image",
        "name",
        "nik",
        "id_number",
        "address",
        "birth",
        "place_of_birth",
        "date_of_birth",
        "chip",
        "chip_data",
    }
)
REDACTED = "[redacted]"


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in PERSONAL_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: Any = None,
) -> None:
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_personal_data,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # One write a line: print() wrote the line and its newline apart.
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    # Initial values, not .bind(): binding now would freeze the logger with
    # whatever configuration exists at import time, before configure_logging.
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(component=name)
    return logger
