@icon("res://addons/spikeforge/icons/brain_agent.svg")
class_name BrainAgent
extends Node
## A spikeforge brain for its parent node (the "body").
##
## Add it as a child of an NPC. The [SpikeforgeWorld] of the scene finds every
## BrainAgent through the [code]spikeforge_agents[/code] group, spawns one brain per
## agent (all agents of a circuit in one request) and, every physics frame, reads the
## agent's sensor nodes and hands the decoded actuator outputs to its actuator nodes.
## [br]Sensor and actuator nodes are found among the descendants of the body (so a
## [RaycastSensor2D] can sit directly under a CharacterBody2D and follow it). Sensors extend
## [SpikeforgeSensor] (or [SpikeforgeSensor2D] / [SpikeforgeSensor3D]), actuators extend
## [SpikeforgeActuator]; any other node with an [code]organ[/code] property and a
## [code]get_values()[/code] (sensor) or [code]apply_outputs()[/code] (actuator) method is
## accepted too. Use one BrainAgent per body.

## Emitted when the agent got a brain (after a spawn or a re-spawn after reconnecting).
signal brain_spawned(brain_id: int)
## Emitted when the agent's brain is gone (despawned, or the server was lost).
signal brain_lost(brain_id: int)

## Circuit name on the server. Leave empty to use the name inside [member genome_file].
@export var circuit: StringName
## Genome JSON file (res:// or absolute) uploaded to the server before spawning;
## leave empty when the server already knows [member circuit] (spikeforge serve --genome).
@export_file("*.json") var genome_file: String
## Brain asset file (a [code].sfbrain[/code] written by [method SpikeforgeWorld.export_brain_asset]
## or Python's [code]Brain.save[/code]): when set, the agent's brain is spawned from it
## (SPAWN_ASSET: "the wolf that learned") instead of a fresh brain of [member circuit].
@export_file("*.sfbrain") var brain_asset_file: String
## Spawn [member brain_asset_file] with its saved state (continues bit-exactly); off starts
## it fresh with the saved wiring, weights and learned thresholds.
@export var brain_asset_state: bool = true
## The brain id on the server, -1 while the agent has no brain.
var brain_id: int = -1
## Reward collected by [method add_reward], sent with the next exchange (then reset).
var pending_reward: float = 0.0


func _enter_tree() -> void:
	add_to_group(&"spikeforge_agents")


## Add [param amount] to the reward delivered to this brain with the next exchange.
func add_reward(amount: float) -> void:
	pending_reward += amount
	add_to_group(&"spikeforge_rewarded")  # SpikeforgeWorld sends it with the next exchange


## The node this agent drives (its parent).
func body() -> Node:
	return get_parent()


## Sensor nodes of this agent, by organ name (String keys).
func sensors() -> Dictionary:
	return _organ_nodes(&"get_values")


## Actuator nodes of this agent, by organ name (String keys; each value is an Array of nodes).
func actuators() -> Dictionary:
	var by_organ := {}
	var found := _collect(body(), &"apply_outputs", &"organ", [])
	for node: Node in found:
		var organ_name := String(node.get(&"organ"))
		if not by_organ.has(organ_name):
			by_organ[organ_name] = []
		by_organ[organ_name].append(node)
	return by_organ


## Nodes that receive this brain's spikes ([code]population[/code] + [code]on_spikes()[/code]).
func spike_listeners() -> Array:
	return _collect(body(), &"on_spikes", &"population", [])


## Called by SpikeforgeWorld.
func set_brain(new_id: int) -> void:
	var old := brain_id
	brain_id = new_id
	if old >= 0 and new_id < 0:
		brain_lost.emit(old)
	elif new_id >= 0 and new_id != old:
		brain_spawned.emit(new_id)


func _organ_nodes(method: StringName) -> Dictionary:
	var by_organ := {}
	for node: Node in _collect(body(), method, &"organ", []):
		var organ_name := String(node.get(&"organ"))
		if by_organ.has(organ_name):
			push_error(
				"BrainAgent %s: two sensor nodes feed organ %s (%s and %s)"
				% [get_path(), organ_name, by_organ[organ_name].get_path(), node.get_path()]
			)
			continue
		by_organ[organ_name] = node
	return by_organ


func _collect(node: Node, method: StringName, property: StringName, found: Array) -> Array:
	if node == null:
		return found
	for child in node.get_children():
		if child != self and child.is_in_group(&"spikeforge_agents"):
			continue
		if child.has_method(method) and child.get(property) != null:
			found.append(child)
		_collect(child, method, property, found)
	return found
