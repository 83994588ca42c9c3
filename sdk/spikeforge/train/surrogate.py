"""Surrogate spike functions: a Heaviside forward with a smooth backward.

A spike is ``v >= thr``; its derivative is zero almost everywhere, so gradient
training replaces it in the backward pass by the derivative of a smooth step
``sigma(x)``, ``x = v - thr`` in mV (Neftci, Mostafa & Zenke 2019). Two are offered:

* ``"fast_sigmoid"`` (SuperSpike, Zenke & Ganguli 2018):
  ``sigma(x) = 0.5 + 0.5 * k x / (1 + k |x|)``, ``sigma'(x) = 0.5 k / (1 + k |x|)^2``;
* ``"arctan"`` (Fang et al. 2021): ``sigma(x) = 0.5 + atan(pi k x / 2) / pi``,
  ``sigma'(x) = (k / 2) / (1 + (pi k x / 2)^2)``.

``k`` is the slope in 1/mV. ``sigma`` integrates its backward exactly, which the
finite-difference tests use (``smooth=True`` runs the forward through ``sigma``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

SurrogateKind = Literal["fast_sigmoid", "arctan"]
SURROGATES: tuple[str, ...] = ("fast_sigmoid", "arctan")


def surrogate_primitive(x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
    """The smooth step ``sigma(x)`` whose derivative is the surrogate gradient."""
    if kind == "fast_sigmoid":
        return 0.5 + 0.5 * (slope * x) / (1.0 + slope * x.abs())
    if kind == "arctan":
        return 0.5 + torch.atan((0.5 * math.pi * slope) * x) / math.pi
    raise ValueError(f"surrogate: must be one of {SURROGATES}, got {kind!r}")


def surrogate_derivative(x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
    """``sigma'(x)`` (1/mV)."""
    if kind == "fast_sigmoid":
        return (0.5 * slope) / (1.0 + slope * x.abs()) ** 2
    if kind == "arctan":
        return (0.5 * slope) / (1.0 + ((0.5 * math.pi * slope) * x) ** 2)
    raise ValueError(f"surrogate: must be one of {SURROGATES}, got {kind!r}")


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, thr: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
        ctx.save_for_backward(v, thr)
        ctx.kind, ctx.slope = kind, slope
        return (v >= thr).to(v.dtype)  # exactly the runtime's comparison (no subtraction)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        (g,) = grads
        v, thr = ctx.saved_tensors
        d = g * surrogate_derivative(v - thr, ctx.kind, ctx.slope)
        gthr = -d
        if thr.shape != d.shape:  # thr was broadcast: reduce to its shape
            gthr = gthr.sum_to_size(thr.shape)
        return d, gthr, None, None


def spike_fn(v: torch.Tensor, thr: torch.Tensor, kind: str = "fast_sigmoid", slope: float = 1.0,
             smooth: bool = False) -> torch.Tensor:
    """Spikes ``float(v >= thr)`` with the surrogate gradient of ``kind``.

    Parameters
    ----------
    v, thr : Tensor
        Membrane potential and threshold (mV), broadcastable.
    kind : {"fast_sigmoid", "arctan"}
    slope : float
        Steepness ``k`` (1/mV).
    smooth : bool
        Return ``sigma(v - thr)`` itself (for gradient checks), not the Heaviside step.
    """
    if kind not in SURROGATES:
        raise ValueError(f"surrogate: must be one of {SURROGATES}, got {kind!r}")
    if smooth:
        return surrogate_primitive(v - thr, kind, slope)
    out: torch.Tensor = _SpikeFn.apply(v, thr, kind, slope)  # type: ignore[no-untyped-call]
    return out


class _QuantizeSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, w: torch.Tensor) -> torch.Tensor:
        return torch.round(w * 65536.0) / 65536.0  # round half to even, as the runtime

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        return grads[0]


def quantize_ste(w: torch.Tensor) -> torch.Tensor:
    """Weights as the runtime stores their input (multiples of ``2^-16`` mV), with a
    straight-through gradient (identity backward)."""
    out: torch.Tensor = _QuantizeSTE.apply(w)  # type: ignore[no-untyped-call]
    return out
