"""Background input a population receives on every step, inside the step: a noise current
and a Poisson drive, drawn from the brain's counter-based RNG stream (the same values on
every backend, see ``docs/semantics.md``, "Background input").

Example
-------
>>> from spikeforge.model import Background, Circuit, Izhikevich
>>> c = Circuit("net").add_population("exc", 800, Izhikevich(), background=Background(rate=1.0, weight=20.0))
>>> c.populations[0].background.rate
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from spikeforge.model.errors import GenomeError, finite32, nonneg, number

NoiseKind = Literal["none", "uniform", "gaussian"]
NOISE_KINDS: tuple[NoiseKind, ...] = ("none", "uniform", "gaussian")


@dataclass(frozen=True)
class Background:
    """Per-step background input of every neuron of one population.

    Two independent sources, each off by default:

    * a **noise current** added to this step's drive (like ``bias``, for one step only;
      mV of drive for LIF-family models, the model's own current units for Izhikevich):
      ``"uniform"`` draws from ``[low, high)``, ``"gaussian"`` draws
      ``mean + std * z`` with ``z`` the sum of 12 uniform draws minus 6 (the Irwin-Hall
      approximation: mean 0, variance 1, truncated at +-6);
    * a **Poisson drive**: on each step each neuron receives an input event with
      probability ``rate * dt`` (independently per neuron and step), which adds ``weight``
      to its excitatory synaptic current ``ie`` (like a synapse's weight; it decays with
      the model's ``tau_e``; the modulator gain does not apply).

    Parameters
    ----------
    noise : {"none", "uniform", "gaussian"}
        Kind of noise current.
    low, high : float
        ``"uniform"``: range of the noise current (drive units), ``low <= high``.
    mean, std : float
        ``"gaussian"``: mean and standard deviation of the noise current (drive units),
        ``std >= 0``.
    rate : float
        Poisson drive: events per neuron per second (Hz), ``>= 0`` (0: off);
        ``rate * dt`` is the per-step probability (values >= 1 give an event every step).
    weight : float
        Poisson drive: added to ``ie`` per event (drive units; may be negative).
    """

    noise: NoiseKind = "none"
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    rate: float = 0.0
    weight: float = 0.0

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        if self.noise not in NOISE_KINDS:
            raise GenomeError(f"{path}.noise", f"must be one of {list(NOISE_KINDS)}, got {self.noise!r}")
        for name in ("low", "high", "mean", "weight"):
            number(f"{path}.{name}", getattr(self, name))
        nonneg(f"{path}.std", self.std)
        nonneg(f"{path}.rate", self.rate)
        if self.low > self.high:
            raise GenomeError(f"{path}.low", f"must be <= high ({self.high!r}), got {self.low!r}")
        if self.noise == "uniform" and not finite32(self.high - self.low):
            raise GenomeError(f"{path}.high", "high - low must be finite in float32")

    @property
    def active(self) -> bool:
        """True when this background adds anything (a noise kind or a positive rate)."""
        return self.noise != "none" or self.rate > 0.0

    def to_dict(self) -> dict[str, Any]:
        """The genome form: only the fields that differ from the defaults."""
        d: dict[str, Any] = {}
        for name, default in (("noise", "none"), ("low", 0.0), ("high", 0.0), ("mean", 0.0), ("std", 0.0),
                              ("rate", 0.0), ("weight", 0.0)):
            if getattr(self, name) != default:
                d[name] = getattr(self, name)
        return d


def background_from_dict(d: Any, path: str) -> Background:
    """A :class:`Background` from its genome form; :class:`GenomeError` at ``path`` when malformed."""
    if not isinstance(d, dict):
        raise GenomeError(path, "must be an object")
    known = {"noise", "low", "high", "mean", "std", "rate", "weight"}
    for key in d:
        if key not in known:
            raise GenomeError(f"{path}.{key}", "unknown field")
    bg = Background(**d)
    bg.validate(path)
    return bg


__all__ = ["NOISE_KINDS", "Background", "NoiseKind", "background_from_dict"]
