"""The per-population parameter table every kernel reads, and how it is derived.

Each (prototype, population) is one *parameter set*: a row of ``fparams`` (float32)
and of ``iparams`` (int32). Neurons point at their row with ``pid``. All exponentials
are evaluated here, once, in float64 and rounded to float32, so kernels use only
+, -, * and comparisons (bit-identical on every backend).

The column numbers are part of the kernel ABI: ``native/src/spikeforge_abi.h`` and
``shaders/`` use the same numbers (a test checks they agree).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from spikeforge.model.neurons import LIF, AdaptiveLIF, Izhikevich, ModulatedLIF, NeuronModel

MODEL_LIF = 0
MODEL_IZH = 1

# float32 columns
F_VREST = 0       # LIF leak reversal (mV)
F_VRESET = 1      # reset potential (mV); Izhikevich c
F_VTHRESH = 2     # threshold (mV); Izhikevich v_peak
F_PVV = 3         # exp(-dt/tau_m)
F_PVE = 4         # propagator i_e -> v
F_PVI = 5         # propagator i_i -> v
F_PVW = 6         # propagator w -> v (adaptation, subtracted)
F_PVD = 7         # 1 - exp(-dt/tau_m): constant drive -> v
F_PEE = 8         # exp(-dt/tau_e)
F_PII = 9         # exp(-dt/tau_i)
F_PWW = 10        # exp(-dt/tau_w)
F_PTH = 11        # exp(-dt/tau_habituation)
F_PMOD = 12       # exp(-dt/tau_mod)
F_MODGAIN = 13    # excitatory input gain per unit modulator
F_BIAS = 14       # constant drive
F_WJUMP = 15      # w += at spike (adaptation b; Izhikevich d)
F_THJUMP = 16     # theta += at spike (habituation)
F_EXCIT = 17      # firing probability when above threshold
F_BURST_INV = 18  # 1 / burst_overshoot (0: no bursts)
F_IZH_A = 19      # dt_ms * a
F_IZH_B = 20      # b
F_IZH_H = 21      # dt_ms / 2 (half step of v)
NF = 22

# int32 columns
I_MODEL = 0
I_REF_STEPS = 1
I_CONSEC = 2
I_SNOOZE_STEPS = 3
I_BURST_MAX = 4
NI = 5

IZH_K2 = np.float32(0.04)
IZH_K1 = np.float32(5.0)
IZH_K0 = np.float32(140.0)


def _decay(dt: float, tau: float) -> float:
    return math.exp(-dt / tau)


def _coupling(dt: float, tau_m: float, tau_x: float) -> float:
    """Exact propagator of an exponential current (tau_x) into v (tau_m) over dt."""
    if abs(tau_x - tau_m) <= 1e-9 * tau_m:
        return (dt / tau_m) * math.exp(-dt / tau_m)
    return tau_x / (tau_x - tau_m) * (math.exp(-dt / tau_x) - math.exp(-dt / tau_m))


def steps_of(period_ms: float, dt_ms: float) -> int:
    """Whole steps strictly inside a period after the spike step: ceil(period/dt) - 1."""
    if period_ms <= 0:
        return 0
    return max(0, math.ceil(period_ms / dt_ms - 1e-6) - 1)


def param_row(model: NeuronModel, dt_ms: float) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """The ``fparams``/``iparams`` row of one population at step ``dt_ms``."""
    f = np.zeros(NF, dtype=np.float64)
    i = np.zeros(NI, dtype=np.int64)
    f[F_PTH] = 1.0
    f[F_PMOD] = 1.0
    f[F_EXCIT] = 1.0
    f[F_PWW] = 1.0
    if isinstance(model, LIF):
        i[I_MODEL] = MODEL_LIF
        f[F_VREST], f[F_VRESET], f[F_VTHRESH] = model.v_rest, model.v_reset, model.v_thresh
        f[F_PVV] = _decay(dt_ms, model.tau_m)
        f[F_PVD] = 1.0 - f[F_PVV]
        f[F_PVE] = _coupling(dt_ms, model.tau_m, model.tau_e)
        f[F_PVI] = _coupling(dt_ms, model.tau_m, model.tau_i)
        f[F_PEE] = _decay(dt_ms, model.tau_e)
        f[F_PII] = _decay(dt_ms, model.tau_i)
        f[F_BIAS] = model.bias
        f[F_EXCIT] = model.excitability
        i[I_REF_STEPS] = steps_of(model.t_ref, dt_ms)
        i[I_CONSEC] = model.consec_limit
        i[I_SNOOZE_STEPS] = round(model.snooze / dt_ms)
        if isinstance(model, AdaptiveLIF):
            f[F_PVW] = _coupling(dt_ms, model.tau_m, model.tau_w)
            f[F_PWW] = _decay(dt_ms, model.tau_w)
            f[F_WJUMP] = model.b
        if isinstance(model, ModulatedLIF):
            f[F_PTH] = _decay(dt_ms, model.tau_habituation)
            f[F_THJUMP] = model.habituation
            f[F_PMOD] = _decay(dt_ms, model.tau_mod)
            f[F_MODGAIN] = model.mod_gain
            f[F_BURST_INV] = 0.0 if model.burst_overshoot == 0 else min(1.0 / model.burst_overshoot, 3.0e38)
            i[I_BURST_MAX] = model.burst_max
    elif isinstance(model, Izhikevich):
        i[I_MODEL] = MODEL_IZH
        f[F_VRESET], f[F_VTHRESH] = model.c, model.v_peak
        f[F_PEE] = _decay(dt_ms, model.tau_e)
        f[F_PII] = _decay(dt_ms, model.tau_i)
        f[F_BIAS] = model.bias
        f[F_WJUMP] = model.d
        f[F_IZH_A] = dt_ms * model.a
        f[F_IZH_B] = model.b
        f[F_IZH_H] = dt_ms / 2.0
    else:  # pragma: no cover - validated upstream
        raise TypeError(f"unknown neuron model {model!r}")
    return f.astype(np.float32), i.astype(np.int32)


def rest_state(model: NeuronModel) -> tuple[float, float]:
    """(v, w) a neuron of this model starts from when no ``v_init`` is given."""
    if isinstance(model, Izhikevich):
        return model.c, model.b * model.c
    assert isinstance(model, LIF)
    return model.v_rest, 0.0
