"""Plasticity rules: how a projection's weights change while the brain runs.

A rule is declared on a chemical :class:`~spikeforge.model.synapses.Projection`
(``plasticity=...``); the backends apply it inside the step (see the
``## Plasticity`` section of ``docs/semantics.md`` for the exact order).

Rules
-----
:class:`STDP`
    Pair-based spike-timing-dependent plasticity with one pre trace (``tau_plus``)
    and one post trace (``tau_minus``) per neuron (all-to-all pairing). A post spike
    ``k`` steps after a pre spike changes the weight by ``+lr*a_plus*exp(-k dt/tau_plus)``,
    a pre spike ``k`` steps after a post spike by ``-lr*a_minus*exp(-k dt/tau_minus)``;
    spikes in the same step do not pair unless ``equal_time`` says how.
    ``soft_bound=True`` is the multiplicative variant (potentiation scaled by
    ``w_max - w``, depression by ``w - w_min``). Weights are always clipped to the hard bounds ``[w_min, w_max]``.
:class:`RewardSTDP`
    Reward-modulated STDP (Izhikevich 2007): the STDP change is written into a
    per-synapse eligibility trace ``c`` instead of the weight; ``c`` decays with
    ``tau_c``; every ``update_every`` steps the weight moves by
    ``lr * c * D`` where ``D`` is the dopamine summed over those steps. Dopamine is
    per brain (``brain.reward(x)`` / ``world.reward(array)`` add to it; it decays with
    ``tau_dopamine``), plus ``modulator_weight`` times the post neuron's modulator
    level (fed by modulatory synapses from a reward population).
:class:`ModulatedHebbian`
    FLUX's modulated Hebbian rule: at each post spike the weight changes by
    ``lr * mod_post * x_pre`` (the pre trace), so learning happens only where the
    post neuron fires *and* receives modulatory input; the sign of the modulator picks
    potentiation or depression.
:class:`Homeostasis`
    Adaptive threshold of the projection's *post* population toward ``target_rate``:
    every step ``theta += eta * (s - target_rate * dt)`` with ``s`` = 1 on a spike.
    It can stand alone or ride on any rule above (``homeostasis=``).

Units: time constants in ms, rates in Hz, ``a_plus``/``a_minus`` and bounds in weight
units (mV of drive for the LIF family), ``eta`` in mV of threshold per spike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from spikeforge.model.errors import MAX_REWARD, GenomeError, bounded, nonneg, number, positive, time_constant


@dataclass(frozen=True)
class Homeostasis:
    """Adaptive threshold toward a target firing rate (acts on the post population).

    Parameters
    ----------
    target_rate : float
        Target firing rate (Hz), >= 0.
    eta : float
        Threshold change (mV) per spike; between spikes the threshold falls by
        ``eta * target_rate * dt`` per step. > 0.
    """

    rule: ClassVar[str] = "homeostasis"
    target_rate: float = 5.0
    eta: float = 0.05

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        nonneg(f"{path}.target_rate", self.target_rate)
        positive(f"{path}.eta", self.eta)

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return {"rule": self.rule, "target_rate": self.target_rate, "eta": self.eta}


@dataclass(frozen=True)
class STDP:
    """Pair-based STDP with traces, additive or multiplicative (soft-bound).

    Parameters
    ----------
    a_plus, a_minus : float
        Potentiation / depression amplitude (weight units per pairing at dt -> 0), >= 0.
    tau_plus, tau_minus : float
        Time constants of the pre trace and the post trace (ms), > 0. All plastic
        projections leaving one population share its pre trace, so they must agree on
        ``tau_plus``; likewise projections entering one population on ``tau_minus``.
    w_min, w_max : float
        Hard bounds of the (signed) weight; ``w_min <= w_max``.
    soft_bound : bool
        Multiplicative variant: potentiation times ``(w_max - w)``, depression times
        ``(w - w_min)`` (then the amplitudes are per unit of distance to the bound).
    lr : float
        Learning rate of this projection (multiplies both amplitudes), >= 0.
    homeostasis : Homeostasis or None
        Optional adaptive threshold of the post population.
    pairing : {"all_to_all", "nearest"}
        Which spike pairs interact (Morrison, Diesmann & Gerstner 2008). ``"all_to_all"``:
        every earlier spike contributes (a trace adds ``trace_increment`` per spike).
        ``"nearest"``: only the nearest earlier spike of the other side (symmetric
        nearest-spike: a trace is *set* to ``trace_increment`` at a spike, i.e.
        ``trace_max = trace_increment``).
    trace_increment : float
        What a spike adds to its neuron's pre and post traces (dimensionless), > 0.
        Shared by every plastic projection leaving (pre trace) or entering (post
        trace) the population, like the time constants.
    trace_max : float or None
        Saturation of the traces (dimensionless, >= ``trace_increment``); ``None``: no
        saturation. Not with ``pairing="nearest"`` (which saturates at the increment).
    equal_time : {"none", "potentiate", "depress", "both"}
        How a pre and a post spike of the same step pair. ``"none"`` (default): they do
        not. ``"potentiate"``: as pre before post (the pre spike's trace increment is
        visible to the potentiation at the post spike; Brian2's order of ``on_pre`` then
        ``on_post``). ``"depress"``: as post before pre (the post trace increment is
        visible to the depression at the pre spike). ``"both"``: both. The option belongs
        to the traces (the pre trace for potentiation, the post trace for depression), so
        projections sharing a trace must agree, like ``trace_increment``.
    depress_at : {"emission", "delivery"}
        When the depression of a pre spike is applied. ``"emission"`` (default): in the
        step the pre neuron fires, with the post trace of that step. ``"delivery"``: in the
        step the spike arrives at the synapse, ``delay`` steps later (the step its input
        is integrated), with the post trace of that step, so post spikes while the spike
        is in flight depress (Izhikevich 2007's code). Needs the projection's delays
        <= 32 steps (the per-neuron spike history is 32 bits). Potentiation is unchanged
        (at the post spike, with the pre trace at the soma).
    """

    rule: ClassVar[str] = "stdp"
    a_plus: float = 0.01
    a_minus: float = 0.012
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    w_min: float = 0.0
    w_max: float = 1.0
    soft_bound: bool = False
    lr: float = 1.0
    homeostasis: Homeostasis | None = None
    pairing: str = "all_to_all"
    trace_increment: float = 1.0
    trace_max: float | None = None
    equal_time: str = "none"
    depress_at: str = "emission"

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        if self.pairing not in PAIRINGS:
            raise GenomeError(f"{path}.pairing", f"must be one of {list(PAIRINGS)}, got {self.pairing!r}")
        if self.equal_time not in EQUAL_TIMES:
            raise GenomeError(f"{path}.equal_time", f"must be one of {list(EQUAL_TIMES)}, got {self.equal_time!r}")
        if self.depress_at not in DEPRESS_AT:
            raise GenomeError(f"{path}.depress_at", f"must be one of {list(DEPRESS_AT)}, got {self.depress_at!r}")
        positive(f"{path}.trace_increment", self.trace_increment)
        if self.trace_max is not None:
            if self.pairing == "nearest":
                raise GenomeError(f"{path}.trace_max", "nearest-spike pairing saturates at trace_increment; "
                                  "leave trace_max unset")
            if number(f"{path}.trace_max", self.trace_max) < self.trace_increment:
                raise GenomeError(f"{path}.trace_max", f"must be >= trace_increment ({self.trace_increment}), "
                                  f"got {self.trace_max!r}")
        nonneg(f"{path}.a_plus", self.a_plus)
        nonneg(f"{path}.a_minus", self.a_minus)
        time_constant(f"{path}.tau_plus", self.tau_plus)
        time_constant(f"{path}.tau_minus", self.tau_minus)
        lo, hi = number(f"{path}.w_min", self.w_min), number(f"{path}.w_max", self.w_max)
        if lo > hi:
            raise GenomeError(f"{path}.w_min", f"must be <= w_max ({hi}), got {lo}")
        if not isinstance(self.soft_bound, bool):
            raise GenomeError(f"{path}.soft_bound", f"must be true or false, got {self.soft_bound!r}")
        nonneg(f"{path}.lr", self.lr)
        _validate_homeostasis(path, self.homeostasis)

    def init_synapse_state(self, synapse: dict[str, np.ndarray], mask: np.ndarray) -> None:
        """Clip the drawn weights of this projection into ``[w_min, w_max]``."""
        w = synapse["w"]
        w[mask] = np.clip(w[mask], np.float32(self.w_min), np.float32(self.w_max))

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return _to_dict(self)

    def trace_limits(self) -> tuple[float, float]:
        """(increment, saturation) of the traces this rule's spikes write (``inf``: none)."""
        if self.pairing == "nearest":
            return self.trace_increment, self.trace_increment
        return self.trace_increment, float("inf") if self.trace_max is None else float(self.trace_max)


    def equal_time_flags(self) -> tuple[bool, bool]:
        """(pre trace incremented before the potentiation, post trace before the depression)
        of a spike in the same step, from ``equal_time``."""
        return self.equal_time in ("potentiate", "both"), self.equal_time in ("depress", "both")


PAIRINGS: tuple[str, ...] = ("all_to_all", "nearest")
EQUAL_TIMES: tuple[str, ...] = ("none", "potentiate", "depress", "both")
DEPRESS_AT: tuple[str, ...] = ("emission", "delivery")
MAX_DELIVERY_DELAY = 32  # steps: depress_at="delivery" keeps 32 steps of spike history per neuron


@dataclass(frozen=True)
class RewardSTDP(STDP):
    """Reward-modulated STDP with per-synapse eligibility traces (Izhikevich 2007).

    Parameters
    ----------
    tau_c : float
        Decay time of the eligibility trace (ms), > 0.
    tau_dopamine : float
        Decay time of the brain's dopamine level (ms), > 0. All reward-modulated
        projections of one circuit must agree (dopamine is per brain).
    modulator_weight : float
        Weight of the post neuron's modulator level in the dopamine it sees
        (0: only ``brain.reward``).
    update_every : int
        Steps between weight updates from the eligibility (the eligibility decays by
        ``exp(-update_every*dt/tau_c)`` at each update). All reward-modulated
        projections of one circuit must agree. >= 1.
        ``update_every=1`` applies dopamine every step: ``dw = lr * c * d`` and
        ``c`` decays by ``exp(-dt/tau_c)`` each step (the model of Izhikevich 2007,
        eqs. 1-2), at the cost of one sweep of the synapses per step.
    lr : float
        ``dw = lr * c * D`` with ``D`` the dopamine summed over ``update_every`` steps.
    dopamine_baseline : float
        Tonic dopamine level added to the phasic level on every step (Izhikevich 2007's
        0.002 per ms): ``D`` gains ``update_every * dopamine_baseline`` per update.
        The phasic level (rewards) decays to 0 with ``tau_dopamine``.
    """

    rule: ClassVar[str] = "reward_stdp"
    a_plus: float = 1.0
    a_minus: float = 1.5
    tau_c: float = 1000.0
    tau_dopamine: float = 200.0
    modulator_weight: float = 0.0
    update_every: int = 10
    lr: float = 0.001
    dopamine_baseline: float = 0.0

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        super().validate(path)
        time_constant(f"{path}.tau_c", self.tau_c)
        time_constant(f"{path}.tau_dopamine", self.tau_dopamine)
        number(f"{path}.modulator_weight", self.modulator_weight)
        bounded(f"{path}.dopamine_baseline", self.dopamine_baseline, MAX_REWARD)
        k = self.update_every
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1_000_000:
            raise GenomeError(f"{path}.update_every", f"must be an integer in [1, 1000000], got {k!r}")

    def init_synapse_state(self, synapse: dict[str, np.ndarray], mask: np.ndarray) -> None:
        """Clip the weights and create the eligibility array ``elig`` (zero)."""
        super().init_synapse_state(synapse, mask)
        if "elig" not in synapse:
            synapse["elig"] = np.zeros(synapse["w"].size, dtype=np.float32)


@dataclass(frozen=True)
class ModulatedHebbian:
    """FLUX's modulated Hebbian rule: ``dw = lr * mod_post * x_pre`` at each post spike.

    Parameters
    ----------
    lr : float
        Learning rate (weight units per unit modulator per unit trace), >= 0.
    tau_pre : float
        Time constant of the pre trace (ms) (shared with STDP's ``tau_plus`` of
        projections leaving the same population).
    w_min, w_max : float
        Hard bounds of the weight.
    homeostasis : Homeostasis or None
        Optional adaptive threshold of the post population.
    """

    rule: ClassVar[str] = "modulated_hebbian"
    lr: float = 0.01
    tau_pre: float = 20.0
    w_min: float = 0.0
    w_max: float = 1.0
    homeostasis: Homeostasis | None = None

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        nonneg(f"{path}.lr", self.lr)
        time_constant(f"{path}.tau_pre", self.tau_pre)
        lo, hi = number(f"{path}.w_min", self.w_min), number(f"{path}.w_max", self.w_max)
        if lo > hi:
            raise GenomeError(f"{path}.w_min", f"must be <= w_max ({hi}), got {lo}")
        _validate_homeostasis(path, self.homeostasis)

    def init_synapse_state(self, synapse: dict[str, np.ndarray], mask: np.ndarray) -> None:
        """Clip the initial weights to the rule's bounds (no extra per-synapse state)."""
        w = synapse["w"]
        w[mask] = np.clip(w[mask], np.float32(self.w_min), np.float32(self.w_max))

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return _to_dict(self)


PlasticityRule = STDP | RewardSTDP | ModulatedHebbian | Homeostasis
RULES: dict[str, type[Any]] = {c.rule: c for c in (STDP, RewardSTDP, ModulatedHebbian, Homeostasis)}


def homeostasis_of(rule: PlasticityRule | None) -> Homeostasis | None:
    """The homeostasis a projection's rule brings to its post population: the rule itself, an
    STDP / reward-STDP rule's ``homeostasis``, or None."""
    if isinstance(rule, Homeostasis):
        return rule
    h = getattr(rule, "homeostasis", None)
    return h if isinstance(h, Homeostasis) else None


def _validate_homeostasis(path: str, h: Any) -> None:
    if h is None:
        return
    if not isinstance(h, Homeostasis):
        raise GenomeError(f"{path}.homeostasis", f"must be a Homeostasis rule or null, got {h!r}")
    h.validate(f"{path}.homeostasis")


# options written into a genome only when set (older genomes and readers stay unchanged)
_OMIT_DEFAULT: dict[str, Any] = {"pairing": "all_to_all", "trace_increment": 1.0, "trace_max": None,
                                 "dopamine_baseline": 0.0, "equal_time": "none", "depress_at": "emission"}


def _to_dict(rule: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"rule": rule.rule}
    for f in fields(rule):
        value = getattr(rule, f.name)
        if f.name in _OMIT_DEFAULT and value == _OMIT_DEFAULT[f.name] and type(value) is type(_OMIT_DEFAULT[f.name]):
            continue
        if f.name == "homeostasis":
            if value is not None:
                d[f.name] = value.to_dict()
            continue
        d[f.name] = value
    return d


def plasticity_from_dict(d: Any, path: str) -> PlasticityRule:
    """Build and validate a rule from its genome dict, naming the field on error."""
    if not isinstance(d, dict):
        raise GenomeError(path, f"must be an object, got {type(d).__name__}")
    name = d.get("rule")
    if name not in RULES:
        raise GenomeError(f"{path}.rule", f"unknown plasticity rule {name!r}; known: {sorted(RULES)}")
    cls = RULES[name]
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if key == "rule":
            continue
        if key not in names:
            raise GenomeError(f"{path}.{key}", f"unknown parameter for plasticity rule {name!r}")
        if key == "homeostasis":
            kwargs[key] = None if value is None else plasticity_from_dict(value, f"{path}.homeostasis")
            if kwargs[key] is not None and not isinstance(kwargs[key], Homeostasis):
                raise GenomeError(f"{path}.homeostasis.rule", "must be 'homeostasis'")
            continue
        kwargs[key] = value
    rule: PlasticityRule = cls(**kwargs)
    rule.validate(path)
    return rule


__all__ = [
    "DEPRESS_AT",
    "EQUAL_TIMES",
    "MAX_DELIVERY_DELAY",
    "PAIRINGS",
    "RULES",
    "STDP",
    "Homeostasis",
    "ModulatedHebbian",
    "PlasticityRule",
    "RewardSTDP",
    "homeostasis_of",
    "plasticity_from_dict",
]
