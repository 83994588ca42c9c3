@icon("res://addons/spikeforge/icons/motor_actuator.svg")
class_name MotorActuator
extends SpikeforgeActuator
## Turns a "rate" actuator organ (firing rates in Hz) into movement of a body.
##
## Modes:
## [br]- [b]DIFFERENTIAL[/b] (2 channels: left, right): like a two-wheeled robot. Forward
## speed is [code](left + right) / 2[/code], turning speed is [code]left - right[/code]
## (a faster left wheel turns the body right), both scaled by [member max_rate_hz].
## [br]- [b]AXES[/b] (4 channels: +X, -X, +Y, -Y): velocity along two axes, each the
## difference of a pair of channels. In 3D the second axis is +Z/-Z (the ground plane).
## [br]The body is [member body] (default: the parent of the [BrainAgent] this actuator
## belongs to). CharacterBody2D/3D get [code]velocity[/code] and
## [code]move_and_slide()[/code]; any other Node2D/Node3D is moved directly.

enum Mode { DIFFERENTIAL, AXES }

## How channels map to movement (see the class description).
@export var mode: Mode = Mode.DIFFERENTIAL
## Firing rate, in Hz, that means full speed.
@export_range(0.1, 1000.0, 0.1, "suffix:Hz") var max_rate_hz: float = 50.0
## Speed at full rate, in pixels/s (2D) or m/s (3D).
@export var max_speed: float = 150.0
## Turning speed at full rate difference, in radians/s (DIFFERENTIAL only).
@export var max_turn: float = 4.0
## The body to move; empty means the BrainAgent's parent.
@export var body: NodePath

## Last decoded command: x = forward (or X) in [-1, 1], y = turn right (or Y/Z) in [-1, 1].
var command: Vector2 = Vector2.ZERO

var _target_cache: Node = null


func _init() -> void:
	organ = &"motor"


## Channels the organ must have for the chosen [member mode].
func channel_count() -> int:
	return 2 if mode == Mode.DIFFERENTIAL else 4


## Called by SpikeforgeWorld after each exchange with this organ's outputs.
func apply_outputs(outputs: PackedFloat32Array, delta: float) -> void:
	if outputs.size() < channel_count():
		push_error(
			"MotorActuator %s: organ %s has %d channels, mode needs %d"
			% [name, organ, outputs.size(), channel_count()]
		)
		return
	var inv := 1.0 / max_rate_hz
	if mode == Mode.DIFFERENTIAL:
		var left := clampf(outputs[0] * inv, 0.0, 1.0)
		var right := clampf(outputs[1] * inv, 0.0, 1.0)
		command = Vector2((left + right) * 0.5, left - right)
	else:
		command = Vector2(
			clampf((outputs[0] - outputs[1]) * inv, -1.0, 1.0),
			clampf((outputs[2] - outputs[3]) * inv, -1.0, 1.0)
		)
	_move(_target(), delta)


func _target() -> Node:
	if is_instance_valid(_target_cache):
		return _target_cache
	_target_cache = _find_target()
	return _target_cache


func _find_target() -> Node:
	if not body.is_empty():
		return get_node_or_null(body)
	var node := get_parent()
	while node != null and not node.is_in_group(&"spikeforge_agents"):
		node = node.get_parent()
	return node.get_parent() if node != null else get_parent()


func _move(target: Node, delta: float) -> void:
	if target is Node2D:
		var n2 := target as Node2D
		var v2 := Vector2.ZERO
		if mode == Mode.DIFFERENTIAL:
			n2.rotation += command.y * max_turn * delta
			v2 = Vector2.RIGHT.rotated(n2.rotation) * command.x * max_speed
		else:
			v2 = command * max_speed
		if n2 is CharacterBody2D:
			var cb2 := n2 as CharacterBody2D
			cb2.velocity = v2
			cb2.move_and_slide()
		else:
			n2.position += v2 * delta
	elif target is Node3D:
		var n3 := target as Node3D
		var v3 := Vector3.ZERO
		if mode == Mode.DIFFERENTIAL:
			n3.rotate_y(-command.y * max_turn * delta)
			v3 = -n3.global_transform.basis.z * command.x * max_speed
		else:
			v3 = Vector3(command.x, 0.0, command.y) * max_speed
		if n3 is CharacterBody3D:
			var cb3 := n3 as CharacterBody3D
			cb3.velocity = v3
			cb3.move_and_slide()
		else:
			n3.position += v3 * delta
