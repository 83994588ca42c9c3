"""Model validation: the one error type (it names the field and the problem) and the checks
every part of the model uses, so a parameter is judged the same way everywhere.

These are the bounds of what the engine can represent, shared by genome files, the
in-process API and the wire protocol (``UPLOAD_GENOME`` parses with the same
validation), listed in ``integrations/PROTOCOL.md`` section 9:

* every float parameter is finite in float32 range (:func:`number`);
* periods that become step counts (``t_ref``, ``snooze``) are in ``[0, MAX_PERIOD_MS]``
  so that, with a World step of at least ``MIN_DT_MS``, the count fits an int32
  (:func:`period`);
* time constants are in ``[MIN_TIME_CONSTANT_MS, MAX_TIME_CONSTANT_MS]`` so every
  propagator ``exp(-dt/tau)`` and coupling term is a finite number (:func:`time_constant`);
* integer parameters the kernels hold as int32 fit an int32 (:func:`int32`);
* rewards and the tonic dopamine baseline are at most ``MAX_REWARD`` in magnitude, so the
  dopamine level and its sums stay finite (an infinite level turns weights into NaN).
"""

from __future__ import annotations

import math
from typing import Any

FLOAT32_MAX = 3.4028234663852886e38  # kernels hold every parameter and state value as float32
INT32_MAX = 2**31 - 1  # kernels hold step counts and integer parameters as int32
MIN_DT_MS = 1e-3  # smallest World step (ms): 1 microsecond
MAX_DT_MS = 1e3  # largest World step (ms): 1 second
MAX_PERIOD_MS = 1e6  # longest period that becomes a step count (ms): 1e9 steps at MIN_DT_MS, fits int32
MIN_TIME_CONSTANT_MS = 1e-6  # shortest time constant (ms): dt/tau stays finite for any allowed dt
MAX_TIME_CONSTANT_MS = 1e12  # longest time constant (ms), about 30 years
MAX_REWARD = 1e6  # largest |reward| per REWARD/World.reward and |dopamine_baseline|: dopamine stays finite


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


def bounded(path: str, value: Any, bound: float) -> float:
    """``value`` as a float when it is a finite number with ``|value| <= bound``, else :class:`GenomeError`."""
    x = number(path, value)
    if abs(x) > bound:
        raise GenomeError(path, f"must be in [-{bound:g}, {bound:g}], got {value!r}")
    return x


def period(path: str, value: Any) -> float:
    """``value`` (ms) as a float when it is in ``[0, MAX_PERIOD_MS]``, else :class:`GenomeError` at ``path``.

    Periods are turned into whole steps (``period / dt``); the bound keeps that count in
    int32 for every World step ``dt >= MIN_DT_MS``.
    """
    x = nonneg(path, value)
    if x > MAX_PERIOD_MS:
        raise GenomeError(path, f"must be <= {MAX_PERIOD_MS:g} ms (the step count must fit an int32), got {value!r}")
    return x


def time_constant(path: str, value: Any) -> float:
    """``value`` (ms) when it is in ``[MIN_TIME_CONSTANT_MS, MAX_TIME_CONSTANT_MS]``, else :class:`GenomeError`."""
    x = positive(path, value)
    if not MIN_TIME_CONSTANT_MS <= x <= MAX_TIME_CONSTANT_MS:
        raise GenomeError(path, f"must be a time constant in [{MIN_TIME_CONSTANT_MS:g}, {MAX_TIME_CONSTANT_MS:g}] ms, "
                                f"got {value!r}")
    return x


def int32(path: str, value: Any, low: int = 0, high: int = INT32_MAX) -> int:
    """``value`` when it is an integer (not a bool) in ``[low, high]`` (default: a non-negative int32)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise GenomeError(path, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise GenomeError(path, f"must be an integer in [{low}, {high}], got {value!r}")
    return value


def time_step(path: str, dt_s: Any) -> float:
    """A World step ``dt_s`` (seconds) as a float when it is in ``[MIN_DT_MS, MAX_DT_MS]`` ms, else ``ValueError``."""
    if isinstance(dt_s, bool) or not isinstance(dt_s, (int, float)) or not math.isfinite(dt_s):
        raise ValueError(f"{path}: must be a finite number of seconds, got {dt_s!r}")
    if not MIN_DT_MS <= dt_s * 1000.0 <= MAX_DT_MS:
        raise ValueError(f"{path}: must be in [{MIN_DT_MS / 1000:g}, {MAX_DT_MS / 1000:g}] s, got {dt_s!r}")
    return float(dt_s)
