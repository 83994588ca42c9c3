"""Bytes of per-neuron state a layout stores, per neuron (issue 14, item 3: state stored only
for the neurons of the populations that keep it).

    PYTHONPATH=sdk:. python tools/native/state_bytes.py
"""

from tests.engine.native_nets import feature_net, static_net

from spikeforge.bench import cuba_circuit
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine.layout import PER_POPULATION_STATE
from spikeforge.model.plasticity import STDP
from spikeforge.runtime.world import World


def bytes_per_neuron(w: World) -> tuple[float, list[str]]:
    L = w.layout
    return sum(a.nbytes for a in L.neuron.values()) / L.n_neurons, sorted(L.neuron)


def per_population(w: World) -> str:
    """How many neurons each per-population array holds, of all."""
    L = w.layout
    return " ".join(f"{k} {L.neuron[k].size}/{L.n_neurons}" for k in PER_POPULATION_STATE if k in L.neuron)


CASES = (("crowd npc x100", lambda w: w.spawn(npc_circuit(), count=100)),
         ("crowd npc with STDP x10", lambda w: w.spawn(npc_circuit(plasticity=STDP()), count=10)),
         ("cuba 4000", lambda w: w.spawn(cuba_circuit(4000))),
         ("every model, no gap junctions or modulators (native_nets.static_net) x10",
          lambda w: w.spawn(static_net(), count=10)),
         ("every feature (tests/engine/native_nets.feature_net) x10", lambda w: w.spawn(feature_net(), count=10)),
         ("mixed: crowd npc x100 + static_net x2 (Izhikevich, adaptive LIF, limits)",
          lambda w: (w.spawn(npc_circuit(), count=100), w.spawn(static_net(), count=2))),
         ("mixed learning: crowd npc x90 + npc with STDP at delivery x10",
          lambda w: (w.spawn(npc_circuit(), count=90),
                     w.spawn(npc_circuit(plasticity=STDP(depress_at="delivery")), count=10))))

if __name__ == "__main__":
    for name, make in CASES:
        w = World(backend="numpy", seed=1)
        make(w)
        b, keys = bytes_per_neuron(w)
        print(f"{name}: {w.layout.n_neurons} neurons, {b:.1f} B of neuron state per neuron, "
              f"{len(keys)} arrays: {' '.join(keys)}; per population: {per_population(w) or '-'}")
