extends Node
class_name BrainAgent
# A spikeforge brain for its parent node (the "body"); Godot 3 edition.
# SpikeforgeWorld finds agents through the "spikeforge_agents" group. Sensor nodes
# (`organ` + get_values()) and actuator nodes (`organ` + apply_outputs()) are found
# among the descendants of the body; nodes with `population` + on_spikes() get spikes.

signal brain_spawned(brain_id)
signal brain_lost(brain_id)

# Circuit name on the server; empty: the name inside genome_file.
export(String) var circuit = ""
# Genome JSON file (res:// or absolute) uploaded before spawning; empty when the
# server already knows `circuit`.
export(String, FILE, "*.json") var genome_file = ""
# Brain asset file (.sfbrain from export_brain_asset() or Python's Brain.save): when set,
# the brain is spawned from it (SPAWN_ASSET) instead of a fresh brain of `circuit`.
export(String, FILE, "*.sfbrain") var brain_asset_file = ""
# Spawn brain_asset_file with its saved state (continues bit-exactly); off: fresh state.
export(bool) var brain_asset_state = true
var brain_id = -1
# Reward collected by add_reward(), sent with the next exchange (then reset to 0).
var pending_reward = 0.0


func _enter_tree() -> void:
	add_to_group("spikeforge_agents")


func add_reward(amount: float) -> void:
	pending_reward += amount
	add_to_group("spikeforge_rewarded")  # SpikeforgeWorld sends it with the next exchange


func body() -> Node:
	return get_parent()


func sensors() -> Dictionary:
	var by_organ = {}
	for node in _collect(body(), "get_values", "organ", []):
		var organ_name = str(node.organ)
		if by_organ.has(organ_name):
			push_error("BrainAgent %s: two sensor nodes feed organ %s" % [get_path(), organ_name])
			continue
		by_organ[organ_name] = node
	return by_organ


func actuators() -> Dictionary:
	var by_organ = {}
	for node in _collect(body(), "apply_outputs", "organ", []):
		var organ_name = str(node.organ)
		if not by_organ.has(organ_name):
			by_organ[organ_name] = []
		by_organ[organ_name].append(node)
	return by_organ


func spike_listeners() -> Array:
	return _collect(body(), "on_spikes", "population", [])


func set_brain(new_id: int) -> void:
	var old = brain_id
	brain_id = new_id
	if old >= 0 and new_id < 0:
		emit_signal("brain_lost", old)
	elif new_id >= 0 and new_id != old:
		emit_signal("brain_spawned", new_id)


func _collect(node: Node, method: String, property: String, found: Array) -> Array:
	if node == null:
		return found
	for child in node.get_children():
		if child != self and child.is_in_group("spikeforge_agents"):
			continue
		if child.has_method(method) and child.get(property) != null:
			found.append(child)
		_collect(child, method, property, found)
	return found
