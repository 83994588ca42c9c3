extends CharacterBody2D
## A forager: its BrainAgent child gets a spiking brain; food calls [method eat].

## Food pellets eaten so far.
var eaten: int = 0
## How bright the body flashes: set by motor spikes, fades every frame.
var flash: float = 0.0

@onready var _agent: BrainAgent = $BrainAgent


## Called by a food pellet this forager touched: count it and reward the brain.
func eat() -> void:
	eaten += 1
	_agent.add_reward(1.0)
	queue_redraw()


func _physics_process(delta: float) -> void:
	if flash > 0.0:
		flash = maxf(0.0, flash - 4.0 * delta)
		queue_redraw()


func _on_motor_spiked(_steps: PackedInt64Array, neurons: PackedInt32Array) -> void:
	flash = clampf(flash + 0.02 * neurons.size(), 0.0, 1.0)


func _draw() -> void:
	var shade := clampf(0.4 + 0.1 * eaten, 0.4, 1.0)
	var body := Color(0.9 * shade, 0.7 * shade, 0.2).lerp(Color.WHITE, flash * 0.6)
	draw_circle(Vector2.ZERO, 8.0, body)
	draw_line(Vector2.ZERO, Vector2(12, 0), Color(0.2, 0.2, 0.2), 2.0)
