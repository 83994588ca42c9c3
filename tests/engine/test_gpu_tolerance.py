"""The basis of the documented GPU tolerance (docs/semantics.md, "GPU tolerance").

Real GPUs may contract ``a*b + c`` into a fused multiply-add. This emulates that in
numpy (the exact float32 product, one rounding of the sum) on the LIF and Izhikevich
updates of ``numpy_backend.step`` and checks the bound the document states: at most a
few ULP, about 1e-5 mV, per step.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from spikeforge.engine import params as P

F32 = npt.NDArray[np.float32]
N = 200_000


def fma(a: F32, b: F32 | np.float32, c: F32) -> F32:
    """a*b + c with one rounding (a float32 product is exact in float64)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)


def ulps(a: F32, b: F32) -> int:
    return int(np.max(np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))))


def state() -> tuple[F32, ...]:
    r = np.random.default_rng(3)
    u = r.uniform
    return tuple(x.astype(np.float32) for x in (u(-70, -50, N), u(0, 20, N), u(-20, 0, N), u(0, 5, N), u(0, 20, N)))


def test_fma_contraction_moves_the_lif_update_by_at_most_2_ulp() -> None:
    from spikeforge.model.neurons import AdaptiveLIF

    f, _ = P.param_row(AdaptiveLIF(tau_m=20.0, tau_e=5.0, tau_i=10.0, tau_w=100.0), 0.1)
    vrest, pvv, pve, pvi, pvw, pvd = (f[c] for c in (P.F_VREST, P.F_PVV, P.F_PVE, P.F_PVI, P.F_PVW, P.F_PVD))
    v, ie, ii, w, drive = state()
    ref = ((((vrest + (v - vrest) * pvv) + ie * pve) + ii * pvi) - w * pvw) + drive * pvd
    t = fma(v - vrest, pvv, np.full(N, vrest, np.float32))
    t = fma(ie, pve, t)
    t = fma(ii, pvi, t)
    t = fma(w, -pvw, t)
    t = fma(drive, pvd, t)
    assert ulps(t, ref) <= 2
    assert float(np.max(np.abs(t.astype(np.float64) - ref))) < 2e-5  # mV
    assert ulps(t, ref) > 0  # the emulation does change something: the bound is not vacuous


def test_fma_contraction_moves_an_izhikevich_half_step_by_at_most_1_ulp() -> None:
    v, ie, ii, w, drive = state()
    h = np.float32(0.05)
    i_izh = (ie + ii) + drive
    ref = v + h * ((((P.IZH_K2 * v + P.IZH_K1) * v + P.IZH_K0) - w) + i_izh)
    q = fma(v, P.IZH_K2, np.full(N, P.IZH_K1, np.float32))
    q = fma(q, v, np.full(N, P.IZH_K0, np.float32))
    got = fma(np.full(N, h, np.float32), (q - w) + i_izh, v)
    assert ulps(got, ref) <= 1
    assert float(np.max(np.abs(got.astype(np.float64) - ref))) < 1e-5  # mV
