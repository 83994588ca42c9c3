extends Node
class_name ActionActuator
# Discrete actions from a winner-take-all ("wta") organ: the index of the channel that
# fired most this frame (-1: none). Emits action_selected(action) every frame an action
# wins and action_changed(action, previous) when it changes.

signal action_selected(action)
signal action_changed(action, previous)

# Name of the actuator organ (kind "wta") this actuator reads.
export(String) var organ = "action"
# Optional names of the actions, by channel index.
export(PoolStringArray) var action_names = PoolStringArray()
# Keep the last winning action when no channel fired (instead of -1).
export(bool) var hold_last = false

var action = -1


func channel_count() -> int:
	return 1


func action_name() -> String:
	if action >= 0 and action < action_names.size():
		return action_names[action]
	return str(action)


func apply_outputs(outputs: PoolRealArray, _delta: float) -> void:
	if outputs.size() == 0:
		return
	var winner = int(outputs[0])
	if winner < 0 and hold_last:
		winner = action
	var previous = action
	action = winner
	if winner >= 0:
		emit_signal("action_selected", winner)
	if winner != previous:
		emit_signal("action_changed", winner, previous)
