extends Node
# The foragers' wheels: reads the 2-channel "motor" rate organ (left, right, Hz) and
# moves the parent KinematicBody2D with the movement law of the Python foragers game
# (spikeforge.games.foragers): turn = max_turn * tanh((left - right) / rate_ref) rad/s
# (the side of the faster wheel turns away), speed = min_speed + speed_gain *
# min((left + right) / (2 rate_ref), 1.5) px/s, so a forager always moves on.

# Name of the actuator organ (kind "rate") this node reads.
export(String) var organ = "motor"
# Rate (Hz) that sets the scale of turning and of the speed bonus.
export(float) var rate_ref = 40.0
# Turning speed at saturation (rad/s).
export(float) var max_turn = 5.0
# Speed with silent motors (px/s).
export(float) var min_speed = 80.0
# Extra speed at rate_ref on both wheels (px/s).
export(float) var speed_gain = 20.0

# Frames in which the body touched a wall (it slid along it).
var contact_frames = 0


func channel_count() -> int:
	return 2


func apply_outputs(outputs: PoolRealArray, delta: float) -> void:
	if outputs.size() < 2:
		push_error("drive %s: organ %s has %d channels, needs 2" % [name, organ, outputs.size()])
		return
	var body = get_parent()
	var left = outputs[0]
	var right = outputs[1]
	body.rotation = wrapf(body.rotation + max_turn * tanh((left - right) / rate_ref) * delta, -PI, PI)
	var speed = min_speed + speed_gain * min((left + right) / (2.0 * rate_ref), 1.5)
	body.move_and_slide(Vector2.RIGHT.rotated(body.rotation) * speed)
	if body.get_slide_count() > 0:
		contact_frames += 1
