"""Circuits: a brain's blueprint (populations, projections, sub-circuits with ports,
organs). A circuit is a prototype: spawn it many times, derive variants from it.

Example
-------
>>> from spikeforge.model import Circuit, LIF
>>> c = Circuit("wanderer")
>>> _ = c.add_population("eyes", 8, LIF()).add_population("motor", 4, LIF())
>>> _ = c.connect("eyes", "motor", weight=2.0)
>>> [p.name for p in c.flatten().populations]
['eyes', 'motor']
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from spikeforge.model.background import Background
from spikeforge.model.errors import GenomeError, finite32
from spikeforge.model.neurons import LIF, NeuronModel
from spikeforge.model.organs import ActuatorSpec, Organ, SensorSpec
from spikeforge.model.synapses import (
    AllToAll,
    Constant,
    FixedInDegree,
    OneToOne,
    Pairs,
    Projection,
    Rule,
    Weight,
)

MAX_POPULATION_SIZE = 1 << 24


@dataclass(frozen=True)
class Population:
    """``size`` neurons of one model.

    Parameters
    ----------
    name : str
    size : int
    model : NeuronModel
    v_init : float or (float, float)
        Initial membrane potential (mV), or a uniform range drawn per neuron from the
        brain's seeded RNG stream. ``None`` starts at the model's rest/reset value.
    background : Background, optional
        Per-step noise current and Poisson drive of every neuron (``None``: none).
    """

    name: str
    size: int
    model: NeuronModel = field(default_factory=LIF)
    v_init: float | tuple[float, float] | None = None
    background: Background | None = None

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        if not isinstance(self.name, str) or not self.name or "." in self.name:
            raise GenomeError(f"{path}.name", f"must be a non-empty name without '.', got {self.name!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise GenomeError(f"{path}.size", f"must be an integer, got {self.size!r}")
        if self.size < 0:
            raise GenomeError(f"{path}.size", f"must be >= 0, got {self.size}")
        if self.size > MAX_POPULATION_SIZE:
            raise GenomeError(f"{path}.size", f"must be <= {MAX_POPULATION_SIZE}, got {self.size}")
        if not isinstance(self.model, NeuronModel):
            raise GenomeError(f"{path}.model", f"must be a neuron model, got {self.model!r}")
        self.model.validate(f"{path}.model")
        vi = self.v_init
        vals = vi if isinstance(vi, tuple) else (() if vi is None else (vi,))
        for x in vals:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not finite32(x):
                raise GenomeError(f"{path}.v_init", f"must be finite numbers, got {vi!r}")
        if isinstance(vi, tuple) and (len(vi) != 2 or vi[0] > vi[1]):
            raise GenomeError(f"{path}.v_init", f"a range is (low, high) with low <= high, got {vi!r}")
        if self.background is not None:
            if not isinstance(self.background, Background):
                raise GenomeError(f"{path}.background", f"must be a Background, got {self.background!r}")
            self.background.validate(f"{path}.background")

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this population (JSON-ready)."""
        d: dict[str, Any] = {"name": self.name, "size": self.size, "model": self.model.to_dict()}
        if self.v_init is not None:
            d["v_init"] = list(self.v_init) if isinstance(self.v_init, tuple) else self.v_init
        if self.background is not None:
            d["background"] = self.background.to_dict()
        return d


@dataclass(frozen=True)
class FlatCircuit:
    """A circuit with sub-circuits inlined: dotted population names, resolved ports."""

    name: str
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    organs: tuple[Organ, ...]

    @property
    def n_neurons(self) -> int:
        """Neurons per brain of this circuit (sum of the population sizes)."""
        return sum(p.size for p in self.populations)

    @property
    def sensors(self) -> tuple[SensorSpec, ...]:
        """The sensor specs, in organ order (by name)."""
        return tuple(sorted((o for o in self.organs if isinstance(o, SensorSpec)), key=lambda o: o.name))

    @property
    def actuators(self) -> tuple[ActuatorSpec, ...]:
        """The actuator specs, in organ order (by name)."""
        return tuple(sorted((o for o in self.organs if isinstance(o, ActuatorSpec)), key=lambda o: o.name))


