"""spikeforge: real-time spiking-neural-network brains for game NPCs.

Describe a brain once as a :class:`Circuit`, spawn it for many NPCs in a :class:`World`,
write sensors, ``world.advance(frame_dt)``, read actuators.
"""

from spikeforge.model import (
    LIF,
    STDP,
    ActuatorSpec,
    AdaptiveLIF,
    AllToAll,
    Background,
    Circuit,
    Constant,
    FixedInDegree,
    FixedProbability,
    GenomeError,
    Homeostasis,
    Izhikevich,
    ModulatedHebbian,
    ModulatedLIF,
    Normal,
    OneToOne,
    Pairs,
    Population,
    Projection,
    RewardSTDP,
    SensorSpec,
    Uniform,
    load_genome,
    save_genome,
)
from spikeforge.runtime import Brain, SnapshotError, SpikeEvent, World

__version__ = "0.1.0"

__all__ = [
    "LIF",
    "STDP",
    "ActuatorSpec",
    "AdaptiveLIF",
    "AllToAll",
    "Background",
    "Brain",
    "Circuit",
    "Constant",
    "FixedInDegree",
    "FixedProbability",
    "GenomeError",
    "Homeostasis",
    "Izhikevich",
    "ModulatedHebbian",
    "ModulatedLIF",
    "Normal",
    "OneToOne",
    "Pairs",
    "Population",
    "Projection",
    "RewardSTDP",
    "SensorSpec",
    "SnapshotError",
    "SpikeEvent",
    "Uniform",
    "World",
    "__version__",
    "load_genome",
    "save_genome",
]
