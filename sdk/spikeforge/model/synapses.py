"""Projections: which neurons connect (rules), how strongly (weights), how late (delays),
and what kind of synapse carries the spike.

Units: weights of chemical synapses are jumps of the target's synaptic current (mV of
drive for the LIF family); modulatory weights are jumps of the target's modulator
level (dimensionless); electrical weights are coupling coefficients g (1/1, the gap
current is ``g * (v_pre - v_post)`` mV of drive, applied both ways). Delays are whole
steps >= 1 (1 = the next step, Brian2's "zero delay").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from spikeforge.model.errors import GenomeError, number

SynapseKind = Literal["chemical", "modulatory", "electrical"]
SYNAPSE_KINDS: tuple[SynapseKind, ...] = ("chemical", "modulatory", "electrical")
MAX_DELAY_STEPS = 1024




# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class AllToAll:
    """Every pre neuron to every post neuron (``allow_self=False`` drops i->i within one population)."""

    allow_self: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return {"rule": "all_to_all", "allow_self": self.allow_self}

    def expected_count(self, n_pre: int, n_post: int) -> float:
        """Synapses expected between populations of these sizes: every pair, ``n_pre * n_post``
        (an upper bound when ``allow_self`` is False and pre is post).

        Parameters
        ----------
        n_pre, n_post : int
            Sizes of the pre and post populations (neurons).

        Returns
        -------
        float
            Synapses this rule makes, on average over seeds (count, not a rate).
        """
        return float(n_pre * n_post)


@dataclass(frozen=True)
class OneToOne:
    """Pre neuron i to post neuron i; both populations must have the same size."""

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return {"rule": "one_to_one"}

    def expected_count(self, n_pre: int, n_post: int) -> float:
        """Synapses expected between populations of these sizes: one per pre neuron.

        Parameters
        ----------
        n_pre, n_post : int
            Sizes of the pre and post populations (neurons).

        Returns
        -------
        float
            Synapses this rule makes, on average over seeds (count, not a rate).
        """
        return float(n_pre)


@dataclass(frozen=True)
class FixedProbability:
    """Each (pre, post) pair is connected independently with probability ``p``."""

    p: float
    allow_self: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return {"rule": "fixed_probability", "p": self.p, "allow_self": self.allow_self}

    def expected_count(self, n_pre: int, n_post: int) -> float:
        """Synapses expected between populations of these sizes: the mean ``p * n_pre * n_post``.

        Parameters
        ----------
        n_pre, n_post : int
            Sizes of the pre and post populations (neurons).

        Returns
        -------
        float
            Synapses this rule makes, on average over seeds (count, not a rate).
        """
        return self.p * n_pre * n_post


@dataclass(frozen=True)
class FixedInDegree:
    """Each post neuron receives exactly ``k`` distinct pre neurons."""

    k: int
    allow_self: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return {"rule": "fixed_in_degree", "k": self.k, "allow_self": self.allow_self}

    def expected_count(self, n_pre: int, n_post: int) -> float:
        """Synapses expected between populations of these sizes: ``k`` per post neuron.

        Parameters
        ----------
        n_pre, n_post : int
            Sizes of the pre and post populations (neurons).

        Returns
        -------
        float
            Synapses this rule makes, on average over seeds (count, not a rate).
        """
        return float(self.k * n_post)


@dataclass(frozen=True)
class Pairs:
    """Explicit (pre, post) index pairs within the two populations."""

    pre: tuple[int, ...]
    post: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this rule (JSON-ready)."""
        return {"rule": "pairs", "pre": list(self.pre), "post": list(self.post)}

    def expected_count(self, n_pre: int, n_post: int) -> float:
        """Synapses expected between populations of these sizes: one per listed pair (sizes unused).

        Parameters
        ----------
        n_pre, n_post : int
            Sizes of the pre and post populations (neurons).

        Returns
        -------
        float
            Synapses this rule makes, on average over seeds (count, not a rate).
        """
        return float(len(self.pre))


Rule = AllToAll | OneToOne | FixedProbability | FixedInDegree | Pairs

# ----------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class Constant:
    """The same weight for every synapse of a projection (a plain float in ``connect`` means this).

    Parameters
    ----------
    value : float
        mV of drive added to the target's synaptic current per spike; negative for inhibition.
        For electrical synapses, the coupling conductance.
    """

    value: float

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this weight (JSON-ready)."""
        return {"dist": "constant", "value": self.value}

    @property
    def mean(self) -> float:
        """Expected weight (mV of drive): the constant itself."""
        return self.value


@dataclass(frozen=True)
class Uniform:
    """Weights drawn uniformly from ``[low, high]``, independently per synapse and per brain.

    Use it to break the symmetry of a projection that learns, so that different synapses (and
    different NPCs) start from different weights. Draws come from the brain's seed: reproducible.

    Parameters
    ----------
    low, high : float
        mV of drive per spike, ``low <= high``. A chemical projection's range must not straddle 0
        (a synapse is excitatory or inhibitory, never both).
    """

    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this weight distribution (JSON-ready)."""
        return {"dist": "uniform", "low": self.low, "high": self.high}

    @property
    def mean(self) -> float:
        """Expected weight (mV of drive): the middle of the range."""
        return 0.5 * (self.low + self.high)


