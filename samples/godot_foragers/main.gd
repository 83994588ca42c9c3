extends Node2D
## Foragers arena: walls, food and foragers; the SpikeforgeWorld child gives every
## forager a spiking brain and runs one exchange per physics frame for all of them.
## Eating food rewards the forager's brain (reward-modulated STDP in the genome; see the
## README for how far that gets today).

const ForagerScene: PackedScene = preload("res://forager.tscn")
const FoodScript: Script = preload("res://food.gd")

## Number of foragers.
@export_range(1, 1000) var agents: int = 100
## Number of food pellets in the arena.
@export_range(1, 500) var food_count: int = 40
## The arena rectangle, in pixels.
@export var arena: Rect2 = Rect2(0, 0, 1600, 1000)
## Seed of the arena's own random layout (not of the brains).
@export var arena_seed: int = 1

var _rng := RandomNumberGenerator.new()
var _foragers: Array[Node2D] = []
var _eaten_window: Array[int] = []

@onready var world: SpikeforgeWorld = $SpikeforgeWorld
@onready var hud: Label = $Hud


func _ready() -> void:
	_rng.seed = arena_seed
	_build_walls()
	for i in food_count:
		var food := Area2D.new()
		food.set_script(FoodScript)
		food.collision_layer = 2
		food.collision_mask = 4
		var shape := CollisionShape2D.new()
		var circle := CircleShape2D.new()
		circle.radius = 6.0
		shape.shape = circle
		food.add_child(shape)
		food.set(&"rng", _rng)
		food.set(&"arena", arena)
		add_child(food)
		food.call(&"relocate")
	for i in agents:
		var f: Node2D = ForagerScene.instantiate()
		f.name = "Forager%03d" % i
		f.position = Vector2(
			_rng.randf_range(arena.position.x + 40, arena.end.x - 40),
			_rng.randf_range(arena.position.y + 40, arena.end.y - 40)
		)
		f.rotation = _rng.randf_range(-PI, PI)
		add_child(f)
		_foragers.append(f)
	world.exchanged.connect(_on_exchanged)


func _on_exchanged(_result: Dictionary) -> void:
	if world.exchanges % 60 != 0:
		return
	var eaten := 0
	for f in _foragers:
		eaten += int(f.get(&"eaten"))
	_eaten_window.append(eaten)
	if _eaten_window.size() > 11:
		_eaten_window.pop_front()
	var per_minute := 0.0
	if _eaten_window.size() > 1:
		per_minute = 60.0 * (_eaten_window[-1] - _eaten_window[0]) / (_eaten_window.size() - 1)
	var t: Dictionary = world.timings
	hud.text = (
		"foragers %d   food eaten %d   (%.0f / min)\nexchange %d µs   server sim %d µs   frame %d µs"
		% [_foragers.size(), eaten, per_minute, t.get("exchange", 0), t.get("sim", 0), t.get("total", 0)]
	)


func _build_walls() -> void:
	var t := 20.0
	var r := arena
	var rects: Array[Rect2] = [
		Rect2(r.position.x - t, r.position.y - t, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.end.y, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.position.y, t, r.size.y),
		Rect2(r.end.x, r.position.y, t, r.size.y),
		Rect2(r.position.x + r.size.x * 0.45, r.position.y + r.size.y * 0.3, 40, r.size.y * 0.4),
	]
	for rect in rects:
		var body := StaticBody2D.new()
		body.collision_layer = 1
		body.collision_mask = 0
		var shape := CollisionShape2D.new()
		var box := RectangleShape2D.new()
		box.size = rect.size
		shape.shape = box
		body.position = rect.get_center()
		body.add_child(shape)
		var poly := Polygon2D.new()
		poly.color = Color(0.35, 0.35, 0.4)
		poly.polygon = PackedVector2Array([
			-rect.size / 2, Vector2(rect.size.x, -rect.size.y) / 2, rect.size / 2,
			Vector2(-rect.size.x, rect.size.y) / 2
		])
		body.add_child(poly)
		add_child(body)
