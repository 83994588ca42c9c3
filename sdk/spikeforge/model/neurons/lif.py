"""The LIF family: :class:`LIF`, :class:`AdaptiveLIF` and FLUX's :class:`ModulatedLIF`.

Units: time constants and periods in milliseconds (ms), membrane potentials in
millivolts (mV). Synaptic and external currents are expressed as voltage drive (mV,
i.e. R*I, as in the CUBA network).

One kernel (``lif``) simulates all three: exact exponential integration of ``v`` with
exponentially decaying synaptic currents and adaptation; the FEAGI options
(excitability, consecutive-fire limit, snooze) and FLUX's habituation, modulator and
bursts are columns of the shared parameter table.
C: ``native/src/models/lif.h``; WGSL: ``shaders/models/lif.wgsl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from spikeforge.model.errors import GenomeError, int32, nonneg, period, time_constant
from spikeforge.model.neurons import base as B
from spikeforge.model.neurons.base import F32, F64, I64, Integration, NeuronKernel, NeuronModel


@dataclass(frozen=True)
class LIF(NeuronModel):
    """Current-based leaky integrate-and-fire neuron.

    ``tau_m dv/dt = -(v - v_rest) + i_e + i_i + bias + i_ext``, with exponentially
    decaying excitatory (``tau_e``) and inhibitory (``tau_i``) synaptic currents.
    Integrated exactly (closed-form propagators). On ``v >= v_thresh + theta`` the
    neuron spikes, ``v`` is reset to ``v_reset`` and held there for ``t_ref``.

    Parameters
    ----------
    tau_m, tau_e, tau_i : float
        Membrane and synaptic time constants (ms).
    v_rest, v_reset, v_thresh : float
        Resting (leak reversal), reset and threshold potentials (mV).
    t_ref : float
        Refractory period (ms): the neuron is not integrated for steps strictly
        inside ``(t_spike, t_spike + t_ref)``.
    bias : float
        Constant drive (mV of R*I).
    excitability : float
        FEAGI firing probability in [0, 1] when above threshold (drawn from the
        brain's seeded RNG stream).
    consec_limit : int
        FEAGI consecutive-fire limit; 0 disables. After firing on this many
        consecutive steps the neuron snoozes.
    snooze : float
        FEAGI snooze period (ms) after hitting ``consec_limit``.
    """

    kind: ClassVar[str] = "lif"
    tau_m: float = 20.0
    tau_e: float = 5.0
    tau_i: float = 10.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    t_ref: float = 2.0
    bias: float = 0.0
    excitability: float = 1.0
    consec_limit: int = 0
    snooze: float = 0.0

    def validate(self, path: str) -> None:
        super().validate(path)
        for name in ("tau_m", "tau_e", "tau_i"):
            time_constant(f"{path}.{name}", getattr(self, name))
        period(f"{path}.t_ref", self.t_ref)
        period(f"{path}.snooze", self.snooze)
        int32(f"{path}.consec_limit", self.consec_limit)
        if not 0.0 <= self.excitability <= 1.0:
            raise GenomeError(f"{path}.excitability", f"must be in [0, 1], got {self.excitability!r}")
        if self.v_reset >= self.v_thresh:
            raise GenomeError(f"{path}.v_reset", f"must be below v_thresh ({self.v_thresh}), got {self.v_reset}")


@dataclass(frozen=True)
class AdaptiveLIF(LIF):
    """LIF with a spike-triggered adaptation current.

    ``w`` jumps by ``b`` (mV) at each spike, decays with ``tau_w`` (ms), and is
    subtracted from the drive: ``tau_m dv/dt = ... - w``.
    """

    kind: ClassVar[str] = "adaptive_lif"
    tau_w: float = 100.0
    b: float = 2.0

    def validate(self, path: str) -> None:
        super().validate(path)
        time_constant(f"{path}.tau_w", self.tau_w)
        nonneg(f"{path}.b", self.b)


@dataclass(frozen=True)
class ModulatedLIF(LIF):
    """FLUX's modulated LIF: habituation, modulatory potentiation, overshoot bursts.

    Parameters
    ----------
    habituation : float
        Threshold increment (mV) per spike; the offset ``theta`` relaxes back to 0
        with ``tau_habituation`` (ms).
    tau_habituation : float
        Relaxation time of the threshold offset (ms).
    mod_gain : float
        Excitatory input is multiplied by ``1 + mod_gain * mod`` where ``mod`` is the
        neuron's modulator level (fed by modulatory synapses, decaying with
        ``tau_mod`` ms).
    tau_mod : float
        Decay time of the modulator level (ms).
    burst_overshoot : float
        When ``v`` exceeds the threshold by at least this much (mV) the neuron emits
        ``floor(overshoot / burst_overshoot)`` extra spikes on the following steps,
        at most ``burst_max``. 0 disables bursts.
    burst_max : int
        Longest extra spike train.
    """

    kind: ClassVar[str] = "modulated_lif"
    habituation: float = 1.0
    tau_habituation: float = 200.0
    mod_gain: float = 1.0
    tau_mod: float = 50.0
    burst_overshoot: float = 5.0
    burst_max: int = 3

    def validate(self, path: str) -> None:
        super().validate(path)
        nonneg(f"{path}.habituation", self.habituation)
        time_constant(f"{path}.tau_habituation", self.tau_habituation)
        time_constant(f"{path}.tau_mod", self.tau_mod)
        nonneg(f"{path}.burst_overshoot", self.burst_overshoot)
        int32(f"{path}.burst_max", self.burst_max)



def _fill(model: LIF, dt_ms: float, f: F64, i: I64) -> None:
    f[B.F_VREST], f[B.F_VRESET], f[B.F_VTHRESH] = model.v_rest, model.v_reset, model.v_thresh
    f[B.F_PVV] = B.decay(dt_ms, model.tau_m)
    f[B.F_PVD] = 1.0 - f[B.F_PVV]
    f[B.F_PVE] = B.coupling(dt_ms, model.tau_m, model.tau_e)
    f[B.F_PVI] = B.coupling(dt_ms, model.tau_m, model.tau_i)
    f[B.F_PEE] = B.decay(dt_ms, model.tau_e)
    f[B.F_PII] = B.decay(dt_ms, model.tau_i)
    f[B.F_BIAS] = model.bias
    f[B.F_EXCIT] = model.excitability
    i[B.I_REF_STEPS] = B.steps_of(model.t_ref, dt_ms)
    i[B.I_CONSEC] = model.consec_limit
    i[B.I_SNOOZE_STEPS] = round(model.snooze / dt_ms)
    if isinstance(model, AdaptiveLIF):
        f[B.F_PVW] = B.coupling(dt_ms, model.tau_m, model.tau_w)
        f[B.F_PWW] = B.decay(dt_ms, model.tau_w)
        f[B.F_WJUMP] = model.b
    if isinstance(model, ModulatedLIF):
        f[B.F_PTH] = B.decay(dt_ms, model.tau_habituation)
        f[B.F_THJUMP] = model.habituation
        f[B.F_PMOD] = B.decay(dt_ms, model.tau_mod)
        f[B.F_MODGAIN] = model.mod_gain
        f[B.F_BURST_INV] = 0.0 if model.burst_overshoot == 0 else min(1.0 / model.burst_overshoot, 3.0e38)
        i[B.I_BURST_MAX] = model.burst_max


def _rest(model: LIF) -> tuple[float, float]:
    return model.v_rest, 0.0


def _integrate(x: Integration) -> tuple[F32, F32]:
    """Exact exponential step of v (held neurons keep v); w decays."""
    col, v, w = x.col, x.v, x.w
    vrest = col(B.F_VREST)
    with np.errstate(all="ignore"):
        v_lif = vrest + (v - vrest) * col(B.F_PVV) + x.ie * col(B.F_PVE) + x.ii * col(B.F_PVI) \
            - w * col(B.F_PVW) + x.drive * col(B.F_PVD)
        w_new = w * col(B.F_PWW)
    return np.where(x.held, v, v_lif).astype(np.float32), w_new.astype(np.float32)


def _keeps_w(f: F32) -> bool:
    """w matters only with adaptation: it starts at 0 and moves only by ``WJUMP`` at a spike, and
    ``v`` reads it only through ``PVW``."""
    return bool(f[B.F_PVW] != 0 or f[B.F_WJUMP] != 0)


KERNEL = NeuronKernel(name="lif", models=(LIF, AdaptiveLIF, ModulatedLIF), columns=(), fill=_fill, rest=_rest,
                      integrate=_integrate, keeps_w=_keeps_w)

__all__ = ["KERNEL", "LIF", "AdaptiveLIF", "ModulatedLIF"]
