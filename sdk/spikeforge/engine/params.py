"""The per-population parameter table every kernel reads, and how it is derived.

Each (prototype, population) is one *parameter set*: a row of ``fparams`` (float32)
and of ``iparams`` (int32). Neurons point at their row with ``pid``. The columns are
declared once, in :mod:`spikeforge.model.neurons.base` (shared ones) and in each
model's kernel (model-owned ones); ``native/src/spikeforge_abi.h`` and
``shaders/tables.wgsl`` are generated from them (``python -m spikeforge.engine.gen_tables``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from spikeforge.model.background import Background
from spikeforge.model.errors import INT32_MAX
from spikeforge.model.neurons import KERNELS, kernel_of
from spikeforge.model.neurons.base import (
    F_BIAS,
    F_BURST_INV,
    F_EXCIT,
    F_MODEL,
    F_MODGAIN,
    F_NOISE_A,
    F_NOISE_B,
    F_PEE,
    F_PII,
    F_PMOD,
    F_POIS_P,
    F_POIS_W,
    F_PTH,
    F_PVD,
    F_PVE,
    F_PVI,
    F_PVV,
    F_PVW,
    F_PWW,
    F_THJUMP,
    F_VRESET,
    F_VREST,
    F_VTHRESH,
    F_WJUMP,
    I_BURST_MAX,
    I_CONSEC,
    I_MODEL,
    I_NOISE,
    I_REF_STEPS,
    I_SNOOZE_STEPS,
    NF,
    NI,
    NOISE_GAUSSIAN,
    NOISE_NONE,
    NOISE_UNIFORM,
    NeuronModel,
    steps_of,
)
from spikeforge.model.neurons.izhikevich import F_IZH_A, F_IZH_B, F_IZH_H, IZH_K0, IZH_K1, IZH_K2

MODEL_CODES: dict[str, int] = {k.name.upper(): code for code, k in enumerate(KERNELS)}
MODEL_LIF = MODEL_CODES["LIF"]
MODEL_IZH = MODEL_CODES["IZH"]


def param_row(model: NeuronModel, dt_ms: float, background: Background | None = None
              ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """The ``fparams``/``iparams`` row of one population at step ``dt_ms`` (ms).

    Parameters
    ----------
    model : NeuronModel
        The population's neuron model.
    dt_ms : float
        Step (ms).
    background : Background, optional
        The population's per-step noise current and Poisson drive.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The float32 row (``NF`` columns) and the int32 row (``NI`` columns).
    """
    code, kernel = kernel_of(model)
    f = np.zeros(NF, dtype=np.float64)
    i = np.zeros(NI, dtype=np.int64)
    f[F_PTH] = 1.0
    f[F_PMOD] = 1.0
    f[F_EXCIT] = 1.0
    f[F_PWW] = 1.0
    i[I_MODEL] = code
    kernel.fill(model, dt_ms, f, i)
    if background is not None:
        if background.noise == "uniform":
            i[I_NOISE] = NOISE_UNIFORM
            f[F_NOISE_A], f[F_NOISE_B] = background.low, background.high - background.low
        elif background.noise == "gaussian":
            i[I_NOISE] = NOISE_GAUSSIAN
            f[F_NOISE_A], f[F_NOISE_B] = background.mean, background.std
        if background.rate > 0.0:
            f[F_POIS_P] = background.rate * dt_ms / 1000.0
            f[F_POIS_W] = background.weight
    if np.abs(i).max() > INT32_MAX:  # unreachable for validated models (model/errors.py bounds); never wrap
        raise ValueError(f"parameter row of {type(model).__name__}: an integer column does not fit int32 "
                         f"({i.tolist()})")
    return f.astype(np.float32), i.astype(np.int32)


def rest_state(model: NeuronModel) -> tuple[float, float]:
    """(v, w) a neuron of this model starts from when no ``v_init`` is given."""
    return kernel_of(model)[1].rest(model)


__all__ = [
    "F_BIAS",
    "F_BURST_INV",
    "F_EXCIT",
    "F_IZH_A",
    "F_IZH_B",
    "F_IZH_H",
    "F_MODEL",
    "F_MODGAIN",
    "F_NOISE_A",
    "F_NOISE_B",
    "F_PEE",
    "F_PII",
    "F_PMOD",
    "F_POIS_P",
    "F_POIS_W",
    "F_PTH",
    "F_PVD",
    "F_PVE",
    "F_PVI",
    "F_PVV",
    "F_PVW",
    "F_PWW",
    "F_THJUMP",
    "F_VRESET",
    "F_VREST",
    "F_VTHRESH",
    "F_WJUMP",
    "IZH_K0",
    "IZH_K1",
    "IZH_K2",
    "I_BURST_MAX",
    "I_CONSEC",
    "I_MODEL",
    "I_NOISE",
    "I_REF_STEPS",
    "I_SNOOZE_STEPS",
    "MODEL_CODES",
    "MODEL_IZH",
    "MODEL_LIF",
    "NF",
    "NI",
    "NOISE_GAUSSIAN",
    "NOISE_NONE",
    "NOISE_UNIFORM",
    "param_row",
    "rest_state",
    "steps_of",
]
