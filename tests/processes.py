"""Looking at processes from /proc, for tests of worker processes."""

from __future__ import annotations

from pathlib import Path


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not)."""
    try:
        return stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def nice(pid: int) -> int:
    return int(stat_fields(pid)[16])
