extends Area2D
# A food pellet: a forager that touches it eats it (reward) and it reappears elsewhere.

var rng: RandomNumberGenerator
var arena = Rect2()


func _ready() -> void:
	connect("body_entered", self, "_on_body_entered")


func _on_body_entered(body: Node) -> void:
	if body.has_method("eat"):
		body.eat()
		call_deferred("relocate")  # not while the physics server flushes its queries


func relocate() -> void:
	position = Vector2(rng.randf_range(arena.position.x + 30, arena.end.x - 30),
		rng.randf_range(arena.position.y + 30, arena.end.y - 30))


func _draw() -> void:
	draw_circle(Vector2.ZERO, 6.0, Color(0.3, 0.9, 0.3))