@dataclass
class Circuit:
    """A brain blueprint. Builder methods return ``self`` so they chain."""

    name: str
    populations: list[Population] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)
    organs: list[Organ] = field(default_factory=list)
    subcircuits: dict[str, Circuit] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    def add_population(
        self,
        name: str,
        size: int,
        model: NeuronModel | None = None,
        v_init: float | tuple[float, float] | None = None,
        background: Background | None = None,
    ) -> Circuit:
        """Add a population of ``size`` neurons sharing one neuron model.

        Parameters
        ----------
        name : str
            Unique within the circuit; sensors, actuators and projections refer to it.
        size : int
            Number of neurons, >= 1.
        model : NeuronModel, optional
            :class:`LIF` (the default), :class:`AdaptiveLIF`, :class:`Izhikevich`, ... with
            its parameters (mV, ms).
        v_init : float or (float, float), optional
            Initial membrane potential (mV), or a range drawn uniformly per neuron from the
            brain's seed; the model's resting potential when omitted.
        background : Background, optional
            Noise current and Poisson drive every neuron receives on every step, inside the
            step (see :class:`Background`).

        Returns
        -------
        Circuit
            ``self``, so calls chain.
        """
        self.populations.append(Population(name, size, model if model is not None else LIF(), v_init,
                                           background))
        return self

    def connect(
        self,
        pre: str,
        post: str,
        rule: Rule | None = None,
        weight: Weight | float = 1.0,
        delay: int | tuple[int, int] = 1,
        kind: str = "chemical",
        name: str = "",
        plasticity: Any = None,
    ) -> Circuit:
        """Add a projection (synapses) from population ``pre`` to population ``post``.

        Parameters
        ----------
        pre, post : str
            Source and target populations (``sub.pop`` or a port of a sub-circuit too).
        rule : AllToAll, OneToOne, FixedProbability, FixedInDegree or Pairs, optional
            Which neurons connect; :class:`AllToAll` when omitted. Random rules draw from the
            brain's seed, so every brain of a prototype gets its own wiring.
        weight : float or Constant, Uniform, Normal
            mV of drive added to the target's synaptic current per spike (negative:
            inhibitory). Electrical synapses: the coupling conductance.
        delay : int or (int, int)
            Transmission delay in steps (>= 1), or a range drawn per synapse.
        kind : {"chemical", "modulatory", "electrical"}
            ``modulatory`` synapses raise the target's modulator (dopamine) level instead of its
            current; ``electrical`` are gap junctions.
        name : str
            The projection's name (``brain.weights(name)``); ``"pre->post"`` when empty.
        plasticity : STDP, RewardSTDP, ModulatedHebbian or Homeostasis, optional
            A learning rule that changes these synapses while the game runs (chemical projections
            only; None: fixed weights). Pick :class:`RewardSTDP` for an NPC that learns from
            rewards you send (``brain.reward(x)``, ``world.group(c).reward(values)``): synapses
            that just helped cause post spikes are strengthened when a reward follows. Pick
            :class:`STDP` for unsupervised learning of input correlations, :class:`ModulatedHebbian`
            when learning should be gated by modulatory synapses, :class:`Homeostasis` to keep the
            target population near a firing rate (Hz). Weights stay within the rule's
            ``w_min``/``w_max`` (mV); ``world.learning(False)`` or ``brain.freeze()`` stops learning.
            Example: ``c.connect("eyes", "motor", weight=Uniform(2.0, 6.0),
            plasticity=RewardSTDP(w_min=0.0, w_max=8.0))``.

        Returns
        -------
        Circuit
            ``self``, so calls chain.
        """
        w = Constant(float(weight)) if isinstance(weight, (int, float)) else weight
        self.projections.append(
            Projection(pre, post, rule if rule is not None else AllToAll(), w, delay,
                       kind, name, plasticity)  # type: ignore[arg-type]
        )
        return self

    def add_sensor(self, name: str, population: str, channels: int = 1, **spec: Any) -> Circuit:
        """Add a sensor: ``channels`` values per brain per frame that drive ``population``.

        Parameters
        ----------
        name : str
            The sensor's name (``world.group(c).sensor(name)``); organs are ordered by name.
        population : str
            The population it drives; its neurons are split evenly over the channels.
        channels : int
            Values per brain, >= 1.
        **spec
            The other fields of :class:`SensorSpec`: ``kind`` (``"current"``, ``"poisson"``
            (default), ``"gaussian"``, ``"event"``), ``low``/``high`` (the value range),
            ``gain`` (mV of drive per unit, ``current``), ``max_rate`` (Hz at ``high``,
            ``poisson``/``gaussian``), ``sigma`` (tuning width in units of the range, ``gaussian``).

        Returns
        -------
        Circuit
            ``self``, so calls chain.
        """
        self.organs.append(SensorSpec(name, population, channels, **spec))
        return self

    def add_actuator(self, name: str, population: str, channels: int = 1, **spec: Any) -> Circuit:
        """Add an actuator: what ``population`` did over a frame, decoded for the game.

        Parameters
        ----------
        name : str
            The actuator's name (``world.group(c).actuator(name)``); organs are ordered by name.
        population : str
            The population it reads; its neurons are split evenly over the channels.
        channels : int
            Channels, >= 1.
        **spec
            The other fields of :class:`ActuatorSpec`: ``kind`` (``"rate"``: Hz per channel
            (default); ``"population_vector"``: one value in ``[low, high]``; ``"wta"``: the
            index of the most active channel), ``low``/``high``.

        Returns
        -------
        Circuit
            ``self``, so calls chain.
        """
        self.organs.append(ActuatorSpec(name, population, channels, **spec))
        return self

    def include(self, instance: str, circuit: Circuit) -> Circuit:
        """Inline ``circuit`` as a sub-circuit; its parts are named ``instance.part``."""
        if not instance or "." in instance:
            raise GenomeError(f"subcircuits.{instance}", "an instance name must be non-empty without '.'")
        self.subcircuits[instance] = copy.deepcopy(circuit)
        return self

    def expose(self, port: str, population: str) -> Circuit:
        """Name ``population`` (possibly ``sub.pop`` or ``sub.port``) as port ``port``."""
        self.ports[port] = population
        return self

    # ------------------------------------------------------------------ deriving
    def derive(self, name: str, overrides: dict[str, Any] | None = None) -> Circuit:
        """A copy named ``name`` with parameters overridden.

        ``overrides`` maps ``"population.param"`` (a neuron-model parameter, ``size``
        or ``v_init``) or ``"projection_name.field"`` (``weight``, ``delay``) to a value.
        Parts can be added to the copy with the builder methods.
        """
        c = copy.deepcopy(self)
        c.name = name
        for key, value in (overrides or {}).items():
            target, _, attr = key.rpartition(".")
            if not target:
                raise GenomeError(f"overrides.{key}", "expected 'part.parameter'")
            c._override(target, attr, value, key)
        c.validate()
        return c

    def _override(self, target: str, attr: str, value: Any, key: str) -> None:
        # parts of this level first: a projection's default name ("sub.port->pop") may hold a dot
        if not any(p.name == target for p in self.populations) and not any(
                pr.name == target for pr in self.projections):
            head, _, rest = target.partition(".")
            if rest and head in self.subcircuits:
                self.subcircuits[head]._override(rest, attr, value, key)
                return
        for i, p in enumerate(self.populations):
            if p.name == target:
                if attr in ("size", "v_init", "background"):
                    self.populations[i] = dataclasses.replace(p, **{attr: value})
                elif attr in {f.name for f in dataclasses.fields(p.model)}:
                    self.populations[i] = dataclasses.replace(p, model=dataclasses.replace(p.model, **{attr: value}))
                else:
                    raise GenomeError(f"overrides.{key}", f"population {target!r} has no parameter {attr!r}")
                return
        for i, pr in enumerate(self.projections):
            if pr.name == target:
                if attr == "weight":
                    value = Constant(float(value)) if isinstance(value, (int, float)) else value
                elif attr != "delay":
                    raise GenomeError(f"overrides.{key}", "a projection override is 'weight' or 'delay'")
                self.projections[i] = dataclasses.replace(pr, **{attr: value})
                return
        raise GenomeError(f"overrides.{key}", f"no population or projection named {target!r}")

    # ------------------------------------------------------------------ flattening
    def resolve(self, ref: str) -> str:
        """Flattened population name for ``ref`` (a population, ``sub.pop`` or a port)."""
        if ref in self.ports:
            return self.resolve(self.ports[ref])
        head, _, rest = ref.partition(".")
        if rest and head in self.subcircuits:
            return f"{head}.{self.subcircuits[head].resolve(rest)}"
        if any(p.name == ref for p in self.populations):
            return ref
        raise KeyError(ref)

    def flatten(self) -> FlatCircuit:
        """Inline sub-circuits (names prefixed ``instance.``) and resolve ports."""
        self.validate()
        return self._flatten_unchecked()

    def _flatten_unchecked(self) -> FlatCircuit:
        pops: list[Population] = list(self.populations)
        projs: list[Projection] = []
        organs: list[Organ] = list(self.organs)
        for inst, sub in self.subcircuits.items():
            f = sub._flatten_unchecked()
            pops += [dataclasses.replace(p, name=f"{inst}.{p.name}") for p in f.populations]
            projs += [dataclasses.replace(pr, pre=f"{inst}.{pr.pre}", post=f"{inst}.{pr.post}",
                                          name=f"{inst}.{pr.name}") for pr in f.projections]
            organs += [dataclasses.replace(o, name=f"{inst}.{o.name}", population=f"{inst}.{o.population}")
                       for o in f.organs]
        for pr in self.projections:
            projs.append(dataclasses.replace(pr, pre=self.resolve(pr.pre), post=self.resolve(pr.post)))
        organs = [dataclasses.replace(o, population=self.resolve(o.population)) if o in self.organs else o
                  for o in organs]
        return FlatCircuit(self.name, tuple(pops), tuple(projs), tuple(organs))

    # ------------------------------------------------------------------ validation
    def validate(self, path: str = "circuit") -> None:
        """Check every part; raise :class:`GenomeError` naming the first bad field."""
        if not isinstance(self.name, str) or not self.name:
            raise GenomeError(f"{path}.name", "must be a non-empty string")
        names: set[str] = set()
        for i, p in enumerate(self.populations):
            p.validate(f"{path}.populations[{i}]")
            if p.name in names:
                raise GenomeError(f"{path}.populations[{i}].name", f"duplicate population {p.name!r}")
            names.add(p.name)
        for inst, sub in self.subcircuits.items():
            if not isinstance(inst, str) or not inst or "." in inst:
                raise GenomeError(f"{path}.subcircuits.{inst}", "an instance name must be non-empty without '.'")
            if inst in names:
                raise GenomeError(f"{path}.subcircuits.{inst}", "clashes with a population name")
            sub.validate(f"{path}.subcircuits.{inst}")
        for port, ref in self.ports.items():
            try:
                self.resolve(ref)
            except (KeyError, RecursionError):
                raise GenomeError(f"{path}.ports.{port}", f"dangling reference {ref!r}") from None
        sizes = self._sizes()
        proj_names: set[str] = set()
        for i, pr in enumerate(self.projections):
            ppath = f"{path}.projections[{i}]"
            if not isinstance(pr, Projection):
                raise GenomeError(ppath, "must be a Projection")
            pr.validate(ppath)
            if pr.name in proj_names:
                raise GenomeError(f"{ppath}.name", f"duplicate projection {pr.name!r}")
            proj_names.add(pr.name)
            ends = []
            for end in ("pre", "post"):
                ref = getattr(pr, end)
                try:
                    ends.append(sizes[self.resolve(ref)])
                except KeyError:
                    raise GenomeError(f"{ppath}.{end}", f"dangling reference {ref!r}") from None
            _check_rule_fits(pr.rule, ends[0], ends[1], ppath, self.resolve(pr.pre) == self.resolve(pr.post))
        organ_names: set[str] = set()
        read_pops: set[str] = set()
        for i, o in enumerate(self.organs):
            opath = f"{path}.organs[{i}]"
            o.validate(opath)
            if o.name in organ_names:
                raise GenomeError(f"{opath}.name", f"duplicate organ {o.name!r}")
            organ_names.add(o.name)
            try:
                target = self.resolve(o.population)
            except KeyError:
                raise GenomeError(f"{opath}.population", f"dangling reference {o.population!r}") from None
            size = sizes[target]
            if size == 0 or size % o.channels:
                raise GenomeError(f"{opath}.channels",
                                  f"population {target!r} of size {size} is not a whole number "
                                  f"of {o.channels} channels")
            if isinstance(o, ActuatorSpec):
                if target in read_pops:
                    raise GenomeError(f"{opath}.population", f"population {target!r} already has an actuator")
                read_pops.add(target)
        # an actuator here and one inside a sub-circuit must not read the same population
        owner: dict[str, str] = {}
        for a in self._flatten_unchecked().actuators:
            first = owner.setdefault(a.population, a.name)
            if first != a.name:
                here = a.name if "." not in a.name else first
                where = next((f"{path}.organs[{i}].population" for i, o in enumerate(self.organs)
                              if isinstance(o, ActuatorSpec) and o.name == here), f"{path}.organs")
                raise GenomeError(where, f"population {a.population!r} already has an actuator "
                                         f"({first if here == a.name else a.name!r})")

    def _sizes(self) -> dict[str, int]:
        sizes = {p.name: p.size for p in self.populations}
        for inst, sub in self.subcircuits.items():
            for k, v in sub._sizes().items():
                sizes[f"{inst}.{k}"] = v
        return sizes

    # ------------------------------------------------------------------ genome dict
    def to_dict(self) -> dict[str, Any]:
        """The genome form of this circuit (JSON-ready; genome_to_circuit reads it back)."""
        return {
            "name": self.name,
            "populations": [p.to_dict() for p in self.populations],
            "projections": [pr.to_dict() for pr in self.projections],
            "organs": [o.to_dict() for o in self.organs],
            "subcircuits": {k: v.to_dict() for k, v in self.subcircuits.items()},
            "ports": dict(self.ports),
        }


def _check_rule_fits(rule: Rule, n_pre: int, n_post: int, path: str, same: bool = False) -> None:
    if isinstance(rule, OneToOne) and n_pre != n_post:
        raise GenomeError(f"{path}.rule", f"one_to_one needs equal sizes, got {n_pre} and {n_post}")
    if isinstance(rule, FixedInDegree):
        avail = n_pre - (1 if same and not rule.allow_self and n_post > 0 else 0)
        if rule.k > avail:
            raise GenomeError(f"{path}.rule.k", f"k={rule.k} exceeds the {avail} available pre neurons"
                                                + (" (self-connections excluded)" if avail < n_pre else ""))
    if isinstance(rule, Pairs):
        if rule.pre and max(rule.pre) >= n_pre:
            raise GenomeError(f"{path}.rule.pre", f"index {max(rule.pre)} out of range for {n_pre} neurons")
        if rule.post and max(rule.post) >= n_post:
            raise GenomeError(f"{path}.rule.post", f"index {max(rule.post)} out of range for {n_post} neurons")
