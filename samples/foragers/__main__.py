"""Run the foragers game: ``python -m samples.foragers [--view] [--plot out.png] ...``.

A thin runner of :mod:`spikeforge.games.foragers` (the game lives in the installed package
so ``spikeforge demo foragers`` runs the same code).
"""

from __future__ import annotations

import sys

from spikeforge.games.foragers import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
