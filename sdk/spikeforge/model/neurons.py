"""Neuron models: what a neuron *is* (parameters only, no simulation).

Units: time constants and periods in milliseconds (ms), membrane potentials in
millivolts (mV). Synaptic and external currents of the LIF family are expressed as
voltage drive (mV, i.e. R*I, as in the CUBA network); Izhikevich currents are in the
model's own dimensionless units.

Two kernels simulate every model here (see ``docs/semantics.md``):

* the LIF family (:class:`LIF`, :class:`AdaptiveLIF`, :class:`ModulatedLIF`), exact
  exponential integration of v with exponential synaptic currents;
* :class:`Izhikevich`, the published two half-step Euler integration.

FEAGI's firing options (excitability, consecutive-fire limit, snooze) live on every
LIF-family model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from spikeforge.model.errors import GenomeError, int_nonneg, nonneg, number, positive

ModelKind = Literal["lif", "adaptive_lif", "modulated_lif", "izhikevich"]










@dataclass(frozen=True)
class NeuronModel:
    """Base of all neuron models. Subclasses are frozen dataclasses of parameters."""

    kind: ClassVar[ModelKind]

    def validate(self, path: str) -> None:
        """Raise :class:`GenomeError` naming ``path.field`` for a bad parameter."""
        for f in fields(self):
            number(f"{path}.{f.name}", getattr(self, f.name))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"model": self.kind}
        for f in fields(self):
            d[f.name] = getattr(self, f.name)
        return d


@dataclass(frozen=True)
class LIF(NeuronModel):
    """Current-based leaky integrate-and-fire neuron.

    ``tau_m dv/dt = -(v - v_rest) + i_e + i_i + bias + i_ext``, with exponentially
    decaying excitatory (``tau_e``) and inhibitory (``tau_i``) synaptic currents.
    Integrated exactly (closed-form propagators). On ``v >= v_thresh + theta`` the
    neuron spikes, ``v`` is reset to ``v_reset`` and held there for ``t_ref``.

    Parameters
    ----------
    tau_m, tau_e, tau_i : float
        Membrane and synaptic time constants (ms).
    v_rest, v_reset, v_thresh : float
        Resting (leak reversal), reset and threshold potentials (mV).
    t_ref : float
        Refractory period (ms): the neuron is not integrated for steps strictly
        inside ``(t_spike, t_spike + t_ref)``.
    bias : float
        Constant drive (mV of R*I).
    excitability : float
        FEAGI firing probability in [0, 1] when above threshold (drawn from the
        brain's seeded RNG stream).
    consec_limit : int
        FEAGI consecutive-fire limit; 0 disables. After firing on this many
        consecutive steps the neuron snoozes.
    snooze : float
        FEAGI snooze period (ms) after hitting ``consec_limit``.
    """

    kind: ClassVar[ModelKind] = "lif"
    tau_m: float = 20.0
    tau_e: float = 5.0
    tau_i: float = 10.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    t_ref: float = 2.0
    bias: float = 0.0
    excitability: float = 1.0
    consec_limit: int = 0
    snooze: float = 0.0

    def validate(self, path: str) -> None:
        super().validate(path)
        for name in ("tau_m", "tau_e", "tau_i"):
            positive(f"{path}.{name}", getattr(self, name))
        nonneg(f"{path}.t_ref", self.t_ref)
        nonneg(f"{path}.snooze", self.snooze)
        int_nonneg(f"{path}.consec_limit", self.consec_limit)
        if not 0.0 <= self.excitability <= 1.0:
            raise GenomeError(f"{path}.excitability", f"must be in [0, 1], got {self.excitability!r}")
        if self.v_reset >= self.v_thresh:
            raise GenomeError(f"{path}.v_reset", f"must be below v_thresh ({self.v_thresh}), got {self.v_reset}")


@dataclass(frozen=True)
class AdaptiveLIF(LIF):
    """LIF with a spike-triggered adaptation current.

    ``w`` jumps by ``b`` (mV) at each spike, decays with ``tau_w`` (ms), and is
    subtracted from the drive: ``tau_m dv/dt = ... - w``.
    """

    kind: ClassVar[ModelKind] = "adaptive_lif"
    tau_w: float = 100.0
    b: float = 2.0

    def validate(self, path: str) -> None:
        super().validate(path)
        positive(f"{path}.tau_w", self.tau_w)
        nonneg(f"{path}.b", self.b)


@dataclass(frozen=True)
class ModulatedLIF(LIF):
    """FLUX's modulated LIF: habituation, modulatory potentiation, overshoot bursts.

    Parameters
    ----------
    habituation : float
        Threshold increment (mV) per spike; the offset ``theta`` relaxes back to 0
        with ``tau_habituation`` (ms).
    tau_habituation : float
        Relaxation time of the threshold offset (ms).
    mod_gain : float
        Excitatory input is multiplied by ``1 + mod_gain * mod`` where ``mod`` is the
        neuron's modulator level (fed by modulatory synapses, decaying with
        ``tau_mod`` ms).
    tau_mod : float
        Decay time of the modulator level (ms).
    burst_overshoot : float
        When ``v`` exceeds the threshold by at least this much (mV) the neuron emits
        ``floor(overshoot / burst_overshoot)`` extra spikes on the following steps,
        at most ``burst_max``. 0 disables bursts.
    burst_max : int
        Longest extra spike train.
    """

    kind: ClassVar[ModelKind] = "modulated_lif"
    habituation: float = 1.0
    tau_habituation: float = 200.0
    mod_gain: float = 1.0
    tau_mod: float = 50.0
    burst_overshoot: float = 5.0
    burst_max: int = 3

    def validate(self, path: str) -> None:
        super().validate(path)
        nonneg(f"{path}.habituation", self.habituation)
        positive(f"{path}.tau_habituation", self.tau_habituation)
        positive(f"{path}.tau_mod", self.tau_mod)
        nonneg(f"{path}.burst_overshoot", self.burst_overshoot)
        int_nonneg(f"{path}.burst_max", self.burst_max)


@dataclass(frozen=True)
class Izhikevich(NeuronModel):
    """Izhikevich (2003) neuron, ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``.

    Spikes when ``v >= v_peak`` (30 mV); then ``v = c`` and ``u += d``. Integrated as
    in the published code: two half steps of v, then one step of u.
    Use :meth:`preset` for the published cell classes.
    """

    kind: ClassVar[ModelKind] = "izhikevich"
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
        positive(f"{path}.tau_e", self.tau_e)
        positive(f"{path}.tau_i", self.tau_i)


MODELS: dict[str, type[NeuronModel]] = {
    m.kind: m for m in (LIF, AdaptiveLIF, ModulatedLIF, Izhikevich)
}


def model_from_dict(d: Any, path: str) -> NeuronModel:
    """Build a neuron model from its genome dict, naming the field on error."""
    if not isinstance(d, dict):
        raise GenomeError(path, f"must be an object, got {type(d).__name__}")
    kind = d.get("model")
    if kind not in MODELS:
        raise GenomeError(f"{path}.model", f"unknown model {kind!r}; known: {sorted(MODELS)}")
    cls = MODELS[kind]
    names = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if key == "model":
            continue
        if key not in names:
            raise GenomeError(f"{path}.{key}", f"unknown parameter for model {kind!r}")
        kwargs[key] = value
    try:
        model = cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded above
        raise GenomeError(path, str(exc)) from None
    model.validate(path)
    return model


def default_field_value(cls: type[NeuronModel], name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            return f.default
    raise KeyError(name)


__all__ = [
    "LIF",
    "MODELS",
    "AdaptiveLIF",
    "Izhikevich",
    "ModelKind",
    "ModulatedLIF",
    "NeuronModel",
    "default_field_value",
    "model_from_dict",
]
