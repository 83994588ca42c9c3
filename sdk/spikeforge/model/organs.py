"""Organ specs: sensors that turn game values into neural drive, actuators that turn
spikes into game values. Following Unity ML-Agents, each spec declares its name,
shape and value range; the runtime creates the buffers from it. Organs are ordered by
name wherever they are enumerated (stable order across runs and hosts).

Sensor encodings (value ``x`` per channel, clipped to ``[low, high]``; ``r = (x-low)/(high-low)``):

* ``current``: direct current ``gain * x`` (mV of drive) into the channel's neurons.
* ``poisson``: rate coding, each channel neuron fires with probability ``r * max_rate * dt``
  per step.
* ``gaussian``: population coding; the channel's ``m`` neurons have preferred values
  evenly spaced over ``[low, high]`` and fire with probability
  ``max_rate * dt * exp(-(x - pref)^2 / (2 (sigma (high-low))^2))`` per step.
* ``event``: one-hot events; a channel whose value is >= 0.5 makes its neurons fire
  once, on the first step of the next advance, after which the value is cleared.

Actuator decodings (spike counts accumulated over one advance):

* ``rate``: firing rate of each channel (Hz, mean over the channel's neurons).
* ``population_vector``: one value, the spike-count-weighted mean of the channels'
  preferred values (evenly spaced over ``[low, high]``); the midpoint if none fired.
* ``wta``: winner-take-all, the index of the channel with the most spikes (lowest index
  wins ties), -1 when none fired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from spikeforge.model.errors import GenomeError, number

SensorKind = Literal["current", "poisson", "gaussian", "event"]
ActuatorKind = Literal["rate", "population_vector", "wta"]
SENSOR_KINDS: tuple[SensorKind, ...] = ("current", "poisson", "gaussian", "event")
ACTUATOR_KINDS: tuple[ActuatorKind, ...] = ("rate", "population_vector", "wta")




@dataclass(frozen=True)
class SensorSpec:
    """A sensor organ driving population ``population`` (channels x neurons per channel).

    Parameters
    ----------
    name : str
        Unique organ name in the circuit.
    population : str
        Target population; its size must be ``channels * k`` for a whole ``k``.
    channels : int
        Number of scalar values the game writes per brain and frame.
    kind : {"current", "poisson", "gaussian", "event"}
        How a value becomes neural input: ``current`` injects ``gain * x`` mV of drive,
        ``poisson`` fires each channel's neurons at up to ``max_rate`` Hz (rate code, the
        default), ``gaussian`` a population code over ``[low, high]``, ``event`` one spike when
        the value is >= 0.5 (then cleared). See the module docstring for the exact formulas.
    low, high : float
        Value range; values are clipped into it (NaN is rejected on write).
    gain : float
        ``current`` only: mV of drive per unit value.
    max_rate : float
        ``poisson`` and ``gaussian``: firing rate (Hz) at the top of the range.
    sigma : float
        ``gaussian``: tuning width as a fraction of ``high - low``.
    """

    name: str
    population: str
    channels: int = 1
    kind: SensorKind = "poisson"
    low: float = 0.0
    high: float = 1.0
    gain: float = 1.0
    max_rate: float = 100.0
    sigma: float = 0.15

    @property
    def shape(self) -> tuple[int]:
        """The (channels,) shape of this sensor's values for one brain."""
        return (self.channels,)

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        if self.kind not in SENSOR_KINDS:
            raise GenomeError(f"{path}.kind", f"unknown sensor kind {self.kind!r}; known: {list(SENSOR_KINDS)}")
        _validate_common(self.name, self.population, self.channels, self.low, self.high, path)
        number(f"{path}.gain", self.gain)
        if number(f"{path}.max_rate", self.max_rate) < 0:
            raise GenomeError(f"{path}.max_rate", f"must be >= 0 Hz, got {self.max_rate}")
        if number(f"{path}.sigma", self.sigma) <= 0:
            raise GenomeError(f"{path}.sigma", f"must be > 0, got {self.sigma}")

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this sensor (JSON-ready)."""
        return {"organ": "sensor", "name": self.name, "population": self.population,
                "channels": self.channels, "kind": self.kind, "low": self.low, "high": self.high,
                "gain": self.gain, "max_rate": self.max_rate, "sigma": self.sigma}


@dataclass(frozen=True)
class ActuatorSpec:
    """An actuator organ reading population ``population`` (channels x neurons per channel).

    The decoded output per brain has width ``channels`` for ``rate`` and 1 otherwise.

    Parameters
    ----------
    name : str
        Unique organ name in the circuit.
    population : str
        Source population; its size must be ``channels * k`` for a whole ``k``.
    channels : int
        Number of channels the population is split into.
    kind : {"rate", "population_vector", "wta"}
        ``rate`` (default): the firing rate of each channel over the frame, in Hz (not
        normalised: map it to an action yourself, e.g. ``np.tanh((right - left) / 40.0)``).
        ``population_vector``: one value in ``[low, high]``, the spike-count-weighted mean of the
        channels' preferred values (the midpoint if none fired). ``wta``: the index of the
        channel with the most spikes, -1 when none fired.
    low, high : float
        The range of the channels' preferred values (``population_vector`` only).
    """

    name: str
    population: str
    channels: int = 1
    kind: ActuatorKind = "rate"
    low: float = 0.0
    high: float = 1.0

    @property
    def width(self) -> int:
        """Values per brain: ``channels`` for ``rate``, 1 for ``population_vector`` and ``wta``."""
        return self.channels if self.kind == "rate" else 1

    @property
    def shape(self) -> tuple[int]:
        """The (width,) shape of this actuator's values for one brain."""
        return (self.width,)

    def validate(self, path: str) -> None:
        """Check every field; raise :class:`GenomeError` naming ``path.field`` and the problem."""
        if self.kind not in ACTUATOR_KINDS:
            raise GenomeError(f"{path}.kind", f"unknown actuator kind {self.kind!r}; known: {list(ACTUATOR_KINDS)}")
        _validate_common(self.name, self.population, self.channels, self.low, self.high, path)

    def to_dict(self) -> dict[str, Any]:
        """The genome form of this actuator (JSON-ready)."""
        return {"organ": "actuator", "name": self.name, "population": self.population,
                "channels": self.channels, "kind": self.kind, "low": self.low, "high": self.high}


