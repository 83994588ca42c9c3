"""The base of every neuron model and the parameter table all kernels read.

A neuron model is two things, both declared in the model's own module
(``spikeforge/model/neurons/<model>.py``):

* a frozen dataclass of parameters (what a genome stores), subclass of
  :class:`NeuronModel`;
* a :class:`NeuronKernel`: how its parameters become one row of the parameter
  table, the state it starts from, and its *integration* (the numpy specification of
  how ``v`` and ``w`` move in one step). Everything else in a step (delivery, gap
  junctions, threshold, FEAGI excitability / consecutive-fire / snooze, FLUX bursts,
  habituation, learning) is shared by every model and lives in the engine.

The C loop (``native/src/models/<name>.h``) and the WGSL function
(``shaders/models/<name>.wgsl``) of a kernel perform the same float32 operations in
the same order; ``docs/adding-a-neuron-model.md`` walks through adding one.

The parameter table: each (prototype, population) is a row of ``fparams`` (float32,
``NF`` columns) and ``iparams`` (int32, ``NI`` columns). Columns ``0 .. F_MODEL - 1``
are shared (every model fills what it uses); columns from ``F_MODEL`` on belong to the
row's model (``MODEL_COLUMNS`` at most), named by its kernel. All exponentials are
evaluated here in float64 and rounded to float32 once, so kernels use only +, -, *,
comparisons and floor. The C header and the WGSL constants are generated from this
module (``python -m spikeforge.engine.gen_tables``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from spikeforge.model.errors import number

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]

# Shared float32 columns: (name, meaning). Column number = position.
SHARED_FCOLUMNS: tuple[tuple[str, str], ...] = (
    ("VREST", "leak reversal / resting potential (mV)"),
    ("VRESET", "reset potential (mV)"),
    ("VTHRESH", "spike threshold or peak (mV)"),
    ("PVV", "exp(-dt/tau_m)"),
    ("PVE", "propagator i_e -> v"),
    ("PVI", "propagator i_i -> v"),
    ("PVW", "propagator w -> v (adaptation, subtracted)"),
    ("PVD", "1 - exp(-dt/tau_m): constant drive -> v"),
    ("PEE", "exp(-dt/tau_e)"),
    ("PII", "exp(-dt/tau_i)"),
    ("PWW", "exp(-dt/tau_w)"),
    ("PTH", "exp(-dt/tau_habituation)"),
    ("PMOD", "exp(-dt/tau_mod)"),
    ("MODGAIN", "excitatory input gain per unit modulator"),
    ("BIAS", "constant drive"),
    ("WJUMP", "w += at spike (adaptation b; Izhikevich d)"),
    ("THJUMP", "theta += at spike (habituation)"),
    ("EXCIT", "firing probability when above threshold (FEAGI excitability)"),
    ("BURST_INV", "1 / burst_overshoot (0: no bursts)"),
    ("NOISE_A", "background noise current: uniform low / gaussian mean (drive units)"),
    ("NOISE_B", "background noise current: uniform high - low / gaussian std (drive units)"),
    ("POIS_P", "background Poisson drive: event probability per step (rate * dt)"),
    ("POIS_W", "background Poisson drive: added to ie per event (drive units)"),
)
# Shared int32 columns.
ICOLUMNS: tuple[tuple[str, str], ...] = (
    ("MODEL", "kernel code of the row's model (registry position)"),
    ("REF_STEPS", "refractory steps after a spike"),
    ("CONSEC", "FEAGI consecutive-fire limit (0: off)"),
    ("SNOOZE_STEPS", "FEAGI snooze steps after hitting the limit"),
    ("BURST_MAX", "longest FLUX burst train"),
    ("NOISE", "background noise current kind: 0 none, 1 uniform, 2 gaussian"),
)
MODEL_COLUMNS = 3  # float32 columns a model may own, from F_MODEL on

(F_VREST, F_VRESET, F_VTHRESH, F_PVV, F_PVE, F_PVI, F_PVW, F_PVD, F_PEE, F_PII, F_PWW, F_PTH, F_PMOD,
 F_MODGAIN, F_BIAS, F_WJUMP, F_THJUMP, F_EXCIT, F_BURST_INV, F_NOISE_A, F_NOISE_B, F_POIS_P,
 F_POIS_W) = range(len(SHARED_FCOLUMNS))
F_MODEL = len(SHARED_FCOLUMNS)
NF = F_MODEL + MODEL_COLUMNS
I_MODEL, I_REF_STEPS, I_CONSEC, I_SNOOZE_STEPS, I_BURST_MAX, I_NOISE = range(len(ICOLUMNS))
NOISE_NONE, NOISE_UNIFORM, NOISE_GAUSSIAN = 0, 1, 2
GAUSS_DRAWS = 12  # gaussian noise: sum of 12 uniform draws minus 6 (Irwin-Hall)
NI = len(ICOLUMNS)


@dataclass(frozen=True)
class NeuronModel:
    """Base of all neuron models. Subclasses are frozen dataclasses of parameters."""

    kind: ClassVar[str]

    def validate(self, path: str) -> None:
        """Raise :class:`GenomeError` naming ``path.field`` for a bad parameter."""
        for f in fields(self):
            number(f"{path}.{f.name}", getattr(self, f.name))

    def to_dict(self) -> dict[str, Any]:
        """The genome form: ``{"model": kind, <parameter>: value, ...}``."""
        d: dict[str, Any] = {"model": self.kind}
        for f in fields(self):
            d[f.name] = getattr(self, f.name)
        return d


Column = Callable[[int], F32]
"""``col(c)``: the float32 value of parameter column ``c`` for every neuron being updated."""


@dataclass(frozen=True)
class Integration:
    """Inputs of one model's integration, one float32 value per neuron (numpy spec).

    ``ie``/``ii`` already hold this step's delivery; ``drive`` is
    ``(bias + iext) + igap``; ``held`` marks refractory/snoozing neurons.
    """

    v: F32
    w: F32
    ie: F32
    ii: F32
    drive: F32
    held: BoolA
    col: Column


@dataclass(frozen=True)
class NeuronKernel:
    """How the engine simulates one family of neuron models.

    Attributes
    ----------
    name : str
        Identifier in C (``sf_integrate_<name>``, ``native/src/models/<name>.h``) and
        WGSL (``integrate_<name>``, ``shaders/models/<name>.wgsl``).
    models : tuple of type
        The parameter dataclasses this kernel simulates.
    columns : tuple of (str, str)
        Model-owned float32 columns (name, meaning), numbered from ``F_MODEL``; the
        generated constant is ``F_<NAME>``.
    fill : callable
        ``fill(model, dt_ms, f, i)`` writes the row (float64 ``f``, int64 ``i``, already
        holding the neutral defaults).
    rest : callable
        ``rest(model) -> (v, w)``: the state a neuron starts from without ``v_init``.
    integrate : callable
        ``integrate(x: Integration) -> (v, w)``: new ``v`` and ``w`` (float32) before
        threshold; must keep ``v`` of held neurons.
    w_from_v : callable or None
        With a ``v_init``: the initial ``w`` from the drawn ``v`` (default: ``rest``'s w).
    keeps_w : callable or None
        ``keeps_w(f) -> bool`` for a float32 parameter row ``f``: whether a population with it
        keeps ``w`` (its ``integrate`` reads ``w``, or moves it off its initial ``+0``); a
        population that does not stores no ``w`` (``engine.layout.population_state``). None: every
        population of the model keeps ``w`` (the safe default for a new model).
    """

    name: str
    models: tuple[type[NeuronModel], ...]
    columns: tuple[tuple[str, str], ...]
    fill: Callable[[Any, float, F64, I64], None]
    rest: Callable[[Any], tuple[float, float]]
    integrate: Callable[[Integration], tuple[F32, F32]]
    w_from_v: Callable[[Any, F32], F32] | None = None
    keeps_w: Callable[[F32], bool] | None = None

    def __post_init__(self) -> None:
        if len(self.columns) > MODEL_COLUMNS:
            raise ValueError(f"kernel {self.name!r}: {len(self.columns)} model columns, at most {MODEL_COLUMNS}")


def decay(dt: float, tau: float) -> float:
    """exp(-dt/tau) in float64."""
    return math.exp(-dt / tau)


def coupling(dt: float, tau_m: float, tau_x: float) -> float:
    """Exact propagator of an exponential current (tau_x) into v (tau_m) over dt."""
    if abs(tau_x - tau_m) <= 1e-9 * tau_m:
        return (dt / tau_m) * math.exp(-dt / tau_m)
    return tau_x / (tau_x - tau_m) * (math.exp(-dt / tau_x) - math.exp(-dt / tau_m))


def steps_of(period_ms: float, dt_ms: float) -> int:
    """Whole steps strictly inside a period after the spike step: ceil(period/dt) - 1."""
    if period_ms <= 0:
        return 0
    return max(0, math.ceil(period_ms / dt_ms - 1e-6) - 1)
