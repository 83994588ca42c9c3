"""spikeforge: real-time spiking-neural-network brains for game NPCs.

Describe a brain once as a :class:`Circuit`, spawn it for many NPCs in a :class:`World`,
write sensors, ``world.advance(frame_dt)``, read actuators.
"""

from spikeforge.model import (
    LIF,
    ActuatorSpec,
    AdaptiveLIF,
    AllToAll,
    Circuit,
    Constant,
    FixedInDegree,
    FixedProbability,
    GenomeError,
    Izhikevich,
    ModulatedLIF,
    Normal,
    OneToOne,
    Pairs,
    Population,
    Projection,
    SensorSpec,
    Uniform,
    load_genome,
    save_genome,
)
from spikeforge.runtime import Brain, SnapshotError, SpikeEvent, World

__version__ = "0.1.0"

__all__ = [
    "LIF",
    "ActuatorSpec",
    "AdaptiveLIF",
    "AllToAll",
    "Brain",
    "Circuit",
    "Constant",
    "FixedInDegree",
    "FixedProbability",
    "GenomeError",
    "Izhikevich",
    "ModulatedLIF",
    "Normal",
    "OneToOne",
    "Pairs",
    "Population",
    "Projection",
    "SensorSpec",
    "SnapshotError",
    "SpikeEvent",
    "Uniform",
    "World",
    "__version__",
    "load_genome",
    "save_genome",
]
