@icon("res://addons/spikeforge/icons/action_actuator.svg")
class_name ActionActuator
extends SpikeforgeActuator
## Discrete actions from a winner-take-all ("wta") actuator organ.
##
## The organ's output is the index of the channel whose neurons fired most during
## the frame (-1 when none fired). This node keeps the current action, emits
## [signal action_selected] every frame an action wins and [signal action_changed]
## when it differs from the previous one. Map indices to names with
## [member action_names] for readable logs.

## Emitted every frame in which some channel won (index 0..channels-1).
signal action_selected(action: int)
## Emitted when the winning action differs from the previous frame's (may be -1).
signal action_changed(action: int, previous: int)

## Optional names of the actions, by channel index.
@export var action_names: PackedStringArray = PackedStringArray()
## Keep the last winning action when no channel fired this frame (instead of -1).
@export var hold_last: bool = false

## The current action index (-1: none).
var action: int = -1


func _init() -> void:
	organ = &"action"


## A "wta" organ outputs one value per brain.
func channel_count() -> int:
	return 1


## Name of the current action, or its index as text when unnamed.
func action_name() -> String:
	if action >= 0 and action < action_names.size():
		return action_names[action]
	return str(action)


## Called by SpikeforgeWorld after each exchange with this organ's outputs.
func apply_outputs(outputs: PackedFloat32Array, _delta: float) -> void:
	if outputs.is_empty():
		return
	var winner := int(outputs[0])
	if winner < 0 and hold_last:
		winner = action
	var previous := action
	action = winner
	if winner >= 0:
		action_selected.emit(winner)
	if winner != previous:
		action_changed.emit(winner, previous)
