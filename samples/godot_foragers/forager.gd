extends CharacterBody2D
## A forager: its BrainAgent child gets a spiking brain; food calls [method eat].

## Food pellets eaten so far.
var eaten: int = 0

@onready var _agent: BrainAgent = $BrainAgent


## Called by a food pellet this forager touched: count it and reward the brain.
func eat() -> void:
	eaten += 1
	_agent.add_reward(1.0)
	queue_redraw()


func _draw() -> void:
	var shade := clampf(0.4 + 0.1 * eaten, 0.4, 1.0)
	draw_circle(Vector2.ZERO, 8.0, Color(0.9 * shade, 0.7 * shade, 0.2))
	draw_line(Vector2.ZERO, Vector2(12, 0), Color(0.2, 0.2, 0.2), 2.0)
