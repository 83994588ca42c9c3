"""Deploying trained weights into runtime brains, and storing them as a file.

Trained weights are per synapse (a projection's weight *distribution* in the genome
cannot hold them), so they are written into spawned brains with the brain's weight view
(``brain.weights(projection).set``), matched synapse by synapse on (pre, post, delay)
brain-local indices. A brain whose connectivity differs from the mirror's template
(another draw of a random rule) raises ``ValueError``. The world's snapshot then
carries the deployed weights like any learned weights; :func:`save_weights` /
:func:`load_weights` store them alone (``.npz``: numbers only, no pickle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

Weights = Mapping[str, Mapping[str, np.ndarray]]
_FIELDS = ("pre", "post", "delay", "w")


def _order(pre: np.ndarray, post: np.ndarray, delay: np.ndarray) -> np.ndarray:
    return np.lexsort((post, delay, pre))


def apply_weights(brains: Iterable[Any], weights: Weights) -> int:
    """Write ``weights`` (``CircuitMirror.trained()`` or :func:`load_weights`) into ``brains``.

    Parameters
    ----------
    brains : iterable of spikeforge.Brain
    weights : mapping
        ``{projection: {"pre", "post", "delay", "w"}}``.

    Returns
    -------
    int
        Synapses written in total.
    """
    total = 0
    for b in brains:
        for name, d in weights.items():
            view = b.weights(name)  # KeyError names the projection
            w = np.asarray(d["w"], dtype=np.float32)
            if not np.all(np.isfinite(w)):
                raise ValueError(f"weights[{name!r}].w: values must be finite")
            delay_idx = view.index
            L = b._world.layout
            rows = np.searchsorted(L.row_syn, delay_idx, side="right") - 1
            bdelay = L.row_delay[rows].astype(np.int64)
            ob = _order(view.pre, view.post, bdelay)
            ot = _order(np.asarray(d["pre"]), np.asarray(d["post"]), np.asarray(d["delay"]))
            same = (len(view) == w.size
                    and np.array_equal(view.pre[ob], np.asarray(d["pre"])[ot])
                    and np.array_equal(view.post[ob], np.asarray(d["post"])[ot])
                    and np.array_equal(bdelay[ob], np.asarray(d["delay"])[ot]))
            if not same:
                raise ValueError(f"weights[{name!r}]: brain {b.id} has other synapses than the trained network "
                                 "(another draw of a random connectivity rule?)")
            out = np.empty(w.size, np.float32)
            out[ob] = w[ot]
            view.set(out)
            total += int(w.size)
    return total


def save_weights(path: str | Path, weights: Weights) -> None:
    """Store trained weights as ``.npz`` (arrays ``<projection>/<field>``)."""
    arrays: dict[str, np.ndarray] = {}
    for name, d in weights.items():
        for f in _FIELDS:
            arrays[f"{name}/{f}"] = np.asarray(d[f])
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]


def load_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read weights written by :func:`save_weights` (no pickle)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            name, _, f = key.rpartition("/")
            if f not in _FIELDS or not name:
                raise ValueError(f"{path}: unexpected array {key!r}")
            out.setdefault(name, {})[f] = z[key]
    for name, d in out.items():
        missing = [f for f in _FIELDS if f not in d]
        if missing:
            raise ValueError(f"{path}: projection {name!r} lacks {missing}")
    return out