@dataclass(frozen=True)
class Normal:
    """Normal weights; samples are clipped at 0 so they keep the sign of ``mean``."""

    mean_: float
    std: float

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this weight distribution (JSON-ready)."""
        return {"dist": "normal", "mean": self.mean_, "std": self.std}

    @property
    def mean(self) -> float:
        """Expected weight (mV of drive) of the distribution."""
        return self.mean_


Weight = Constant | Uniform | Normal


@dataclass(frozen=True)
class Projection:
    """Synapses from population ``pre`` to population ``post`` of one circuit.

    Parameters
    ----------
    pre, post : str
        Population names (``sub.pop`` or ``sub.port`` inside sub-circuits).
    rule : Rule
        Connectivity rule.
    weight : Weight or float
        Weight distribution; a float means :class:`Constant`. For chemical synapses
        the sign picks the target current: >= 0 excitatory (``i_e``), < 0 inhibitory
        (``i_i``).
    delay : int or (int, int)
        Delay in steps >= 1, or an inclusive uniform integer range.
    kind : {"chemical", "modulatory", "electrical"}
    name : str
        Unique within the circuit; defaults to ``"pre->post"``.
    plasticity : object or None
        A plasticity rule from :mod:`spikeforge.model.plasticity` (chemical only).
    """

    pre: str
    post: str
    rule: Rule = field(default_factory=AllToAll)
    weight: Weight = field(default_factory=lambda: Constant(1.0))
    delay: int | tuple[int, int] = 1
    kind: SynapseKind = "chemical"
    name: str = ""
    plasticity: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.weight, (int, float)) and not isinstance(self.weight, bool):
            object.__setattr__(self, "weight", Constant(float(self.weight)))
        if not self.name:
            object.__setattr__(self, "name", f"{self.pre}->{self.post}")

    @property
    def channel(self) -> int:
        """Input channel of the target: 0 excitatory, 1 inhibitory, 2 modulator."""
        if self.kind == "modulatory":
            return 2
        return 0 if self.weight.mean >= 0 else 1

    def delay_range(self) -> tuple[int, int]:
        """The (lowest, highest) delay in steps of this projection."""
        if isinstance(self.delay, tuple):
            return self.delay
        return (self.delay, self.delay)

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        if self.kind not in SYNAPSE_KINDS:
            raise GenomeError(f"{path}.kind", f"unknown synapse kind {self.kind!r}; known: {list(SYNAPSE_KINDS)}")
        r = self.rule
        if isinstance(r, FixedProbability):
            p = number(f"{path}.rule.p", r.p)
            if not 0.0 <= p <= 1.0:
                raise GenomeError(f"{path}.rule.p", f"must be in [0, 1], got {p}")
        elif isinstance(r, FixedInDegree):
            if isinstance(r.k, bool) or not isinstance(r.k, int) or r.k < 0:
                raise GenomeError(f"{path}.rule.k", f"must be an integer >= 0, got {r.k!r}")
        elif isinstance(r, Pairs):
            if len(r.pre) != len(r.post):
                raise GenomeError(f"{path}.rule", f"pre has {len(r.pre)} indices but post has {len(r.post)}")
            for i, x in enumerate((*r.pre, *r.post)):
                if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                    raise GenomeError(f"{path}.rule.pairs[{i}]", f"must be an index >= 0, got {x!r}")
        w = self.weight
        if isinstance(w, Constant):
            number(f"{path}.weight.value", w.value)
        elif isinstance(w, Uniform):
            lo, hi = number(f"{path}.weight.low", w.low), number(f"{path}.weight.high", w.high)
            if lo > hi:
                raise GenomeError(f"{path}.weight", f"low ({lo}) > high ({hi})")
            if lo < 0 < hi and self.kind == "chemical":
                raise GenomeError(f"{path}.weight", "a chemical projection's weights must not change sign")
        elif isinstance(w, Normal):
            number(f"{path}.weight.mean", w.mean_)
            if number(f"{path}.weight.std", w.std) < 0:
                raise GenomeError(f"{path}.weight.std", f"must be >= 0, got {w.std}")
        else:
            raise GenomeError(f"{path}.weight", f"unknown weight distribution {w!r}")
        lo_d, hi_d = self.delay_range()
        for nm, d in (("delay", lo_d), ("delay", hi_d)):
            if isinstance(d, bool) or not isinstance(d, int):
                raise GenomeError(f"{path}.{nm}", f"must be an integer number of steps, got {d!r}")
        if not 1 <= lo_d <= hi_d <= MAX_DELAY_STEPS:
            raise GenomeError(f"{path}.delay",
                              f"must satisfy 1 <= low <= high <= {MAX_DELAY_STEPS}, got {self.delay!r}")
        if self.kind == "electrical" and self.weight.mean < 0:
            raise GenomeError(f"{path}.weight", "electrical coupling must be >= 0")
        if self.plasticity is not None:
            if self.kind != "chemical":
                raise GenomeError(f"{path}.plasticity", f"only chemical synapses learn, this one is {self.kind!r}")
            validate = getattr(self.plasticity, "validate", None)
            if validate is not None:
                validate(f"{path}.plasticity")

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this projection (JSON-ready)."""
        d: dict[str, Any] = {
            "name": self.name,
            "pre": self.pre,
            "post": self.post,
            "kind": self.kind,
            "rule": self.rule.to_dict(),
            "weight": self.weight.to_dict(),
            "delay": list(self.delay) if isinstance(self.delay, tuple) else self.delay,
        }
        if self.plasticity is not None:
            d["plasticity"] = self.plasticity.to_dict()
        return d


