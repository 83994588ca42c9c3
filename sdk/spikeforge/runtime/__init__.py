"""The game-facing loop: World, Brain handles, the fixed-timestep clock, SpikeBus, snapshots."""

from spikeforge.runtime.brain import Brain, PopulationView, PrototypeGroup
from spikeforge.runtime.bus import SpikeBus, SpikeEvent, Subscription
from spikeforge.runtime.clock import FixedClock
from spikeforge.runtime.sharing import LearningGroup
from spikeforge.runtime.snapshot import SnapshotError
from spikeforge.runtime.world import FrameResult, World

__all__ = ["Brain", "FixedClock", "FrameResult", "LearningGroup", "PopulationView", "PrototypeGroup", "SnapshotError",
           "SpikeBus", "SpikeEvent", "Subscription", "World"]
