"""Neuron models: one module per model family, and the registry of kernels.

Each module (``lif``, ``izhikevich``, ``quadratic_if``) declares its parameter
dataclasses and its :class:`~spikeforge.model.neurons.base.NeuronKernel` (parameter
row, rest state, numpy integration); its C and WGSL halves live in
``native/src/models/<name>.h`` and ``shaders/models/<name>.wgsl``. ``KERNELS`` below is
the registry: a kernel's position is its model code in the parameter table (never
reorder, only append). See ``docs/adding-a-neuron-model.md``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from spikeforge.model.errors import GenomeError
from spikeforge.model.neurons import izhikevich, lif, quadratic_if
from spikeforge.model.neurons.base import NeuronKernel, NeuronModel
from spikeforge.model.neurons.izhikevich import Izhikevich
from spikeforge.model.neurons.lif import LIF, AdaptiveLIF, ModulatedLIF
from spikeforge.model.neurons.quadratic_if import QuadraticIF

# The registry: one line per kernel; position = model code (append only).
KERNELS: tuple[NeuronKernel, ...] = (
    lif.KERNEL,
    izhikevich.KERNEL,
    quadratic_if.KERNEL,
)

MODELS: dict[str, type[NeuronModel]] = {m.kind: m for k in KERNELS for m in k.models}
_CODE: dict[type[NeuronModel], int] = {m: code for code, k in enumerate(KERNELS) for m in k.models}


def kernel_of(model: NeuronModel) -> tuple[int, NeuronKernel]:
    """(model code, kernel) simulating ``model``."""
    try:
        code = _CODE[type(model)]
    except KeyError:
        raise TypeError(f"no kernel simulates neuron model {type(model).__name__}; known: {sorted(MODELS)}") from None
    return code, KERNELS[code]


def model_from_dict(d: Any, path: str) -> NeuronModel:
    """Build a neuron model from its genome dict, naming the field on error."""
    if not isinstance(d, dict):
        raise GenomeError(path, f"must be an object, got {type(d).__name__}")
    kind = d.get("model")
    if kind not in MODELS:
        raise GenomeError(f"{path}.model", f"unknown model {kind!r}; known: {sorted(MODELS)}")
    cls = MODELS[kind]
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if key == "model":
            continue
        if key not in names:
            raise GenomeError(f"{path}.{key}", f"unknown parameter for model {kind!r}")
        kwargs[key] = value
    model = cls(**kwargs)
    model.validate(path)
    return model


__all__ = [
    "KERNELS",
    "LIF",
    "MODELS",
    "AdaptiveLIF",
    "Izhikevich",
    "ModulatedLIF",
    "NeuronKernel",
    "NeuronModel",
    "QuadraticIF",
    "kernel_of",
    "model_from_dict",
]
