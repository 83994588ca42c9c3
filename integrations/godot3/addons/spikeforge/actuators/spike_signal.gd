extends Node
class_name SpikeSignal
# Emits signals when the agent's brain spikes: spiked(steps, neurons) once per frame
# (steps: Array of the brain's step counters, neurons: PoolIntArray of indices within
# the population) and neuron_fired(neuron, count) for each watched neuron that fired.

signal spiked(steps, neurons)
signal neuron_fired(neuron, count)

# Population to listen to; empty: every neuron of the brain.
export(String) var population = ""
# Neuron indices for neuron_fired.
export(PoolIntArray) var watch_neurons = PoolIntArray()

# Spikes received the last time this brain spiked (frames without spikes leave it).
var last_count = 0


func on_spikes(steps: Array, neurons: PoolIntArray) -> void:
	last_count = neurons.size()
	if last_count == 0:
		return
	emit_signal("spiked", steps, neurons)
	for watched in watch_neurons:
		var count = 0
		for n in neurons:
			if n == watched:
				count += 1
		if count > 0:
			emit_signal("neuron_fired", watched, count)
