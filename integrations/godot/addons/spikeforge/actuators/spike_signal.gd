@icon("res://addons/spikeforge/icons/spike_signal.svg")
class_name SpikeSignal
extends Node
## Emits Godot signals when the agent's brain spikes.
##
## The [SpikeforgeWorld] subscribes once to [member population] for all of its brains
## and, after each exchange, hands every SpikeSignal its own brain's spikes of the frame
## (batched: one call per frame, never one per spike). Use it for effects (a flash when
## a "fear" population fires) or for game logic driven by single neurons.

## Emitted once per frame in which the population spiked: every spike's brain step
## (the brain's own step counter) and neuron index (within the population).
signal spiked(steps: PackedInt64Array, neurons: PackedInt32Array)
## Emitted once per frame for each watched neuron that fired, with its spike count.
signal neuron_fired(neuron: int, count: int)

## Population to listen to; empty means every neuron of the brain (index within the brain).
@export var population: String = ""
## Neuron indices for [signal neuron_fired]; empty emits it for none.
@export var watch_neurons: PackedInt32Array = PackedInt32Array()

## Spikes received the last time this brain spiked (frames without spikes do not call
## [method on_spikes] and leave it unchanged).
var last_count: int = 0


## Called by SpikeforgeWorld with this brain's spikes of one frame.
func on_spikes(steps: PackedInt64Array, neurons: PackedInt32Array) -> void:
	last_count = neurons.size()
	if last_count == 0:
		return
	spiked.emit(steps, neurons)
	for watched in watch_neurons:
		var count := neurons.count(watched)
		if count > 0:
			neuron_fired.emit(watched, count)
