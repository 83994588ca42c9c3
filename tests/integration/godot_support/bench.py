"""The Godot 3 adapter benchmark moved to :mod:`spikeforge.bench.godot` (``spikeforge bench godot``);
this module re-exports it for old imports and ``python -m tests.integration.godot_support.bench``."""

from __future__ import annotations

import sys

from spikeforge.bench.godot import main, measure_exchange, measure_learning

__all__ = ["main", "measure_exchange", "measure_learning"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
