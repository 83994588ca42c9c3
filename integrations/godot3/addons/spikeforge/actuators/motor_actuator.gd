extends Node
class_name MotorActuator
# Turns a "rate" actuator organ (Hz) into movement. DIFFERENTIAL (2 channels: left,
# right): forward = (left + right) / 2, turn right = left - right. AXES (4 channels: +X, -X,
# +Y, -Y; +Z/-Z in 3D): velocity per axis pair. Rates are divided by max_rate_hz.
# KinematicBody2D/KinematicBody get move_and_slide(); other Node2D/Spatial are moved.

enum Mode { DIFFERENTIAL, AXES }

# Name of the actuator organ (kind "rate") this actuator reads.
export(String) var organ = "motor"
# How channels map to movement.
export(Mode) var mode = Mode.DIFFERENTIAL
# Firing rate (Hz) that means full speed.
export(float, 0.1, 1000.0) var max_rate_hz = 50.0
# Speed at full rate (pixels/s in 2D, m/s in 3D).
export(float) var max_speed = 150.0
# Turning speed at full rate difference (radians/s, DIFFERENTIAL only).
export(float) var max_turn = 4.0
# The body to move; empty means the BrainAgent's parent.
export(NodePath) var body

var command = Vector2.ZERO
var _target_cache = null


func channel_count() -> int:
	return 2 if mode == Mode.DIFFERENTIAL else 4


func apply_outputs(outputs: PoolRealArray, delta: float) -> void:
	if outputs.size() < channel_count():
		push_error("MotorActuator %s: organ %s has %d channels, mode needs %d" % [name, organ, outputs.size(), channel_count()])
		return
	var inv = 1.0 / max_rate_hz
	if mode == Mode.DIFFERENTIAL:
		var left = clamp(outputs[0] * inv, 0.0, 1.0)
		var right = clamp(outputs[1] * inv, 0.0, 1.0)
		command = Vector2((left + right) * 0.5, left - right)
	else:
		command = Vector2(clamp((outputs[0] - outputs[1]) * inv, -1.0, 1.0), clamp((outputs[2] - outputs[3]) * inv, -1.0, 1.0))
	_move(_target(), delta)


func _target() -> Node:
	if _target_cache != null and is_instance_valid(_target_cache):
		return _target_cache
	_target_cache = _find_target()
	return _target_cache


func _find_target() -> Node:
	if body != null and not body.is_empty():
		return get_node_or_null(body)
	var node = get_parent()
	while node != null and not node.is_in_group("spikeforge_agents"):
		node = node.get_parent()
	return node.get_parent() if node != null else get_parent()


func _move(target: Node, delta: float) -> void:
	if target is Node2D:
		var v2 = command * max_speed
		if mode == Mode.DIFFERENTIAL:
			target.rotation += command.y * max_turn * delta
			v2 = Vector2.RIGHT.rotated(target.rotation) * command.x * max_speed
		if target is KinematicBody2D:
			target.move_and_slide(v2)
		else:
			target.position += v2 * delta
	elif target is Spatial:
		var v3 = Vector3(command.x, 0.0, command.y) * max_speed
		if mode == Mode.DIFFERENTIAL:
			target.rotate_y(-command.y * max_turn * delta)
			v3 = -target.global_transform.basis.z * command.x * max_speed
		if target is KinematicBody:
			target.move_and_slide(v3)
		else:
			target.translation += v3 * delta
