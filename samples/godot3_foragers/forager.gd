extends KinematicBody2D
# A forager: its BrainAgent child gets a brain; food calls eat() when touched.

var eaten = 0


func eat() -> void:
	eaten += 1
	$BrainAgent.add_reward(1.0)


func _draw() -> void:
	draw_circle(Vector2.ZERO, 8.0, Color(0.9, 0.7, 0.2))
	draw_line(Vector2.ZERO, Vector2(12, 0), Color(0.2, 0.2, 0.2), 2.0)
