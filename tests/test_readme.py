"""The README's quickstart runs as written (the README must keep telling the truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikeforge.runtime.handles import LiveArray

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs_and_drives_actuators() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("```python") + len("```python")
    code = text[start:text.index("```", start)]
    scope: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), scope)
    world, move = scope["world"], scope["move"]
    assert world.step_count == 10_000  # type: ignore[attr-defined]  # 600 frames of 1/60 s at 1 ms
    assert isinstance(move, LiveArray) and move.shape == (100, 2)
    assert float(np.abs(move).sum()) > 0.0, "the motor population never fired"
