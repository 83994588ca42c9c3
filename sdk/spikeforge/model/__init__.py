"""What a brain *is*: neuron models, projections, organs, circuits and genomes (pure data)."""

from spikeforge.model.background import Background
from spikeforge.model.circuit import Circuit, FlatCircuit, Population
from spikeforge.model.errors import GenomeError
from spikeforge.model.genome import dumps, load_genome, loads, save_genome
from spikeforge.model.neurons import LIF, AdaptiveLIF, Izhikevich, ModulatedLIF, NeuronModel
from spikeforge.model.organs import ActuatorSpec, SensorSpec
from spikeforge.model.plasticity import STDP, Homeostasis, ModulatedHebbian, RewardSTDP
from spikeforge.model.synapses import (
    AllToAll,
    Constant,
    FixedInDegree,
    FixedProbability,
    Normal,
    OneToOne,
    Pairs,
    Projection,
    Uniform,
)

__all__ = [
    "LIF",
    "STDP",
    "ActuatorSpec",
    "AdaptiveLIF",
    "AllToAll",
    "Background",
    "Circuit",
    "Constant",
    "FixedInDegree",
    "FixedProbability",
    "FlatCircuit",
    "GenomeError",
    "Homeostasis",
    "Izhikevich",
    "ModulatedHebbian",
    "ModulatedLIF",
    "NeuronModel",
    "Normal",
    "OneToOne",
    "Pairs",
    "Population",
    "Projection",
    "RewardSTDP",
    "SensorSpec",
    "Uniform",
    "dumps",
    "load_genome",
    "loads",
    "save_genome",
]
