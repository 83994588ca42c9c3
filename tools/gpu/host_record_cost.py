"""Host cost of turning an advance's read-back spike list into the sorted SpikeRecord: the
spike-by-spike list ((step, neuron) pairs in atomic order, sorted here as 32-bit keys) against
the list order.wgsl writes sorted on the device (neurons + per-step counts: one np.repeat).
Synthetic lists shaped as the crowd bench's (256 neurons per brain, 17 steps, ~0.63 spikes per
brain-step). ``python tools/gpu/host_record_cost.py --brains 1000,10000``"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT)]

from spikeforge.engine import wgpu_backend as G  # noqa: E402


class _Shift:
    """Stands in for a backend in GpuBackend._spike_record (it reads only ``_key_shift``)."""

    def __init__(self, n: int) -> None:
        self._key_shift = max(1, (n - 1).bit_length())


def cost(B: int, S: int, rng: np.random.Generator) -> dict[str, float]:
    """Microseconds per record of both ways for a synthetic list of ``B`` brains and ``S`` steps."""
    n = 256 * B
    tot = round(0.63 * B * S)
    steps = np.sort(rng.integers(0, S, tot)).astype(np.uint32)
    neu = np.concatenate([np.sort(rng.choice(n, int((steps == k).sum()), replace=False))
                          for k in range(S)]).astype(np.uint32)
    perm = rng.permutation(tot)
    pairs = np.empty(2 * tot, np.uint32)
    pairs[0::2], pairs[1::2] = steps[perm], neu[perm]
    per = np.bincount(steps, minlength=S).astype(np.uint32)
    shift = _Shift(n)

    def on_host() -> Any:
        return G.GpuBackend._spike_record(shift, pairs, tot, S, 0)  # type: ignore[arg-type]

    def on_device() -> Any:
        return G.GpuBackend._sorted_record(neu, per, tot, 0)

    r1, r2 = on_host(), on_device()
    assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons)
    t1 = min(timeit.repeat(on_host, number=20, repeat=7)) / 20
    t2 = min(timeit.repeat(on_device, number=20, repeat=7)) / 20
    return {"brains": B, "spikes": tot, "us_sort_on_host": round(t1 * 1e6, 1),
            "us_sorted_on_device": round(t2 * 1e6, 1)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", default="1000,10000")
    ap.add_argument("--steps", type=int, default=17)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    for B in (int(x) for x in a.brains.split(",") if x):
        print(json.dumps(cost(B, a.steps, rng)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
