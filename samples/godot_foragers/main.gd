extends Node2D
## Foragers arena: walls, food and foragers; the SpikeforgeWorld child gives every
## forager a spiking brain and runs one exchange per physics frame for all of them.
##
## Every physics frame, before the exchange, the arena computes each forager's senses as
## the Python foragers game does: the angle of the nearest food relative to the heading
## (ValueSensor "eye", angle / pi in [-1, 1]) and how close it is (ValueSensor "nose",
## 1 - distance / [member nose_range]); "explore" is held at 1 (exploration noise). With
## [member SpikeforgeWorld.learning] on it sends each brain a reward: 1 per food item
## eaten plus [member shaping] per radian turned toward the nearest food, minus a
## running-average baseline. The brains have no innate food reflex: they learn to steer.

const Forager = preload("res://forager.gd")
const ForagerScene: PackedScene = preload("res://forager.tscn")
const FoodScript: Script = preload("res://food.gd")

## Number of foragers.
@export_range(1, 1000) var agents: int = 100
## Number of food pellets in the arena.
@export_range(1, 500) var food_count: int = 64
## Radius of a food pellet (px).
@export var food_radius: float = 20.0
## The arena rectangle, in pixels.
@export var arena: Rect2 = Rect2(0, 0, 1600, 1000)
## Seed of the arena's own random layout (not of the brains).
@export var arena_seed: int = 1
## Reward per radian of turn toward the nearest food (shaping).
@export var shaping: float = 2.0
## Time constant (s) of the running-average reward baseline.
@export var baseline_tau: float = 5.0
## Distance (px) at which the nose reads 0.
@export var nose_range: float = 500.0

var _rng := RandomNumberGenerator.new()
var _foragers: Array[Forager] = []
var _foods: Array[Node2D] = []
var _inner_wall: Rect2 = Rect2()
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
		circle.radius = food_radius
		shape.shape = circle
		food.add_child(shape)
		food.set(&"rng", _rng)
		food.set(&"arena", arena)
		food.set(&"avoid", _inner_wall)
		food.set(&"radius", food_radius)
		add_child(food)
		food.call(&"relocate")
		_foods.append(food)
	for i in agents:
		var f := ForagerScene.instantiate() as Forager
		f.name = "Forager%03d" % i
		f.position = Vector2(
			_rng.randf_range(arena.position.x + 40, arena.end.x - 40),
			_rng.randf_range(arena.position.y + 40, arena.end.y - 40)
		)
		f.rotation = _rng.randf_range(-PI, PI)
		add_child(f)
		_foragers.append(f)
	world.exchanged.connect(_on_exchanged)
	_sense(false)


func _physics_process(_delta: float) -> void:
	# runs before the SpikeforgeWorld child's own _physics_process (the exchange)
	_sense(true)


## Eye and nose of every forager and, with [param reward], the reward for the last frame.
func _sense(reward: bool) -> void:
	var dt := world.fixed_frame_dt if world.fixed_frame_dt > 0.0 else 1.0 / 60.0
	var k := dt / baseline_tau
	for f in _foragers:
		var best := INF
		var nearest := Vector2.ZERO
		for food in _foods:
			var d := food.position - f.position
			var dd := d.length_squared()
			if dd < best:
				best = dd
				nearest = d
		var angle := wrapf(nearest.angle() - f.rotation, -PI, PI)
		f.eye.set_value(0, angle / PI)
		f.nose.set_value(0, clampf(1.0 - sqrt(best) / nose_range, 0.0, 1.0))
		if reward:
			var gain := absf(f.last_angle) - absf(angle)
			if absf(gain) >= 1.0:  # the nearest food changed: no shaping
				gain = 0.0
			var r := f.eaten_unrewarded + shaping * gain
			f.eaten_unrewarded = 0
			var da := r - f.baseline
			f.baseline += k * (r - f.baseline)
			if world.learning:
				f.agent.add_reward(da)
		f.last_angle = angle


func _on_exchanged(_result: Dictionary) -> void:
	if world.exchanges % 60 != 0:
		return
	var eaten := 0
	for f in _foragers:
		eaten += f.eaten
	_eaten_window.append(eaten)
	if _eaten_window.size() > 11:
		_eaten_window.pop_front()
	var per_minute := 0.0
	if _eaten_window.size() > 1:
		per_minute = 60.0 * (_eaten_window[-1] - _eaten_window[0]) / (_eaten_window.size() - 1)
	var t: Dictionary = world.timings
	hud.text = (
		(
			"foragers %d   food eaten %d   (%.1f / forager / min, learning %s)\n"
			% [_foragers.size(), eaten, per_minute / maxi(1, _foragers.size()), world.learning]
		)
		+ (
			"exchange %d µs   server sim %d µs   frame %d µs"
			% [t.get("exchange", 0), t.get("sim", 0), t.get("total", 0)]
		)
	)


func _build_walls() -> void:
	var t := 20.0
	var r := arena
	_inner_wall = Rect2(
		r.position.x + r.size.x * 0.45, r.position.y + r.size.y * 0.3, 40, r.size.y * 0.4
	)
	var rects: Array[Rect2] = [
		Rect2(r.position.x - t, r.position.y - t, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.end.y, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.position.y, t, r.size.y),
		Rect2(r.end.x, r.position.y, t, r.size.y),
		_inner_wall,
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
		poly.polygon = PackedVector2Array(
			[
				-rect.size / 2,
				Vector2(rect.size.x, -rect.size.y) / 2,
				rect.size / 2,
				Vector2(-rect.size.x, rect.size.y) / 2
			]
		)
		body.add_child(poly)
		add_child(body)
