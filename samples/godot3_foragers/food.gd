extends Area2D
# A food pellet: a forager that touches it eats it (reward) and it reappears elsewhere
# (never inside `avoid`, the arena's inner wall).

var rng: RandomNumberGenerator
var arena = Rect2()
var avoid = Rect2()
var radius = 16.0


func _ready() -> void:
	connect("body_entered", self, "_on_body_entered")


func _on_body_entered(body: Node) -> void:
	if body.has_method("eat"):
		body.eat()
		call_deferred("relocate")  # not while the physics server flushes its queries


func relocate() -> void:
	for _try in 100:
		position = Vector2(rng.randf_range(arena.position.x + 30, arena.end.x - 30),
			rng.randf_range(arena.position.y + 30, arena.end.y - 30))
		if not avoid.grow(radius + 10.0).has_point(position):
			return


func _draw() -> void:
	draw_circle(Vector2.ZERO, radius, Color(0.3, 0.9, 0.3))
