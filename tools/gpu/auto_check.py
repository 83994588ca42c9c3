"""What ``backend="auto"`` would choose here, and why: calibrate the GPU cost model afresh
(in a temporary cache), print its samples and fit, and its predictions and choices for the
sizes of the standard benches (crowd 1,000 and 10,000 brains, scale, CUBA 4k).

Compare with the measured figures of ``bash tools/gpu/device_run.sh bench`` (same machine).

Usage: ``python tools/gpu/auto_check.py`` (prints JSON lines).
"""

from __future__ import annotations

import json
import os
import tempfile

SIZES = {"crowd1000": (256_000, 8_192_000), "crowd10000": (2_560_000, 81_920_000),
         "scale": (1_200_000, 96_000_000), "cuba4k": (4_000, 324_572), "learning500": (50_000, 1_000_000)}


def main() -> None:
    os.environ["SPIKEFORGE_CACHE_DIR"] = tempfile.mkdtemp(prefix="sf-gpu-cost-")
    from spikeforge.engine import gpu_cost
    from spikeforge.engine.backend import resolve_backend

    m = gpu_cost.cost_model(recalibrate=True)
    print(json.dumps({"model": m}), flush=True)
    for name, (n, s) in SIZES.items():
        g, c = gpu_cost.predicted_seconds(n, s)
        chosen, reasons = resolve_backend("auto", (n, s))
        print(json.dumps({"size": name, "neurons": n, "synapses": s, "gpu_us": round(g * 1e6, 2),
                          "cpu_us": round(c * 1e6, 2), "predicted_gain": round(c / g, 3) if g > 0 else None,
                          "auto": chosen, "reasons": reasons}), flush=True)


if __name__ == "__main__":
    main()
