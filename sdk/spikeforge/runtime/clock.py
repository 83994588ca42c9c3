"""Fixed-timestep accumulator (Gaffer on Games, "Fix Your Timestep!").

The game hands in variable frame times; the clock turns them into a whole number of
fixed steps, clamped to ``max_substeps`` per frame (the rest is dropped and counted, so
a long hitch cannot start a spiral of death), and exposes the leftover fraction
``alpha`` for interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spikeforge.model.errors import INT32_MAX, time_step


@dataclass
class FixedClock:
    """Parameters: ``dt`` (s) fixed step, ``max_substeps`` per frame."""

    dt: float
    max_substeps: int = 64
    accumulator: float = 0.0
    dropped_steps: int = 0
    frames: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.dt, (int, float)) and math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt: must be a finite number of seconds > 0, got {self.dt!r}")
        time_step("dt", self.dt)  # the bounds genome periods are checked against (model/errors.py)
        if (isinstance(self.max_substeps, bool) or not isinstance(self.max_substeps, int)
                or not 1 <= self.max_substeps <= INT32_MAX):
            raise ValueError(f"max_substeps: must be an integer in [1, {INT32_MAX}], got {self.max_substeps!r}")

    @staticmethod
    def _check(frame_dt: float) -> None:
        if isinstance(frame_dt, bool) or not isinstance(frame_dt, (int, float)) or not math.isfinite(frame_dt):
            raise ValueError(f"frame_dt: must be a finite number of seconds, got {frame_dt!r}")
        if frame_dt < 0:
            raise ValueError(f"frame_dt: must be >= 0 seconds, got {frame_dt!r}")

    def _due(self, frame_dt: float) -> tuple[int, float]:
        """The steps due after adding ``frame_dt`` seconds (before the clamp) and the sum."""
        acc = self.accumulator + float(frame_dt)
        # a tolerance of 1e-9 steps keeps 60 frames of 1/60 s equal to 1000 steps of 1 ms
        return math.floor(acc / self.dt + 1e-9), acc

    def accumulate(self, frame_dt: float) -> int:
        """Add a frame of ``frame_dt`` seconds; return how many fixed steps to run now."""
        self._check(frame_dt)
        self.frames += 1
        n, self.accumulator = self._due(frame_dt)
        if n > self.max_substeps:
            self.dropped_steps += n - self.max_substeps
            n = self.max_substeps
            self.accumulator = 0.0
        else:
            self.accumulator = max(0.0, self.accumulator - n * self.dt)
        return n

    def peek(self, frame_dt: float) -> int:
        """How many fixed steps :meth:`accumulate` would return for a frame of ``frame_dt`` seconds
        now, without changing the clock (the World's hint of the next frame's steps)."""
        self._check(frame_dt)
        return min(self._due(frame_dt)[0], self.max_substeps)

    @property
    def alpha(self) -> float:
        """Leftover fraction of a step in the accumulator, in [0, 1)."""
        return min(self.accumulator / self.dt, 1.0 - 1e-12)
