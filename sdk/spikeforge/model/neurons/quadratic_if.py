"""The quadratic integrate-and-fire neuron (Latham et al. 2000; Ermentrout & Kopell's theta neuron).

``tau_m dv/dt = k (v - v_rest)(v - v_crit) + i_e + i_i + bias + i_ext``: below
``v_crit`` the membrane relaxes to ``v_rest``; above it, it runs away to ``v_peak``,
where the neuron spikes and ``v`` is reset to ``v_reset``. Forward Euler, one step per
``dt`` (only +, -, * so every backend gives the same bits). Synaptic currents decay
exponentially (``tau_e``, ``tau_i``) as in the LIF family; the FEAGI options
(excitability, consecutive-fire limit, snooze) are shared columns.
C: ``native/src/models/qif.h``; WGSL: ``shaders/models/qif.wgsl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from spikeforge.model.errors import GenomeError, int32, period, positive, time_constant
from spikeforge.model.neurons import base as B
from spikeforge.model.neurons.base import F32, F64, I64, Integration, NeuronKernel, NeuronModel

F_QIF_H = B.F_MODEL       # dt_ms / tau_m
F_QIF_K = B.F_MODEL + 1   # k (1/mV)
F_QIF_VC = B.F_MODEL + 2  # v_crit (mV)


@dataclass(frozen=True)
class QuadraticIF(NeuronModel):
    """Quadratic integrate-and-fire neuron.

    Parameters
    ----------
    tau_m, tau_e, tau_i : float
        Membrane and synaptic time constants (ms).
    v_rest, v_crit : float
        Stable rest and unstable critical potentials (mV), ``v_rest < v_crit``.
    k : float
        Curvature (1/mV): the rheobase drive is ``k (v_crit - v_rest)^2 / 4`` mV.
    v_peak, v_reset : float
        Spike cut-off and reset potentials (mV).
    t_ref : float
        Refractory period (ms).
    bias : float
        Constant drive (mV).
    excitability, consec_limit, snooze
        FEAGI firing options, as on :class:`~spikeforge.model.neurons.lif.LIF`.
    """

    kind: ClassVar[str] = "quadratic_if"
    tau_m: float = 10.0
    tau_e: float = 5.0
    tau_i: float = 10.0
    v_rest: float = -65.0
    v_crit: float = -50.0
    k: float = 0.05
    v_peak: float = 20.0
    v_reset: float = -65.0
    t_ref: float = 2.0
    bias: float = 0.0
    excitability: float = 1.0
    consec_limit: int = 0
    snooze: float = 0.0

    def validate(self, path: str) -> None:
        super().validate(path)
        for name in ("tau_m", "tau_e", "tau_i"):
            time_constant(f"{path}.{name}", getattr(self, name))
        positive(f"{path}.k", self.k)
        period(f"{path}.t_ref", self.t_ref)
        period(f"{path}.snooze", self.snooze)
        int32(f"{path}.consec_limit", self.consec_limit)
        if not 0.0 <= self.excitability <= 1.0:
            raise GenomeError(f"{path}.excitability", f"must be in [0, 1], got {self.excitability!r}")
        if self.v_crit <= self.v_rest:
            raise GenomeError(f"{path}.v_crit", f"must be above v_rest ({self.v_rest}), got {self.v_crit}")
        if self.v_peak <= self.v_crit:
            raise GenomeError(f"{path}.v_peak", f"must be above v_crit ({self.v_crit}), got {self.v_peak}")
        if self.v_reset >= self.v_peak:
            raise GenomeError(f"{path}.v_reset", f"must be below v_peak ({self.v_peak}), got {self.v_reset}")


def _fill(model: QuadraticIF, dt_ms: float, f: F64, i: I64) -> None:
    f[B.F_VREST], f[B.F_VRESET], f[B.F_VTHRESH] = model.v_rest, model.v_reset, model.v_peak
    f[B.F_PEE] = B.decay(dt_ms, model.tau_e)
    f[B.F_PII] = B.decay(dt_ms, model.tau_i)
    f[B.F_BIAS] = model.bias
    f[B.F_EXCIT] = model.excitability
    f[F_QIF_H] = dt_ms / model.tau_m
    f[F_QIF_K] = model.k
    f[F_QIF_VC] = model.v_crit
    i[B.I_REF_STEPS] = B.steps_of(model.t_ref, dt_ms)
    i[B.I_CONSEC] = model.consec_limit
    i[B.I_SNOOZE_STEPS] = round(model.snooze / dt_ms)


def _rest(model: QuadraticIF) -> tuple[float, float]:
    return model.v_rest, 0.0


def _integrate(x: Integration) -> tuple[F32, F32]:
    """``v + h * (((k * (v - v_rest)) * (v - v_crit) + (ie + ii)) + drive)``; w is kept."""
    col, v = x.col, x.v
    with np.errstate(all="ignore"):
        dv = ((col(F_QIF_K) * (v - col(B.F_VREST))) * (v - col(F_QIF_VC)) + (x.ie + x.ii)) + x.drive
        v1 = v + col(F_QIF_H) * dv
    return np.where(x.held, v, v1).astype(np.float32), x.w


KERNEL = NeuronKernel(name="qif", models=(QuadraticIF,), columns=(("QIF_H", "dt_ms / tau_m"), ("QIF_K", "k (1/mV)"),
                      ("QIF_VC", "v_crit (mV)")), fill=_fill, rest=_rest, integrate=_integrate,
                      keeps_w=lambda f: False)  # v never reads w

__all__ = ["F_QIF_H", "F_QIF_K", "F_QIF_VC", "KERNEL", "QuadraticIF"]
