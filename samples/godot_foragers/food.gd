extends Area2D
## A food pellet: a forager that touches it eats it (reward) and it reappears elsewhere.

## Random source shared with the arena (set before adding the pellet to the tree).
var rng: RandomNumberGenerator
## Where pellets may appear.
var arena: Rect2 = Rect2()


func _ready() -> void:
	body_entered.connect(_on_body_entered)


## Move to a random spot of the arena.
func relocate() -> void:
	position = Vector2(
		rng.randf_range(arena.position.x + 30, arena.end.x - 30),
		rng.randf_range(arena.position.y + 30, arena.end.y - 30)
	)


func _on_body_entered(body: Node2D) -> void:
	if body.has_method(&"eat"):
		body.call(&"eat")
		relocate.call_deferred()


func _draw() -> void:
	draw_circle(Vector2.ZERO, 6.0, Color(0.3, 0.9, 0.3))