def rule_from_dict(d: Any, path: str) -> Rule:
    """A connectivity rule from its genome form; :class:`GenomeError` at ``path`` when malformed."""
    if not isinstance(d, dict):
        raise GenomeError(path, f"must be an object, got {type(d).__name__}")
    if not isinstance(d.get("allow_self", True), bool):
        raise GenomeError(f"{path}.allow_self", f"must be true or false, got {d['allow_self']!r}")
    name = d.get("rule")
    try:
        if name == "all_to_all":
            return AllToAll(allow_self=bool(d.get("allow_self", True)))
        if name == "one_to_one":
            return OneToOne()
        if name == "fixed_probability":
            return FixedProbability(p=number(f"{path}.p", d.get("p")), allow_self=bool(d.get("allow_self", True)))
        if name == "fixed_in_degree":
            k = d.get("k")
            if isinstance(k, bool) or not isinstance(k, int):
                raise GenomeError(f"{path}.k", f"must be an integer, got {k!r}")
            return FixedInDegree(k=k, allow_self=bool(d.get("allow_self", True)))
        if name == "pairs":
            pre, post = d.get("pre"), d.get("post")
            if not isinstance(pre, list) or not isinstance(post, list):
                raise GenomeError(path, "pairs needs lists 'pre' and 'post'")
            return Pairs(pre=tuple(pre), post=tuple(post))
    except GenomeError:
        raise
    raise GenomeError(f"{path}.rule", f"unknown connectivity rule {name!r}")


def weight_from_dict(d: Any, path: str) -> Weight:
    """A weight (number or distribution) from its genome form; :class:`GenomeError` at ``path`` when malformed."""
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return Constant(number(path, d))
    if not isinstance(d, dict):
        raise GenomeError(path, f"must be a number or an object, got {type(d).__name__}")
    dist = d.get("dist")
    if dist == "constant":
        return Constant(number(f"{path}.value", d.get("value")))
    if dist == "uniform":
        return Uniform(number(f"{path}.low", d.get("low")), number(f"{path}.high", d.get("high")))
    if dist == "normal":
        return Normal(number(f"{path}.mean", d.get("mean")), number(f"{path}.std", d.get("std")))
    raise GenomeError(f"{path}.dist", f"unknown weight distribution {dist!r}")


def projection_from_dict(d: Any, path: str) -> Projection:
    """A projection from its genome form; :class:`GenomeError` at ``path`` when malformed."""
    if not isinstance(d, dict):
        raise GenomeError(path, f"must be an object, got {type(d).__name__}")
    known = {"name", "pre", "post", "kind", "rule", "weight", "delay", "plasticity"}
    for key in d:
        if key not in known:
            raise GenomeError(f"{path}.{key}", "unknown field")
    for key in ("pre", "post"):
        if not isinstance(d.get(key), str) or not d.get(key):
            raise GenomeError(f"{path}.{key}", "must be a population name")
    if not isinstance(d.get("name", ""), str):
        raise GenomeError(f"{path}.name", f"must be a string, got {d['name']!r}")
    delay_raw = d.get("delay", 1)
    delay: int | tuple[int, int]
    if isinstance(delay_raw, list):
        if len(delay_raw) != 2:
            raise GenomeError(f"{path}.delay", "a delay range is [low, high]")
        delay = (delay_raw[0], delay_raw[1])
    else:
        delay = delay_raw
    plasticity = None
    if d.get("plasticity") is not None:
        from spikeforge.model.plasticity import plasticity_from_dict

        plasticity = plasticity_from_dict(d["plasticity"], f"{path}.plasticity")
    proj = Projection(
        pre=d["pre"],
        post=d["post"],
        rule=rule_from_dict(d.get("rule", {"rule": "all_to_all"}), f"{path}.rule"),
        weight=weight_from_dict(d.get("weight", 1.0), f"{path}.weight"),
        delay=delay,
        kind=d.get("kind", "chemical"),
        name=d.get("name", "") or "",
        plasticity=plasticity,
    )
    proj.validate(path)
    return proj
