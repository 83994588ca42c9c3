"""A game's fixed-rate frame clock for the GPU timing tools (crowd_modes.py, kernel_times.py,
world_vs_backend.py): each frame starts on the next tick, so the GPU idles between frames as in a
game at that rate."""

from __future__ import annotations

import time


class FrameClock:
    """Ticks ``hz`` times a second from its creation; ``hz`` 0 runs frames back to back."""

    def __init__(self, hz: float) -> None:
        self.hz = hz
        self.tick = time.perf_counter()

    def wait(self) -> None:
        """Sleep until the next tick. A late frame moves the clock on, so frames never bunch."""
        if not self.hz:
            return
        self.tick = max(self.tick + 1.0 / self.hz, time.perf_counter())
        time.sleep(max(0.0, self.tick - time.perf_counter()))
