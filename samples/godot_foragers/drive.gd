extends SpikeforgeActuator
## The foragers' wheels: reads the 2-channel "motor" rate organ (left, right, Hz) and
## moves the parent [CharacterBody2D] with the movement law of the Python foragers game
## ([code]spikeforge.games.foragers[/code]): turn = max_turn * tanh((left - right) / rate_ref)
## rad/s (the side of the faster wheel turns away), speed = min_speed + speed_gain *
## min((left + right) / (2 rate_ref), 1.5) px/s, so a forager always moves on.

## Rate (Hz) that sets the scale of turning and of the speed bonus.
@export var rate_ref: float = 40.0
## Turning speed at saturation (rad/s).
@export var max_turn: float = 5.0
## Speed with silent motors (px/s).
@export var min_speed: float = 80.0
## Extra speed at rate_ref on both wheels (px/s).
@export var speed_gain: float = 20.0

## Physics frames in which the body touched a wall (it slid along it).
var contact_frames: int = 0


func _init() -> void:
	organ = &"motor"


## The organ's channel count (left, right).
func channel_count() -> int:
	return 2


## Turn and move the body by the wheel rates [param outputs] (Hz) over [param delta] s.
func apply_outputs(outputs: PackedFloat32Array, delta: float) -> void:
	if outputs.size() < 2:
		push_error("drive %s: organ %s has %d channels, needs 2" % [name, organ, outputs.size()])
		return
	var body := get_parent() as CharacterBody2D
	var left := outputs[0]
	var right := outputs[1]
	body.rotation = wrapf(
		body.rotation + max_turn * tanh((left - right) / rate_ref) * delta, -PI, PI
	)
	var speed := min_speed + speed_gain * minf((left + right) / (2.0 * rate_ref), 1.5)
	body.velocity = Vector2.RIGHT.rotated(body.rotation) * speed
	if body.move_and_slide():
		contact_frames += 1
