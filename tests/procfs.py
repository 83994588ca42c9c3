"""Reading Linux ``/proc`` in tests (process and thread states, parents)."""

from __future__ import annotations

from pathlib import Path


def stat_fields(stat: Path) -> list[str]:
    """The fields of a ``/proc/PID/stat`` (or ``task/TID/stat``) file after the command name, which
    may hold spaces and parentheses: ``[0]`` the state (R, S, D, T, Z, ...), ``[1]`` the parent pid.
    Raises OSError if the process is gone."""
    return stat.read_text().rsplit(")", 1)[1].split()
