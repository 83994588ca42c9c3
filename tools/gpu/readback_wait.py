"""The time a GPU backend spends blocked mapping its read-back (the GPU's work after the
submission), for the GPU timing tools that split an advance's wall time into host and wait."""

from __future__ import annotations

import time
from typing import Any


class ReadbackWait:
    """Wraps ``be._map_readback``; :meth:`take` returns the seconds blocked there since the last take."""

    def __init__(self, be: Any) -> None:
        self.seconds = 0.0
        inner = be._map_readback

        def timed(nbytes: int) -> Any:
            t = time.perf_counter()
            try:
                return inner(nbytes)
            finally:
                self.seconds += time.perf_counter() - t

        be._map_readback = timed

    def take(self) -> float:
        s, self.seconds = self.seconds, 0.0
        return s
