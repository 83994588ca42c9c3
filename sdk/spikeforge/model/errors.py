"""Model validation: the one error type (it names the field and the problem) and the checks
every part of the model uses, so a parameter is judged the same way everywhere."""

from __future__ import annotations

import math
from typing import Any

FLOAT32_MAX = 3.4028234663852886e38  # kernels hold every parameter and state value as float32


def finite32(value: float) -> bool:
    """True if ``value`` is finite and stays finite when rounded to float32."""
    return math.isfinite(value) and abs(value) <= FLOAT32_MAX


class GenomeError(ValueError):
    """A circuit or genome is invalid.

    Attributes
    ----------
    field : str
        Dotted path of the offending field, e.g. ``populations[2].model.tau_m``.
    problem : str
        What is wrong with it.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def number(path: str, value: Any) -> float:
    """``value`` as a float; an error unless it is a real number in float32 range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GenomeError(path, f"must be a number, got {value!r}")
    if not finite32(value):
        raise GenomeError(path, f"must be finite (in float32 range), got {value!r}")
    return float(value)


def positive(path: str, value: Any) -> float:
    """``value`` as a float when it is a finite number > 0, else :class:`GenomeError` at ``path``."""
    x = number(path, value)
    if x <= 0:
        raise GenomeError(path, f"must be > 0, got {value!r}")
    return x


def nonneg(path: str, value: Any) -> float:
    """``value`` as a float when it is a finite number >= 0, else :class:`GenomeError` at ``path``."""
    x = number(path, value)
    if x < 0:
        raise GenomeError(path, f"must be >= 0, got {value!r}")
    return x


def int_nonneg(path: str, value: Any) -> int:
    """``value`` when it is an integer >= 0 (not a bool), else :class:`GenomeError` at ``path``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise GenomeError(path, f"must be an integer, got {value!r}")
    if value < 0:
        raise GenomeError(path, f"must be >= 0, got {value!r}")
    return value