def _validate_common(name: str, population: str, channels: int, low: float, high: float, path: str) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise GenomeError(f"{path}.name", f"must be a non-empty name without '.', got {name!r}")
    if not isinstance(population, str) or not population:
        raise GenomeError(f"{path}.population", "must name a population")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise GenomeError(f"{path}.channels", f"must be an integer >= 1, got {channels!r}")
    lo, hi = number(f"{path}.low", low), number(f"{path}.high", high)
    if not lo < hi:
        raise GenomeError(f"{path}.high", f"must be greater than low ({lo}), got {hi}")


Organ = SensorSpec | ActuatorSpec


def organ_from_dict(d: Any, path: str) -> Organ:
    """A sensor or actuator spec from its genome form; :class:`GenomeError` at ``path`` when malformed."""
    if not isinstance(d, dict):
        raise GenomeError(path, f"must be an object, got {type(d).__name__}")
    what = d.get("organ")
    body = {k: v for k, v in d.items() if k != "organ"}
    cls: type[SensorSpec] | type[ActuatorSpec]
    if what == "sensor":
        cls = SensorSpec
    elif what == "actuator":
        cls = ActuatorSpec
    else:
        raise GenomeError(f"{path}.organ", f"must be 'sensor' or 'actuator', got {what!r}")
    allowed = set(cls.__dataclass_fields__)
    for key in body:
        if key not in allowed:
            raise GenomeError(f"{path}.{key}", f"unknown field for a {what}")
    try:
        organ = cls(**body)
    except TypeError as exc:
        raise GenomeError(path, str(exc)) from None
    organ.validate(path)
    return organ
