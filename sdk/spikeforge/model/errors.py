"""The one error type of model validation: it names the field and the problem."""

from __future__ import annotations

import math

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
