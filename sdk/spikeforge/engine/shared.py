"""Shared (population-level) learning: combine the weight changes of a group of brains.

A learning group (:class:`spikeforge.runtime.sharing.LearningGroup`) makes several brains of
one circuit learn as one learner: each brain's plasticity runs as usual inside the step (its
own traces, eligibility, dopamine), and after every ``World.step``/``advance`` the changes
the members made to their plastic weights are combined into one update, written back to
every member. This module is the kernel (numpy, vectorized over the group: no per-brain or
per-synapse Python); it works on the layout's host arrays, so every host backend (numpy,
native) runs the same code and gets the same bits, and a device backend runs it between a
``pull_state`` and a ``push_state``.

THE COMBINE, exactly (the specification every port follows)
-----------------------------------------------------------
Inputs: ``W`` the members' weights, shape ``(M, S)`` float32 (member ``m``'s ``k``-th shared
synapse), ``r`` the group's weights after the previous combine, shape ``(S,)`` float32, the
bounds ``lo``, ``hi`` (S,) float32 of each synapse's rule, and the mode (mean or sum).

1. ``d[m, k] = float64(W[m, k]) - float64(r[k])`` (IEEE double subtraction).
2. ``A = max |d|``; if ``A == 0`` nothing changed: stop. ``E`` = the exponent with
   ``2**(E-1) <= A < 2**E`` (``frexp``), ``B`` = the bit length of ``M``, and
   ``s = 53 - E - B``, so that ``M * 2**(E+s) <= 2**53``.
3. ``q[m, k] = rint(ldexp(d[m, k], s))`` (round half to even: an integer of magnitude
   ``<= 2**(53-B)``), and ``T[k] = sum over m of q[m, k]`` in float64. Every partial sum is an
   integer of magnitude below ``2**53``, so every addition is exact: ``T`` does not depend on
   the order of the members or of the summation (it is the integer sum).
4. mean: ``c[k] = ldexp(T[k] / M, -s)``; sum: ``c[k] = ldexp(T[k], -s)``.
5. ``w[k] = float32(float64(r[k]) + c[k])`` (round to nearest), then ``w[k] = lo[k]`` where
   ``w[k] < lo[k]`` and ``w[k] = hi[k]`` where ``w[k] > hi[k]``.
6. ``W[m, k] = w[k]`` for every member, ``r[k] = w[k]``.

The fixed-point step ``2**-s`` follows the largest change: the quantisation error is at most
``2**-(s+1) <= A * 2**-(53-B)`` (``A * 2**-47`` for 32 members), seven orders of magnitude below
a float32 ulp of a weight of the size of the largest change. When every member made the same
change (e.g. the same weights written into all of them) the combine gives exactly those
weights wherever the change is a multiple of ``2**-s``: always when the smaller of the old and
the new weight is above ``A * 2**(B-29)`` in magnitude (``A * 6e-8`` for 32 members), since a
float32 difference is a multiple of the smaller value's ulp.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

COMBINE_MODES = ("mean", "sum")
"""``mean``: the group's change is the mean of its members' changes (one learner whose step is
the average over the population: the learning rate of one brain). ``sum``: their sum (one
learner that took every member's step: the learning rate times the number of members)."""


def combine_changes(W: npt.NDArray[np.float32], ref: F32, lo: F32, hi: F32, mode: str = "mean") -> F32 | None:
    """The group's new weights from the members' weights ``W`` (M, S) and the group's previous
    weights ``ref`` (S,): steps 1-5 of the module docstring.

    Parameters
    ----------
    W : ndarray of float32, shape (M, S)
        Each member's current weights of the shared synapses (M >= 1).
    ref : ndarray of float32, shape (S,)
        The group's weights after the previous combine (every member had them then).
    lo, hi : ndarray of float32, shape (S,)
        The weight bounds of each synapse's rule (``w_min``, ``w_max``).
    mode : {"mean", "sum"}
        How the members' changes combine (:data:`COMBINE_MODES`).

    Returns
    -------
    ndarray of float32, shape (S,), or None
        The new weights every member gets; None when no member changed any weight.

    Raises
    ------
    ValueError
        For an unknown ``mode``, mismatched shapes or a non-finite weight.
    """
    if mode not in COMBINE_MODES:
        raise ValueError(f"mode: must be one of {COMBINE_MODES}, got {mode!r}")
    if W.ndim != 2 or W.shape[1:] != ref.shape or lo.shape != ref.shape or hi.shape != ref.shape or W.shape[0] < 1:
        raise ValueError(f"W: expected shape (M >= 1, {ref.size}) against ref {ref.shape}, lo {lo.shape}, "
                         f"hi {hi.shape}; got {W.shape}")
    r64 = ref.astype(np.float64)
    d = W.astype(np.float64)
    d -= r64
    if d.size == 0:
        return None
    big = max(float(d.max()), -float(d.min()))
    if big == 0.0:
        return None
    if not math.isfinite(big):
        bad = np.argwhere(~np.isfinite(d))[0]
        raise ValueError(f"W: member row {int(bad[0])}, shared synapse {int(bad[1])} has weight "
                         f"{float(W[bad[0], bad[1]])!r}; a learning group combines finite weights only")
    M = int(W.shape[0])
    s = 53 - math.frexp(big)[1] - M.bit_length()
    np.ldexp(d, s, out=d)
    np.rint(d, out=d)
    T = d.sum(axis=0)  # integers below 2**53 in magnitude: exact in any order
    if mode == "mean":
        T /= M
    np.ldexp(T, -s, out=T)
    T += r64
    w: F32 = T.astype(np.float32)
    np.maximum(w, lo, out=w)
    np.minimum(w, hi, out=w)
    return w
