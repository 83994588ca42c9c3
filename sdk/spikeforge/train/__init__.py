"""Surrogate-gradient training of spikeforge circuits (extra ``[train]``: PyTorch).

Train offline with a differentiable mirror of a circuit that computes the runtime's
exact step (:class:`CircuitMirror`), then deploy the weights into runtime brains
(:func:`apply_weights`) where they reproduce the mirror's spikes bit for bit and keep
learning with the online rules. See ``docs/training.md``.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installation
    raise ModuleNotFoundError("spikeforge.train needs PyTorch: pip install 'spikeforge[train]'",
                              name="torch") from exc

from spikeforge.train.deploy import apply_weights, load_weights, save_weights
from spikeforge.train.fit import FitResult, fit, run_runtime, spike_agreement
from spikeforge.train.mirror import CircuitMirror, MirrorOutput, MirrorState
from spikeforge.train.surrogate import SURROGATES, quantize_ste, spike_fn

__all__ = [
    "SURROGATES",
    "CircuitMirror",
    "FitResult",
    "MirrorOutput",
    "MirrorState",
    "apply_weights",
    "fit",
    "load_weights",
    "quantize_ste",
    "run_runtime",
    "save_weights",
    "spike_agreement",
    "spike_fn",
]
