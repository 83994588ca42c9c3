"""Why the shaders keep products out of fused multiply-adds (docs/semantics.md, "GPU tolerance").

Real GPUs may contract ``a*b + c`` into a fused multiply-add (NVIDIA does). This emulates
that in numpy (the exact float32 product, one rounding of the sum) on the LIF and
Izhikevich updates of ``numpy_backend.step``: a few ULP for potentials far from 0, many
ULP near 0 (as measured on an H200: 1,280 ULP). So every WGSL product feeding an addition
goes through ``nc()`` with a zero loaded at run time; the last test checks that every
kernel using ``nc`` loads that zero from a buffer (a compile-time zero could be folded).
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


def test_contraction_near_zero_moves_v_by_many_ulp() -> None:
    from spikeforge.model.neurons import AdaptiveLIF

    f, _ = P.param_row(AdaptiveLIF(tau_m=20.0, tau_e=5.0, tau_i=10.0, tau_w=100.0, v_rest=0.0), 0.1)
    vrest, pvv, pve = (f[c] for c in (P.F_VREST, P.F_PVV, P.F_PVE))
    r = np.random.default_rng(5)
    v = r.uniform(-0.01, 0.01, N).astype(np.float32)
    ie = r.uniform(0, 20, N).astype(np.float32)
    ref = (vrest + (v - vrest) * pvv) + ie * pve
    got = fma(ie, pve, (vrest + (v - vrest) * pvv).astype(np.float32))
    assert ulps(got, ref) > 100  # the reason for nc(): a "few ULP" bound does not hold near 0


def test_every_kernel_using_nc_loads_its_zero_at_run_time() -> None:
    from spikeforge.engine import wgpu_backend as G

    common = G.shader_source("common")
    assert "bitcast<u32>(x) ^ NCZ" in common
    used = 0
    for k in G.KERNELS + G.LEARN_KERNELS:
        src = G.shader_source(k)
        if "nc(" in src:
            used += 1
            loads = [ln.strip() for ln in src.splitlines() if ln.strip().startswith("NCZ = ")]
            assert loads, f"{k}.wgsl calls nc() but never sets NCZ"
            # from ctl, a uniform's pad word, or (neuron.wgsl) ctl's word read once per workgroup
            assert all(("ctl[" in ln) or ("sg." in ln) or ("ag." in ln)
                       or ("zk." in ln and "atomicLoad(&ctl[M_ZERO])" in src) for ln in loads), (k, loads)
    assert used >= 4
