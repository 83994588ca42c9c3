extends Area2D
## A food pellet: a forager that touches it eats it (reward) and it reappears elsewhere
## (never inside [member avoid], the arena's inner wall).

## Random source shared with the arena (set before adding the pellet to the tree).
var rng: RandomNumberGenerator
## Where pellets may appear.
var arena: Rect2 = Rect2()
## Where pellets may not appear (the inner wall).
var avoid: Rect2 = Rect2()
## Radius of the pellet (px), as its collision shape.
var radius: float = 20.0


func _ready() -> void:
	body_entered.connect(_on_body_entered)


## Move to a random spot of the arena, away from [member avoid].
func relocate() -> void:
	for _try in 100:
		position = Vector2(
			rng.randf_range(arena.position.x + 30, arena.end.x - 30),
			rng.randf_range(arena.position.y + 30, arena.end.y - 30)
		)
		if not avoid.grow(radius + 10.0).has_point(position):
			return


func _on_body_entered(body: Node2D) -> void:
	if body.has_method(&"eat"):
		body.call(&"eat")
		relocate.call_deferred()


func _draw() -> void:
	draw_circle(Vector2.ZERO, radius, Color(0.3, 0.9, 0.3))
