@tool
@icon("res://addons/spikeforge/icons/sensor_2d.svg")
class_name RaycastSensor2D
extends SpikeforgeSensor2D
## A fan of rays that turns what the agent "sees" into sensor values.
##
## One channel per ray: [code]1 - distance / ray_length[/code] when the ray hits
## something on [member collision_mask], 0 when it hits nothing (so near things
## read high, like Godot RL Agents' raycast sensor). Values lie in [0, 1]; give the
## circuit's sensor organ the range low = 0, high = 1 and [code]channels = n_rays[/code].
## Put one sensor per collision layer you want the brain to tell apart
## (for example one for food, one for walls).
## In the editor the rays are drawn so the fan can be tuned by eye.

## Number of rays (= channels of the organ).
@export_range(1, 256) var n_rays: int = 8:
	set(value):
		n_rays = maxi(1, value)
		queue_redraw()
## Length of each ray, in pixels.
@export_range(1.0, 10000.0, 1.0, "suffix:px") var ray_length: float = 200.0:
	set(value):
		ray_length = maxf(1.0, value)
		queue_redraw()
## Total opening angle of the fan, in degrees, centred on the node's +X axis; rays go
## from the left side (negative angles) to the right side.
@export_range(0.0, 360.0, 1.0, "suffix:°") var cone_degrees: float = 120.0:
	set(value):
		cone_degrees = clampf(value, 0.0, 360.0)
		queue_redraw()
## Physics layers the rays collide with.
@export_flags_2d_physics var collision_mask: int = 1
## Whether rays hit Area2D nodes (food pickups are often areas).
@export var collide_with_areas: bool = true
## Whether rays hit physics bodies.
@export var collide_with_bodies: bool = true
## Draw the rays (and their hits while the game runs) for debugging.
@export var debug_draw: bool = true:
	set(value):
		debug_draw = value
		queue_redraw()

var _last: PackedFloat32Array = PackedFloat32Array()


func _init() -> void:
	organ = &"eyes"


## The organ's channel count.
func channel_count() -> int:
	return n_rays


## Ray end point in local coordinates for ray [param i].
func ray_target(i: int) -> Vector2:
	var angle := deg_to_rad(_ray_angle_degrees(i))
	return Vector2(cos(angle), sin(angle)) * ray_length


## Cast every ray now and return one value per ray in [0, 1].
func get_values() -> PackedFloat32Array:
	var out := PackedFloat32Array()
	out.resize(n_rays)
	var space := get_world_2d().direct_space_state
	var query := PhysicsRayQueryParameters2D.new()
	query.collision_mask = collision_mask
	query.collide_with_areas = collide_with_areas
	query.collide_with_bodies = collide_with_bodies
	query.exclude = _excluded_rids()
	var origin := global_position
	for i in n_rays:
		query.from = origin
		query.to = to_global(ray_target(i))
		var hit := space.intersect_ray(query)
		if hit.is_empty():
			out[i] = 0.0
		else:
			var d: float = origin.distance_to(hit["position"])
			out[i] = clampf(1.0 - d / ray_length, 0.0, 1.0)
	_last = out
	if debug_draw:
		queue_redraw()
	return out


func _ray_angle_degrees(i: int) -> float:
	if n_rays == 1:
		return 0.0
	if is_equal_approx(cone_degrees, 360.0):
		return -180.0 + 360.0 * float(i) / float(n_rays)
	return -cone_degrees / 2.0 + cone_degrees * float(i) / float(n_rays - 1)


func _excluded_rids() -> Array[RID]:
	# Never see the body that carries the brain.
	var rids: Array[RID] = []
	var node := get_parent()
	while node != null:
		if node is CollisionObject2D:
			rids.append((node as CollisionObject2D).get_rid())
			break
		node = node.get_parent()
	return rids


func _draw() -> void:
	if not debug_draw:
		return
	for i in n_rays:
		var hit: float = _last[i] if i < _last.size() else 0.0
		var color: Color = Color(1.0, 0.3, 0.2, 0.8) if hit > 0.0 else Color(0.3, 0.8, 1.0, 0.5)
		var scale_to_hit: float = 1.0 - hit if hit > 0.0 else 1.0
		var end: Vector2 = ray_target(i) * scale_to_hit
		draw_line(Vector2.ZERO, end, color, 1.0)
