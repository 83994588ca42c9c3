"""The Izhikevich (2003) neuron.

Units: ms and mV as everywhere; currents in the model's own dimensionless units.
Integrated as in the published code: two half steps of v, then one step of u (``w``).
C: ``native/src/models/izh.h``; WGSL: ``shaders/models/izh.wgsl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from spikeforge.model.errors import GenomeError, time_constant
from spikeforge.model.neurons import base as B
from spikeforge.model.neurons.base import F32, F64, I64, Integration, NeuronKernel, NeuronModel

IZH_K2 = np.float32(0.04)
IZH_K1 = np.float32(5.0)
IZH_K0 = np.float32(140.0)
F_IZH_A = B.F_MODEL      # dt_ms * a
F_IZH_B = B.F_MODEL + 1  # b
F_IZH_H = B.F_MODEL + 2  # dt_ms / 2 (half step of v)


@dataclass(frozen=True)
class Izhikevich(NeuronModel):
    """Izhikevich (2003) neuron, ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``.

    Spikes when ``v >= v_peak`` (30 mV); then ``v = c`` and ``u += d``. Integrated as
    in the published code: two half steps of v, then one step of u.
    Use :meth:`preset` for the published cell classes.
    """

    kind: ClassVar[str] = "izhikevich"
    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    v_peak: float = 30.0
    tau_e: float = 5.0
    tau_i: float = 10.0
    bias: float = 0.0

    PRESETS: ClassVar[dict[str, tuple[float, float, float, float]]] = {
        "RS": (0.02, 0.2, -65.0, 8.0),
        "IB": (0.02, 0.2, -55.0, 4.0),
        "CH": (0.02, 0.2, -50.0, 2.0),
        "FS": (0.1, 0.2, -65.0, 2.0),
        "LTS": (0.02, 0.25, -65.0, 2.0),
        "TC": (0.02, 0.25, -65.0, 0.05),
        "RZ": (0.1, 0.26, -65.0, 2.0),
    }

    @classmethod
    def preset(cls, name: str, **overrides: float) -> Izhikevich:
        """Return the published cell class ``name`` (RS, IB, CH, FS, LTS, TC, RZ)."""
        try:
            a, b, c, d = cls.PRESETS[name]
        except KeyError:
            raise GenomeError("preset", f"unknown Izhikevich preset {name!r}; known: {sorted(cls.PRESETS)}") from None
        return cls(a=a, b=b, c=c, d=d, **overrides)

    def validate(self, path: str) -> None:
        super().validate(path)
        time_constant(f"{path}.tau_e", self.tau_e)
        time_constant(f"{path}.tau_i", self.tau_i)



def _fill(model: Izhikevich, dt_ms: float, f: F64, i: I64) -> None:
    f[B.F_VRESET], f[B.F_VTHRESH] = model.c, model.v_peak
    f[B.F_PEE] = B.decay(dt_ms, model.tau_e)
    f[B.F_PII] = B.decay(dt_ms, model.tau_i)
    f[B.F_BIAS] = model.bias
    f[B.F_WJUMP] = model.d
    f[F_IZH_A] = dt_ms * model.a
    f[F_IZH_B] = model.b
    f[F_IZH_H] = dt_ms / 2.0


def _rest(model: Izhikevich) -> tuple[float, float]:
    return model.c, model.b * model.c


def _w_from_v(model: Izhikevich, v: F32) -> F32:
    """u starts at b*v (float32)."""
    return (np.float32(model.b) * v).astype(np.float32)


def _integrate(x: Integration) -> tuple[F32, F32]:
    """Two half steps of v, one step of u; held neurons keep both."""
    col, v, w = x.col, x.v, x.w
    with np.errstate(all="ignore"):
        h = col(F_IZH_H)
        i_izh = (x.ie + x.ii) + x.drive
        v1 = v + h * ((((IZH_K2 * v + IZH_K1) * v + IZH_K0) - w) + i_izh)
        v2 = v1 + h * ((((IZH_K2 * v1 + IZH_K1) * v1 + IZH_K0) - w) + i_izh)
        u = w + col(F_IZH_A) * (col(F_IZH_B) * v2 - w)
    return np.where(x.held, v, v2).astype(np.float32), np.where(x.held, w, u).astype(np.float32)


KERNEL = NeuronKernel(name="izh", models=(Izhikevich,), columns=(("IZH_A", "dt_ms * a"), ("IZH_B", "b"),
                      ("IZH_H", "dt_ms / 2 (half step of v)")), fill=_fill, rest=_rest, integrate=_integrate,
                      w_from_v=_w_from_v)

__all__ = ["F_IZH_A", "F_IZH_B", "F_IZH_H", "IZH_K0", "IZH_K1", "IZH_K2", "KERNEL", "Izhikevich"]
